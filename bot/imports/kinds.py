"""One spreadsheet row -> one product event (``handlers/events.py``), per kind of file.

``parse`` reads a row's cells into values (or problems, per column); ``event`` builds the CRM
event once the batch's campaign and lead references are resolved. The event id is derived from
the kind and the row's id, so importing a file again is recognised (``ProcessedInbound``):

- leads, campaigns, schedule: ``<kind>:<id>:<hash of the row's data>``: an unchanged row is
  ignored, an edited row updates its record;
- deals, touches: ``<kind>:<id>``: a won deal and a touch are recorded once (as the webhook does).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.imports.values import BadValue, Dates, People, When, amount, boolean, email, text, whole_number
from handlers.events import SCHEDULE_KINDS, LeadData
from handlers.money import is_currency

ID_MAX = 150  # longer ids are hashed: event ids (and touch ids) must fit 200 characters

# HubSpot's lifecycle stages, as its exports label them, by the names teams use for them.
LIFECYCLE = {
    "marketing qualified lead": "MQL",
    "marketingqualifiedlead": "MQL",
    "sales qualified lead": "SQL",
    "salesqualifiedlead": "SQL",
}
SCHEDULE_ALIASES = {
    "launch": "campaign_launch",
    "campaign": "campaign_launch",
    "campaign launch": "campaign_launch",
    "product launch": "campaign_launch",
    "discount": "promotion",
    "promo": "promotion",
    "sale": "promotion",
    "conference": "event",
    "trade show": "event",
    "tradeshow": "event",
    "meetup": "event",
    "territory": "territory_focus",
    "territory focus": "territory_focus",
    "account": "account_focus",
    "account focus": "account_focus",
    "abm": "account_focus",
    "blitz": "call_blitz",
    "call blitz": "call_blitz",
}
_WON = re.compile(r"\bwon\b|closedwon", re.I)


@dataclass
class Context:
    dates: Dates
    people: People
    now: datetime
    default_currency: str  # the config's wins.currency
    currency: str | None = None  # --currency
    team: str | None = None  # --team (schedule)
    team_dates: dict[str, Dates] = field(default_factory=dict)  # schedule: each team's timezone


@dataclass(slots=True)
class Row:
    number: int
    id: str = ""
    id_header: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, Any, str]] = field(default_factory=list)  # (field, value, problem)
    skip: str | None = None
    derived_id: bool = False

    def read(self, name: str, fn, raw: Any, *args, **kwargs) -> Any:
        """``fn(raw, ...)``, or None with the problem noted against ``name``."""
        try:
            return fn(raw, *args, **kwargs)
        except BadValue as e:
            self.problems.append((name, raw, str(e)))
            return None


def row_id(raw: str) -> str:
    return raw if len(raw) <= ID_MAX else "sha1-" + hashlib.sha1(raw.encode()).hexdigest()


def derived(*parts: Any) -> str:
    return "row-" + hashlib.sha1("\x1f".join(text(p) for p in parts).encode()).hexdigest()[:20]


def _hash(type_: str, data: dict) -> str:
    """A digest of the event's content (stable across runs: no ``hash()``)."""
    blob = "\x1e".join(f"{k}\x1f{v!r}" for k, v in sorted(data.items()))
    return hashlib.sha1(f"{type_}\x1e{blob}".encode()).hexdigest()[:16]


def _put(data: dict, **values: Any) -> dict:
    data.update({k: v for k, v in values.items() if v is not None and v != ""})
    return data


class Kind:
    name = ""
    # data field of the event -> field of the file (for pointing validation problems at a column)
    data_fields: dict[str, str] = {}

    def parse(self, row: Row, cells: dict[str, Any], ctx: Context) -> None:
        raise NotImplementedError

    def campaign_ref(self, row: Row) -> str | None:
        return row.values.get("campaign")

    def lead_ref(self, row: Row) -> str | None:
        return None

    def event(self, row: Row, campaigns: dict[str, str], leads: dict[str, str], ctx: Context) -> dict:
        raise NotImplementedError

    def field_of(self, loc: str) -> str:
        """The file's field behind a validation problem's location (``data.email`` -> ``email``)."""
        name = loc.split(".", 1)[1].split(".")[0] if loc.startswith("data.") else loc
        return self.data_fields.get(name, name)


class Leads(Kind):
    name = "leads"
    data_fields = {"source_campaign_id": "source_campaign_id"}

    def parse(self, row, cells, ctx):
        v = row.values
        v["email"] = row.read("email", email, cells.get("email"))
        rid = text(cells.get("id"))
        if not rid and v["email"]:
            rid, row.derived_id = v["email"], True
        if not rid:
            row.problems.append(("id", "", "no id and no email: a lead needs one of them"))
        row.id = row_id(rid)
        name = text(cells.get("name")) or " ".join(
            p for p in (text(cells.get("first_name")), text(cells.get("last_name"))) if p
        )
        v["name"] = name or None
        v["company"] = text(cells.get("company")) or None
        v["title"] = text(cells.get("title")) or None
        status = text(cells.get("status"))
        v["status"] = LIFECYCLE.get(status.lower(), status) or None
        v["score"] = row.read("score", whole_number, cells["score"]) if text(cells.get("score")) else None
        v["tier"] = text(cells.get("tier")) or None
        v["owner_email"] = row.read("owner_email", ctx.people.email_of, cells.get("owner_email"))
        v["campaign"] = text(cells.get("source_campaign_id")) or None
        v["qualified"] = row.read("qualified", boolean, cells["qualified"]) if text(cells.get("qualified")) else False

    def event(self, row, campaigns, leads, ctx):
        v = row.values
        data = _put(
            {"id": row.id},
            email=v["email"],
            name=v["name"],
            company=v["company"],
            title=v["title"],
            status=v["status"],
            score=v["score"],
            tier=v["tier"],
            owner_email=v["owner_email"],
            source_campaign_id=campaigns.get(v["campaign"]) if v["campaign"] else None,
        )
        for k, value in row.extras.items():  # unknown columns: kept as the lead's attributes
            data[k if k not in LeadData.model_fields else f"{k} (column)"] = value
        type_ = "lead.qualified" if v["qualified"] else "lead.upserted"
        return {"id": f"leads:{row.id}:{_hash(type_, data)}", "type": type_, "occurred_at": ctx.now, "data": data}


class Deals(Kind):
    name = "deals"

    def parse(self, row, cells, ctx):
        v = row.values
        if "won" in cells and text(cells["won"]):
            won = row.read("won", boolean, cells["won"])
            if won is False:
                row.skip = "not won"
        if "stage" in cells and row.skip is None:
            stage = text(cells["stage"])
            if not _WON.search(stage):
                row.skip = f"not won (stage {stage!r})" if stage else "not won (no stage)"
        code = text(cells.get("currency")).upper() or ctx.currency
        if code and not is_currency(code):
            row.problems.append(
                (
                    "currency",
                    cells.get("currency") or code,
                    f"unknown currency code {code!r} (use ISO 4217, e.g. USD, EUR)",
                )
            )
            code = None
        v["amount"], v["currency"] = None, code
        if text(cells.get("amount")):
            got = row.read("amount", amount, cells["amount"], currency=code, default=ctx.default_currency)
            if got:
                v["amount"], v["currency"] = got
        else:
            row.problems.append(("amount", "", "no amount"))
        when: When | None = row.read("closed_at", ctx.dates.read, cells.get("closed_at"))
        v["closed_at"] = min(ctx.dates.end_of_day(when), max(when.at, ctx.now)) if when else None
        v["name"] = text(cells.get("name")) or None
        rid = text(cells.get("id"))
        if not rid:
            if not v["name"]:
                row.problems.append(("name", "", "no deal name (and no id)"))
            rid, row.derived_id = derived(v["name"], cells.get("closed_at"), cells.get("amount")), True
        row.id = row_id(rid)
        v["name"] = v["name"] or rid
        v["owner_email"] = row.read("owner_email", ctx.people.email_of, cells.get("owner_email"))
        v["lead_id"] = text(cells.get("lead_id")) or None
        v["contact_email"] = row.read("contact_email", email, cells.get("contact_email"))
        v["campaign"] = text(cells.get("campaign_id")) or None

    def event(self, row, campaigns, leads, ctx):
        v = row.values
        data = _put(
            {"id": row.id, "name": v["name"], "amount": str(v["amount"]) if v["amount"] is not None else None},
            currency=v["currency"] or ctx.default_currency,
            owner_email=v["owner_email"],
            lead_id=v["lead_id"],
            contact_email=v["contact_email"],
            closed_at=v["closed_at"],
            campaign_id=campaigns.get(v["campaign"]) if v["campaign"] else None,
        )
        return {"id": f"deals:{row.id}", "type": "deal.closed_won", "occurred_at": ctx.now, "data": data}


class Campaigns(Kind):
    name = "campaigns"

    def parse(self, row, cells, ctx):
        v = row.values
        rid, name = text(cells.get("id")), text(cells.get("name"))
        if not rid and not name:
            row.problems.append(("id", "", "no campaign id and no name"))
        row.derived_id = not rid
        row.id = row_id(rid or name)
        v["name"] = name or rid
        v["kind"] = " ".join(text(cells.get("kind")).lower().split()) or None
        v["owner_email"] = row.read("owner_email", ctx.people.email_of, cells.get("owner_email"))

    def campaign_ref(self, row):
        return None

    def event(self, row, campaigns, leads, ctx):
        v = row.values
        data = _put({"id": row.id, "name": v["name"]}, kind=v["kind"], owner_email=v["owner_email"])
        return {
            "id": f"campaigns:{row.id}:{_hash('campaign.upserted', data)}",
            "type": "campaign.upserted",
            "occurred_at": ctx.now,
            "data": data,
        }


class Touches(Kind):
    """Campaign touches (a row naming a campaign: a campaign member, a response) and sales
    follow-ups (a row with no campaign: a call, an email, a meeting a rep logged)."""

    name = "touches"
    data_fields = {"contact_email": "email", "data": "lead_id", "campaign_id": "campaign_id"}

    def parse(self, row, cells, ctx):
        v = row.values
        v["campaign"] = text(cells.get("campaign_id")) or None
        v["lead_id"] = text(cells.get("lead_id")) or None
        v["email"] = row.read("email", email, cells.get("email"))
        when: When | None = row.read("touched_at", ctx.dates.read, cells.get("touched_at"))
        v["touched_at"] = when.at if when else None
        v["kind"] = text(cells.get("kind")) or None
        v["by_email"] = row.read("by_email", ctx.people.email_of, cells.get("by_email"))
        v["note"] = text(cells.get("note")) or None
        if not v["lead_id"] and not v["email"] and not any(p[0] == "email" for p in row.problems):
            row.problems.append(
                (
                    "lead_id" if "lead_id" in cells else "email",
                    "",
                    "no lead id and no email: a touch needs the person it touched",
                )
            )
        rid = text(cells.get("id"))
        if not rid:
            rid, row.derived_id = (
                derived(
                    v["campaign"],
                    v["lead_id"],
                    v["email"],
                    cells.get("touched_at"),
                    v["kind"],
                    v["by_email"],
                    v["note"],
                ),
                True,
            )
        row.id = row_id(rid)

    def lead_ref(self, row):
        if row.values["campaign"]:
            return None  # a campaign touch keeps its lead id or email as given
        return row.values["lead_id"] or row.values["email"]

    def event(self, row, campaigns, leads, ctx):
        v = row.values
        if v["campaign"]:
            data = _put(
                {"campaign_id": campaigns.get(v["campaign"], v["campaign"])},
                lead_id=v["lead_id"],
                contact_email=v["email"],
                kind=v["kind"],
                touched_at=v["touched_at"],
            )
            return {"id": f"touches:{row.id}", "type": "campaign.touch", "occurred_at": ctx.now, "data": data}
        data = _put({"lead_id": leads[self.lead_ref(row)]}, by_email=v["by_email"], note=v["note"], kind=v["kind"])
        return {
            "id": f"touches:{row.id}",
            "type": "lead.touched",
            "occurred_at": v["touched_at"] or ctx.now,
            "data": data,
        }


class Schedule(Kind):
    name = "schedule"
    data_fields = {"start": "start", "end": "end"}

    def parse(self, row, cells, ctx):
        v = row.values
        v["title"] = " ".join(text(cells.get("title")).split()) or None
        if not v["title"]:
            row.problems.append(("title", "", "no title"))
        team = text(cells.get("team")).lower() or ctx.team
        if not team:
            row.problems.append(("team", "", "no team: write sales or marketing (or pass --team)"))
        elif team not in ("sales", "marketing"):
            row.problems.append(("team", cells.get("team"), "the team must be sales or marketing"))
        v["team"] = team
        raw_kind = "_".join(text(cells.get("kind")).lower().replace("-", " ").split())
        spaced = raw_kind.replace("_", " ")
        kind = (
            raw_kind if raw_kind in SCHEDULE_KINDS else SCHEDULE_ALIASES.get(spaced) or SCHEDULE_ALIASES.get(raw_kind)
        )
        if raw_kind and not kind:
            row.problems.append(("kind", cells.get("kind"), "unknown kind; use one of: " + ", ".join(SCHEDULE_KINDS)))
        v["kind"] = kind or "other"
        dates = ctx.team_dates.get(team or "", ctx.dates)
        start: When | None = row.read("start", dates.read, cells.get("start"))
        end: When | None = row.read("end", dates.read, cells.get("end"))
        if start is None and not any(p[0] == "start" for p in row.problems):
            row.problems.append(("start", "", "no start date"))
        v["start"] = start.at if start else None
        if end is not None:
            v["end"] = dates.next_midnight(end) if end.date_only else end.at  # a date: that whole day
        elif start is not None:
            v["end"] = dates.next_midnight(start) if start.date_only else start.at
        else:
            v["end"] = None
        v["regions"] = [r.strip() for r in re.split(r"[,;|/]", text(cells.get("regions"))) if r.strip()]
        v["owner_email"] = row.read("owner_email", ctx.people.email_of, cells.get("owner_email"))
        v["link"] = text(cells.get("link")) or None
        rid = text(cells.get("id"))
        if not rid:
            rid, row.derived_id = derived(team, v["title"], cells.get("start")), True
        row.id = row_id(rid)

    def campaign_ref(self, row):
        return None

    def event(self, row, campaigns, leads, ctx):
        v = row.values
        data = _put(
            {
                "id": row.id,
                "team": v["team"],
                "kind": v["kind"],
                "title": v["title"],
                "start": v["start"],
                "end": v["end"],
                "regions": v["regions"],
            },
            owner_email=v["owner_email"],
            link=v["link"],
        )
        return {
            "id": f"schedule:{row.id}:{_hash('schedule.upserted', data)}",
            "type": "schedule.upserted",
            "occurred_at": ctx.now,
            "data": data,
        }


KINDS: dict[str, Kind] = {k.name: k for k in (Leads(), Deals(), Campaigns(), Touches(), Schedule())}


def team_dates(config, order: str | None, explicit: ZoneInfo | None) -> dict[str, Dates]:
    """Schedule rows read naive times in their team's timezone, unless --timezone says otherwise."""
    return {team: Dates(explicit or ZoneInfo(config.team_timezone(team)), order) for team in ("sales", "marketing")}
