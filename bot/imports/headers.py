"""Which column is which: the fields of each kind of file, the export headers of HubSpot,
Salesforce and Pipedrive that name them, guessing a file's kind, and ``--map`` overrides.

Headers are compared normalised: case, punctuation and spacing ignored, and API names split
(``FirstName`` and ``first_name`` read as ``first name``), so ``Person - Email``, ``E-mail``
and ``Email`` are all recognised. Within a field the first alias found wins; a second column
for a field already taken is treated like an unknown column (see ``EXTRAS_KEPT``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("leads", "deals", "campaigns", "touches", "schedule")

# field -> normalised header aliases, in priority order. Fields are claimed in this order too.
FIELDS: dict[str, dict[str, list[str]]] = {
    "leads": {
        "id": ["record id", "record id contact", "lead id", "contact id", "person id", "id", "crm id", "external id"],
        "email": [
            "email",
            "email address",
            "e mail",
            "person email",
            "person email work",
            "contact email",
            "lead email",
            "work email",
        ],
        "first_name": ["first name", "given name", "person first name"],
        "last_name": ["last name", "surname", "family name", "person last name"],
        "name": ["name", "full name", "contact name", "lead name", "person name"],
        "company": [
            "company name",
            "company",
            "company account",
            "account name",
            "account",
            "organization",
            "organisation",
            "organization name",
            "person organization",
            "lead organization",
            "associated company",
        ],
        "title": ["job title", "title", "position", "person job title"],
        "status": ["lifecycle stage", "lead status", "status", "person label", "lead label"],
        "score": ["hubspot score", "lead score", "score"],
        "tier": ["rating", "lead rating", "tier"],
        "owner_email": [
            "owner email",
            "contact owner",
            "lead owner",
            "owner",
            "hubspot owner",
            "person owner",
            "lead owner email",
            "record owner",
            "sales rep",
            "assigned to",
        ],
        "source_campaign_id": [
            "source campaign id",
            "source campaign",
            "campaign id",
            "campaign",
            "campaign name",
            "primary campaign source",
            "original source",
            "lead source",
            "source",
            "person source",
        ],
        "qualified": ["qualified", "is qualified"],
    },
    "deals": {
        "id": ["record id", "opportunity id", "deal id", "id", "crm id", "external id"],
        "name": ["opportunity name", "deal name", "deal title", "name", "opportunity", "title"],
        "amount": ["amount", "deal value", "deal amount", "opportunity amount", "value", "amount converted"],
        "currency": [
            "currency",
            "opportunity currency",
            "deal currency",
            "deal currency code",
            "currency code",
            "amount currency",
            "currency iso code",
        ],
        "closed_at": [
            "close date",
            "closed date",
            "deal won time",
            "won time",
            "won date",
            "closed at",
            "date closed",
            "deal close date",
            "close time",
        ],
        "stage": ["stage", "deal stage", "stage name", "opportunity stage", "deal status", "status"],
        "won": ["won", "is won"],
        "owner_email": ["opportunity owner", "deal owner", "deal owner email", "owner email", "owner", "sales rep"],
        "lead_id": ["lead id", "converted lead id"],
        "contact_email": ["contact email", "email", "person email", "primary contact email", "contact e mail"],
        "campaign_id": ["primary campaign source", "campaign id", "campaign", "campaign name"],
    },
    "campaigns": {
        "id": ["campaign id", "record id", "id", "crm id", "external id"],
        "name": ["campaign name", "name", "campaign", "title"],
        "kind": ["campaign type", "type", "kind", "channel"],
        "owner_email": ["campaign owner", "owner email", "owner"],
    },
    "touches": {
        "id": [
            "campaign member id",
            "member id",
            "touch id",
            "activity id",
            "task id",
            "engagement id",
            "record id",
            "id",
        ],
        "campaign_id": ["campaign id", "campaign", "campaign name"],
        "lead_id": ["lead id", "contact id", "person id", "lead"],
        "email": ["email", "contact email", "person email", "lead email", "email address", "e mail"],
        "touched_at": [
            "touched at",
            "first responded date",
            "responded date",
            "activity date",
            "date",
            "activity due date",
            "due date",
            "completed date",
            "activity done time",
            "created date",
            "member first associated date",
            "timestamp",
        ],
        "kind": ["member status", "activity type", "touch type", "type", "kind", "status"],
        "by_email": [
            "assigned to",
            "assigned",
            "activity assigned to user",
            "activity owner",
            "by",
            "rep",
            "sales rep",
            "owner",
            "user",
        ],
        "note": ["note", "notes", "comments", "description", "activity note", "subject", "activity subject"],
    },
    "schedule": {
        "id": ["id", "event id", "item id", "uid", "record id"],
        "title": ["title", "subject", "event name", "event", "name", "summary"],
        "team": ["team"],
        "kind": ["kind", "type", "event type", "category"],
        "start": ["start", "start date", "start time", "starts", "starts at", "start date time", "from", "date"],
        "end": ["end", "end date", "end time", "ends", "ends at", "end date time", "to", "until"],
        "regions": ["regions", "region", "territory", "territories", "market"],
        "owner_email": ["owner email", "owner", "organizer", "assigned to"],
        "link": ["link", "url", "web link", "event url"],
    },
}

# Unknown columns: kept as attributes of the lead; other kinds have nowhere to keep them.
EXTRAS_KEPT = {"leads"}

# A kind the file name states, when the kind's required columns are there: "contacts-2026.csv".
_NAME_HINTS = [
    ("touches", ("member", "touch", "activit", "task", "engagement", "follow")),
    ("deals", ("deal", "opportunit", "won")),
    ("campaigns", ("campaign",)),
    ("schedule", ("schedule", "calendar", "event")),
    ("leads", ("lead", "contact", "person", "people", "prospect")),
]


def normalise(header: str) -> str:
    """``Person - Email`` -> ``person email``; ``FirstName``, ``first_name`` -> ``first name``;
    ``Probability (%)`` -> ``probability``."""
    h = header.strip().lstrip("\ufeff")
    if " " not in h:
        h = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", h)  # API names: FirstName, OwnerId
    return " ".join(re.sub(r"[^0-9a-z]+", " ", h.lower()).split())


class MappingError(ValueError):
    """The columns cannot be mapped (an unknown field in --map, a required column missing)."""


@dataclass
class Mapping:
    kind: str
    headers: list[str]
    fields: dict[str, int] = field(default_factory=dict)  # field -> column index
    extras: list[int] = field(default_factory=list)  # unknown (or second) columns
    ignored: list[int] = field(default_factory=list)  # --map "Column=" (left out on purpose)
    guessed_by: str = ""  # how the kind was chosen

    def header(self, name: str) -> str:
        """The column header behind a field (``First Name + Last Name`` for a joined name)."""
        if name in self.fields:
            return self.headers[self.fields[name]]
        if name == "name" and ("first_name" in self.fields or "last_name" in self.fields):
            return " + ".join(self.headers[self.fields[f]] for f in ("first_name", "last_name") if f in self.fields)
        return ""

    def described(self) -> list[tuple[str, str]]:
        """(header, field) for every mapped column, in the file's order."""
        return sorted(((self.headers[i], f) for f, i in self.fields.items()), key=lambda hf: self.headers.index(hf[0]))


def _claims(kind: str, normalised: list[str], taken: set[int]) -> dict[str, int]:
    fields: dict[str, int] = {}
    for name, aliases in FIELDS[kind].items():
        for alias in [*aliases, name.replace("_", " ")]:
            col = next((i for i, h in enumerate(normalised) if h == alias and i not in taken), None)
            if col is not None:
                fields[name] = col
                taken.add(col)
                break
    return fields


def _find(headers: list[str], wanted: str) -> int | None:
    exact = [i for i, h in enumerate(headers) if h == wanted]
    if exact:
        return exact[0]
    norm = normalise(wanted)
    loose = [i for i, h in enumerate(headers) if normalise(h) == norm]
    return loose[0] if loose else None


def parse_overrides(pairs: list[str]) -> dict[str, str | None]:
    """``["Lead Owner=owner_email", "Phone="]`` -> ``{"Lead Owner": "owner_email", "Phone": None}``."""
    out: dict[str, str | None] = {}
    for pair in pairs:
        header, sep, name = pair.rpartition("=")
        if not sep or not header.strip():
            raise MappingError(
                f'--map {pair!r}: write it as "Column header=field" (or "Column header=" to leave the column out)'
            )
        name = name.strip()
        out[header.strip()] = name if name and name != "-" else None
    return out


def build_mapping(
    headers: list[str], kind: str, overrides: dict[str, str | None] | None = None, guessed_by: str = ""
) -> Mapping:
    """Map the columns for ``kind``: the ``--map`` overrides first, then the alias tables."""
    overrides = overrides or {}
    m = Mapping(kind=kind, headers=headers, guessed_by=guessed_by)
    taken: set[int] = set()
    for wanted, name in overrides.items():
        col = _find(headers, wanted)
        if col is None:
            raise MappingError(
                f"--map names a column {wanted!r} that the file does not have; its columns are: "
                + ", ".join(repr(h) for h in headers)
            )
        if name is None:
            m.ignored.append(col)
        elif name not in FIELDS[kind]:
            raise MappingError(
                f"--map {wanted}={name}: {kind} have no field {name!r}; their fields are: " + ", ".join(FIELDS[kind])
            )
        elif name in m.fields:
            raise MappingError(f"--map gives two columns for {name!r}")
        else:
            m.fields[name] = col
        taken.add(col)
    normalised = [normalise(h) for h in headers]
    for name, col in _claims(kind, normalised, set(taken)).items():
        if name not in m.fields:
            m.fields[name] = col
            taken.add(col)
    m.extras = [i for i, h in enumerate(headers) if i not in taken and h.strip()]
    _check_required(m)
    return m


REQUIRED = {
    "leads": [("id", "email")],
    "deals": [("amount",), ("id", "name")],
    "campaigns": [("id", "name")],
    "touches": [("lead_id", "email")],
    "schedule": [("title",), ("start",)],
}


def _check_required(m: Mapping) -> None:
    for options in REQUIRED[m.kind]:
        if not any(o in m.fields for o in options):
            names = " or ".join(options)
            aliases = sorted({a for o in options for a in FIELDS[m.kind][o]})[:8]
            raise MappingError(
                f"{m.kind} need a column for {names}, and none of this file's columns is recognised as one "
                f"(recognised headers include: {', '.join(aliases)}). Name the column with --map "
                f'"Your header={options[0]}".'
            )


def _has(normalised: set[str], kind: str, name: str) -> bool:
    return any(a in normalised for a in [*FIELDS[kind][name], name.replace("_", " ")])


_ACTIVITY = {
    "member status",
    "first responded date",
    "responded date",
    "campaign member id",
    "member id",
    "touch id",
    "touched at",
    "activity id",
    "task id",
    "activity type",
    "activity date",
    "assigned to",
    "activity subject",
    "activity due date",
    "activity assigned to user",
    "engagement id",
    "activity note",
}


def guess_kind(headers: list[str], filename: str = "") -> tuple[str, str]:
    """(kind, why). The file name decides when it names a kind whose required columns are there;
    otherwise the columns: an amount makes deals, a campaign and a person on each row (or
    activity columns) touches, a campaign alone campaigns, a start and a title schedule, a
    person leads. Raises MappingError when nothing fits."""
    stem = Path(filename).stem.lower()
    for kind, words in _NAME_HINTS:
        if any(w in stem for w in words):
            try:
                build_mapping(headers, kind)
            except MappingError:
                continue
            return kind, f"from the file name {Path(filename).name!r}"
    n = {normalise(h) for h in headers}
    person = _has(n, "touches", "lead_id") or _has(n, "touches", "email") or _has(n, "leads", "email")
    campaign = _has(n, "touches", "campaign_id")
    if _has(n, "deals", "amount"):
        return "deals", "from the columns: an amount on each row"
    if person and (campaign or n & _ACTIVITY):
        return "touches", "from the columns: a campaign (or an activity) and a person on each row"
    if campaign and not person:
        return "campaigns", "from the columns: a campaign on each row"
    if _has(n, "schedule", "start") and (_has(n, "schedule", "title") or "team" in n) and not person:
        return "schedule", "from the columns: a start and a title on each row"
    if person:
        return "leads", "from the columns: a person on each row"
    raise MappingError(
        "cannot tell what this file holds from its columns ("
        + ", ".join(repr(h) for h in headers[:12])
        + (", …" if len(headers) > 12 else "")
        + "): pass --kind leads, deals, campaigns, touches or schedule"
    )
