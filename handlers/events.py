"""The CRM webhook's events: their shapes and validation.

An event is ``{"id", "type", "occurred_at", "data"}``. ``validate_events`` checks a whole request
and returns every problem at once (event index, id, field, what is wrong), so the CRM's admin can
fix a batch in one go; the webhook stores nothing of a request with any problem.

Refused alike on SQLite and PostgreSQL: a NUL character or a lone surrogate in any string
(PostgreSQL can store neither, and they are no one's data), and dates outside ``EARLIEST`` ..
``LATEST`` (a year 1 or 9999 breaks the arithmetic of SLAs and months). Every string is passed
through ``messages.inert``, so text from the CRM can never form a mention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from handlers.messages import inert
from handlers.money import is_currency

SCHEDULE_KINDS = (
    "campaign_launch",
    "webinar",
    "event",
    "promotion",
    "territory_focus",
    "account_focus",
    "call_blitz",
    "other",
)

Id = Field(min_length=1, max_length=200)
Email = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Data(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)  # exclusive
_RANGE = f"must be between {EARLIEST:%Y-%m-%d} and {LATEST.year - 1}-12-31 (UTC)"


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    if v.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-11-23T10:00:00Z")
    # The year first: converting year 1 or 9999 with an offset would itself overflow.
    if not EARLIEST.year - 1 <= v.year <= LATEST.year:
        raise ValueError(_RANGE)
    v = v.astimezone(timezone.utc)
    if not EARLIEST <= v < LATEST:
        raise ValueError(_RANGE)
    return v


class LeadData(Data):
    id: str = Id
    email: str | None = Email
    name: str | None = Field(default=None, max_length=300)
    company: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=300)
    status: str | None = Field(default=None, max_length=100)
    score: int | None = Field(default=None, ge=0, le=1000)
    tier: str | None = Field(default=None, max_length=40)
    owner_email: str | None = Email
    source_campaign_id: str | None = Field(default=None, max_length=200)

    @field_validator("email", "owner_email")
    @classmethod
    def _lower(cls, v):
        return v.lower() if v else v


class LeadTouchedData(Data):
    lead_id: str = Id
    by_email: str | None = Email
    note: str | None = Field(default=None, max_length=3000)
    kind: str | None = Field(default=None, max_length=60)  # call, email, meeting, ...


class CampaignData(Data):
    id: str = Id
    name: str = Field(min_length=1, max_length=500)
    kind: str | None = Field(default=None, max_length=60)
    owner_email: str | None = Email


class CampaignTouchData(Data):
    campaign_id: str = Id
    lead_id: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Email
    kind: str | None = Field(default=None, max_length=60)
    touched_at: datetime | None = None

    _aw = field_validator("touched_at")(lambda v: _aware(v))

    @model_validator(mode="after")
    def _who(self):
        if not self.lead_id and not self.contact_email:
            raise ValueError("needs lead_id or contact_email")
        return self


class DealData(Data):
    id: str = Id
    name: str = Field(min_length=1, max_length=10_000)
    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3}$")
    owner_email: str | None = Email
    lead_id: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Email
    closed_at: datetime | None = None
    # The CRM's own credit (Salesforce's Primary Campaign Source): used when no campaign touch of
    # the deal's lead or contact came before the close.
    campaign_id: str | None = Field(default=None, max_length=200)

    _aw = field_validator("closed_at")(lambda v: _aware(v))

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, v: str) -> str:
        v = v.upper()
        if not is_currency(v):
            raise ValueError(f"unknown currency code {v!r} (use ISO 4217, e.g. USD, EUR)")
        return v


class ScheduleData(Data):
    id: str = Id
    team: Literal["sales", "marketing"]
    kind: Literal[SCHEDULE_KINDS]  # type: ignore[valid-type]
    title: str = Field(min_length=1, max_length=500)
    regions: list[str] = Field(default_factory=list, max_length=50)
    start: datetime
    end: datetime
    owner_email: str | None = Email
    link: str | None = Field(default=None, max_length=3000, pattern=r"^https?://")

    _aw = field_validator("start", "end")(lambda v: _aware(v))

    @model_validator(mode="after")
    def _order(self):
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class OwnerData(Data):
    """``owner.upserted``: a CRM owner (a rep, a manager, a marketer). An owner with no email is
    not an error of the request: it is listed by ``/smarketing people`` and the rest goes on."""

    id: str | None = Field(default=None, max_length=200)  # the CRM's own id for the owner
    email: str | None = Email
    name: str | None = Field(default=None, max_length=200)
    team: Literal["sales", "marketing"] | None = None
    manager_email: str | None = Email
    active: bool = True

    @field_validator("email", "manager_email")
    @classmethod
    def _lower(cls, v):
        return v.lower() if v else v


SCHEMAS: dict[str, type[Data]] = {
    "owner.upserted": OwnerData,
    "lead.upserted": LeadData,
    "lead.qualified": LeadData,
    "lead.touched": LeadTouchedData,
    "campaign.upserted": CampaignData,
    "campaign.touch": CampaignTouchData,
    "deal.closed_won": DealData,
    "schedule.upserted": ScheduleData,
}


@dataclass
class Event:
    id: str
    type: str
    occurred_at: datetime
    data: Any  # the type's Data model


@dataclass
class Problem:
    index: int
    id: str | None
    field: str
    problem: str

    def as_dict(self) -> dict:
        return {"index": self.index, "id": self.id, "field": self.field, "problem": self.problem}


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200)
    type: str
    occurred_at: datetime
    data: dict

    _aw = field_validator("occurred_at")(lambda v: _aware(v))


def _msg(e: Mapping[str, Any]) -> str:
    msg = e["msg"]
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


# One model per event type, envelope and data together: one validation per event instead of two.
TYPED_ENVELOPES: dict[str, type[Envelope]] = {
    type_: create_model(f"{schema.__name__}Event", __base__=Envelope, data=(schema, ...))
    for type_, schema in SCHEMAS.items()
}


_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
_INERT_RE = re.compile("[\x00\ud800-\udfff\ue000\ue001]")


def _unstorable(text: str) -> str | None:
    m = _UNSTORABLE_RE.search(text)
    if m is None:
        return None
    if m.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored: remove it"
    return f"contains a lone surrogate (\\u{ord(m.group()):04x}), which is not valid Unicode: send the text as UTF-8"


def _inbound(value: Any, where: str, found: list[tuple[str, str]]) -> Any:
    """``value`` with its strings made inert; (field, problem) of each string that cannot be stored."""
    if isinstance(value, str):
        if not _INERT_RE.search(value):
            return value
        problem = _unstorable(value)
        if problem:
            found.append((where or "(event)", problem))
        return inert(value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            name = f"{where}.{k}" if where else str(k)
            if isinstance(k, str) and _INERT_RE.search(k):
                problem = _unstorable(k)
                if problem:
                    found.append((inert(name), "the field's name " + problem))
                k = inert(k)
            out[k] = _inbound(v, inert(name), found)
        return out
    if isinstance(value, list):
        return [_inbound(v, f"{where}.{n}", found) for n, v in enumerate(value)]
    return value


# In a JSON body: an escaped NUL, surrogate or mention marker, or one of the last two raw (json.loads
# decodes bytes with "surrogatepass"). A body without any needs no walk through its strings.
_SUSPECT_RE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2}|[eE]00[01])|\xee\x80[\x80\x81]|\xed[\xa0-\xbf]")


def needs_scan(body: bytes) -> bool:
    """Whether a JSON body may hold a string ``inert`` would change (cheap: one regex over bytes)."""
    return _SUSPECT_RE.search(body) is not None


def validate_events(raw: list[Any], *, scan: bool = True) -> tuple[list[Event], list[Problem]]:
    """Parse every event; return the events, or every problem found (envelope and data together).
    ``scan=False`` skips the walk through every string, for a body ``needs_scan`` cleared."""
    events: list[Event] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(Problem(i, None, "(event)", "must be a JSON object"))
            continue
        unstorable: list[tuple[str, str]] = []
        if scan:
            item = _inbound(item, "", unstorable)
        ev_id = item.get("id") if isinstance(item.get("id"), str) else None
        if unstorable:
            problems.extend(Problem(i, ev_id, field, problem) for field, problem in unstorable)
            continue
        type_ = item.get("type")
        model = TYPED_ENVELOPES.get(type_) if isinstance(type_, str) else None
        try:
            env = (model or Envelope).model_validate(item)
        except ValidationError as err:
            for e in err.errors():
                loc = e["loc"]
                if loc and loc[0] == "data" and e["type"] == "model_type":
                    problems.append(Problem(i, ev_id, "data", "must be a JSON object"))
                    continue
                problems.append(Problem(i, ev_id, ".".join(map(str, loc)) or "(event)", _msg(e)))
            continue
        if model is None:
            problems.append(Problem(i, ev_id, "type", f"unknown event type {env.type!r}; known: {', '.join(SCHEMAS)}"))
            continue
        events.append(Event(env.id, env.type, env.occurred_at, env.data))
    return (events if not problems else []), problems


# Which types an event may be handled ahead of (when they came before it in the request) without
# changing the outcome, so that a request of interleaved types is handled in a few set-based
# runs rather than hundreds of tiny ones. Unknown references become placeholders (campaigns,
# leads) that the real upsert fills in, so creating a campaign or lead commutes with reading it.
# Not listed, hence never reordered: two lead events (the same lead's state), ``lead.touched``
# with anything that may create a lead placeholder (it ignores unknown leads), and a deal ahead
# of the touches and leads before it (its attribution reads them).
_LEAD_MAY_PASS = frozenset({"campaign.upserted", "campaign.touch", "deal.closed_won", "schedule.upserted"})
MAY_PASS: dict[str, frozenset[str]] = {
    "campaign.upserted": frozenset(SCHEMAS) - {"campaign.upserted"},
    "campaign.touch": frozenset(
        {"campaign.upserted", "lead.upserted", "lead.qualified", "deal.closed_won", "schedule.upserted"}
    ),
    "lead.upserted": _LEAD_MAY_PASS,
    "lead.qualified": _LEAD_MAY_PASS,
    "lead.touched": frozenset({"campaign.upserted", "schedule.upserted"}),
    "deal.closed_won": frozenset({"schedule.upserted"}),
    "schedule.upserted": frozenset(SCHEMAS) - {"schedule.upserted"},
}


_LEAD_TYPES = frozenset({"lead.upserted", "lead.qualified"})


def runs_for_handling(events: list[Event]) -> list[tuple[str, list[Event]]]:
    """Runs of one type each, as few as ``MAY_PASS`` allows: an event joins the latest run of its
    type when every run after that one is of a type it may be handled ahead of. Events of one
    type keep their order. One conflict the type table cannot express: a won deal converts its
    lead, so a lead event never passes a deal of the same lead."""
    runs: list[tuple[str, list[Event]]] = []
    deal_leads: dict[int, set[str]] = {}  # id(run) -> the lead ids of a deal run's deals
    for e in events:
        passable = MAY_PASS.get(e.type, frozenset())
        target = None
        for type_, run in reversed(runs):
            if type_ == e.type:
                target = run
                break
            if type_ not in passable or (e.type in _LEAD_TYPES and e.data.id in deal_leads.get(id(run), ())):
                break
        if target is None:
            target = []
            runs.append((e.type, target))
        target.append(e)
        if e.type == "deal.closed_won" and e.data.lead_id:
            deal_leads.setdefault(id(target), set()).add(e.data.lead_id)
    # Then, where a run may go ahead of the one before it, put creations before their uses
    # (campaigns, leads, touches, deals): fewer placeholders to create and fill in.
    moved = True
    while moved:
        moved = False
        for i in range(len(runs) - 1):
            (a, ra), (b, rb) = runs[i], runs[i + 1]
            if (
                _PHASE.get(b, 9) < _PHASE.get(a, 9)
                and a in MAY_PASS.get(b, frozenset())
                and not (b in _LEAD_TYPES and not deal_leads.get(id(ra), set()).isdisjoint(e.data.id for e in rb))
            ):
                runs[i], runs[i + 1] = runs[i + 1], runs[i]
                moved = True
    merged: list[tuple[str, list[Event]]] = []
    for type_, run in runs:  # runs of one type never pass each other, so joining keeps order
        if merged and merged[-1][0] == type_:
            merged[-1][1].extend(run)
        else:
            merged.append((type_, run))
    return merged


_PHASE = {
    "campaign.upserted": 0,
    "lead.upserted": 1,
    "lead.qualified": 1,
    "campaign.touch": 2,
    "lead.touched": 3,
    "deal.closed_won": 4,
    "schedule.upserted": 5,
}
