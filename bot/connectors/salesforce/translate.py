"""Salesforce records -> the product's own CRM events (``handlers/events.py``). Pure functions.

Records are flat dicts, as Bulk API 2.0's CSV gives them and as ``api.flatten`` makes of REST
records: relationship fields are ``Owner.Email``, values may be strings ("true", "48000.0").

- A ``Lead`` is a lead (``lead.upserted``). When its ``Status`` is one of
  ``salesforce.qualified.lead_statuses`` (or it was converted, ``qualified.converted``) its status
  is the shared definition's first qualified status, so cooling hands it to sales once, when it
  gets there. Its owner is the person with the owning User's email (``salesforce.owners`` for
  those whose email differs); a queue owns no one's lead (the sales channel gets a *Claim*).
- A ``Contact`` converted from a lead updates that lead (name, email, title, owner: the lead lives
  on as its contact); with ``contacts_as_leads`` any other contact is a lead of its own.
- A ``CampaignMember`` is a campaign touch (``campaign.touch``): when it was added, or when it
  first responded.
- A won ``Opportunity`` (``IsWon``) is a ``deal.closed_won``: its amount and currency, its owner,
  the lead it was converted from (so that lead's alerts stop) and its primary contact's email
  (so touches on either count), and its Primary Campaign Source (``CampaignId``), credited when no
  campaign touch came before the close.
- A completed ``Task`` on a lead (or on the contact it became) is a sales follow-up
  (``lead.touched``), except the Tasks the bot itself wrote (their subject carries ``[smk-…]``).

Event ids are stable (the record and its ``SystemModstamp``, or the record alone for what happens
once), so a page read again adds nothing.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from bot.connectors.salesforce.api import parse_time

SOURCE = "salesforce"
OURS = re.compile(r"\[smk-[0-9a-f]{10}\]")

# The fields read per object; ``None`` marks one an org may lack (an older API version, no
# multi-currency): left out of the queries when ``describe`` does not list it.
FIELDS = {
    "Lead": [
        "Id",
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Company",
        "Title",
        "Status",
        "LeadSource",
        "OwnerId",
        "Owner.Email",
        "IsConverted",
        "ConvertedContactId",
        "ConvertedOpportunityId",
        "CreatedDate",
        "SystemModstamp",
    ],
    "Contact": [
        "Id",
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Title",
        "AccountId",
        "Account.Name",
        "OwnerId",
        "Owner.Email",
        "CreatedDate",
        "SystemModstamp",
    ],
    "Opportunity": [
        "Id",
        "Name",
        "Amount",
        "CloseDate",
        "StageName",
        "IsWon",
        "OwnerId",
        "Owner.Email",
        "CampaignId",
        "ContactId",
        "Contact.Email",
        "SystemModstamp",
    ],
    "CampaignMember": [
        "Id",
        "CampaignId",
        "LeadId",
        "ContactId",
        "Email",
        "Status",
        "HasResponded",
        "FirstRespondedDate",
        "CreatedDate",
        "SystemModstamp",
    ],
    "Task": [
        "Id",
        "WhoId",
        "Subject",
        "Status",
        "IsClosed",
        "Type",
        "TaskSubtype",
        "CompletedDateTime",
        "OwnerId",
        "Owner.Email",
        "SystemModstamp",
    ],
    "Campaign": ["Id", "Name", "Type", "OwnerId", "Owner.Email", "SystemModstamp"],
}
OPTIONAL = {
    ("Opportunity", "CurrencyIsoCode"),
    ("Opportunity", "ContactId"),
    ("Opportunity", "Contact.Email"),
    ("Task", "TaskSubtype"),
    ("Task", "CompletedDateTime"),
    ("CampaignMember", "Email"),
    ("Lead", "Rating"),
}
EXTRA_OPTIONAL = {"Opportunity": ["CurrencyIsoCode"]}


def wanted_fields(sobject: str, config) -> list[tuple[str, str | None]]:
    """(field, the config key that asked for it, or None) to read from ``sobject``."""
    sf = config.salesforce
    out: list[tuple[str, str | None]] = [(f, None) for f in FIELDS[sobject] + EXTRA_OPTIONAL.get(sobject, [])]
    if sobject == "Lead":
        for key in ("score_field", "tier_field"):
            name = getattr(sf, key)
            if name and name not in {f for f, _ in out}:
                out.append((name, f"salesforce.{key}"))
    return out


def is_optional(sobject: str, field: str, asked_by: str | None) -> bool:
    """An org may lack it without anything being wrong (multi-currency off, an older API version)."""
    return (sobject, field) in OPTIONAL and (asked_by is None or field == "Rating")


# -- values --------------------------------------------------------------------------------------


def truthy(value) -> bool:
    return value is True or str(value).lower() == "true"


def parse_date(value) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()


def _stamp(t: datetime) -> str:
    return str(int(t.timestamp() * 1000))


def _cut(value, n: int):
    return value[:n] if isinstance(value, str) else value


def _event(event_id: str, type_: str, at: datetime, data: dict) -> dict:
    return {
        "id": event_id[:200],
        "type": type_,
        "occurred_at": _iso(at),
        "data": {k: v for k, v in data.items() if v is not None},
    }


def modified(r: dict) -> datetime:
    return parse_time(r.get("SystemModstamp")) or parse_time(r.get("CreatedDate")) or datetime.now(timezone.utc)


def owner_email(r: dict, config) -> str | None:
    """The person owning a record: ``salesforce.owners`` by user id or email, else the User's email.
    A queue (owner id 00G...) owns nobody's record."""
    oid = str(r.get("OwnerId") or "")
    email = (r.get("Owner.Email") or "").strip().lower() or None
    if oid.startswith("00G"):
        return None
    aliases = config.salesforce.owners
    key = aliases.get(oid) or (aliases.get(email) if email else None)
    if key:
        return next((p.email for p in config.people if p.key == key), None)
    return email


def _score(value) -> int | None:
    try:
        return max(0, min(1000, int(Decimal(str(value))))) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def _name(r: dict) -> str | None:
    return " ".join(x for x in (r.get("FirstName"), r.get("LastName")) if x) or r.get("Name") or None


# -- leads -----------------------------------------------------------------------------------------


def is_qualified(r: dict, config) -> bool:
    q = config.salesforce.qualified
    status = (r.get("Status") or "").strip().lower()
    return bool(status and status in {s.lower() for s in q.lead_statuses}) or (
        q.converted and truthy(r.get("IsConverted"))
    )


def lead_events(r: dict, config, *, source_campaign: str | None = None) -> list[dict]:
    lid, at = str(r["Id"]), modified(r)
    status = config.qualified.statuses[0] if is_qualified(r, config) else r.get("Status")
    data = {
        "id": lid,
        "email": (r.get("Email") or "").strip().lower() or None,
        "name": _cut(_name(r), 300),
        "company": _cut(r.get("Company"), 300),
        "title": _cut(r.get("Title"), 300),
        "status": _cut(status, 100),
        "owner_email": owner_email(r, config),
        "source_campaign_id": source_campaign,
        "salesforce": {
            "status": r.get("Status"),
            "lead_source": r.get("LeadSource"),
            "converted_contact_id": r.get("ConvertedContactId"),
            "converted_opportunity_id": r.get("ConvertedOpportunityId"),
        },
    }
    sf = config.salesforce
    if sf.score_field:
        data["score"] = _score(r.get(sf.score_field))
    if sf.tier_field and r.get(sf.tier_field):
        data["tier"] = _cut(str(r[sf.tier_field]), 40)
    return [_event(f"{SOURCE}:lead:{lid}:{_stamp(at)}", "lead.upserted", at, data)]


def contact_events(r: dict, config, *, converted_lead: str | None) -> list[dict]:
    """A contact converted from a lead updates that lead; with ``contacts_as_leads`` any other is a lead."""
    cid, at = str(r["Id"]), modified(r)
    if not converted_lead and not config.salesforce.contacts_as_leads:
        return []
    data = {
        "id": converted_lead or cid,
        "email": (r.get("Email") or "").strip().lower() or None,
        "name": _cut(_name(r), 300),
        "title": _cut(r.get("Title"), 300),
        "owner_email": owner_email(r, config),
    }
    if not converted_lead:
        data["company"] = _cut(r.get("Account.Name"), 300)
    return [_event(f"{SOURCE}:contact:{cid}:{_stamp(at)}", "lead.upserted", at, data)]


# -- campaigns and their members -------------------------------------------------------------------


def campaign_event(r: dict, config) -> dict:
    at = modified(r)
    return _event(
        f"{SOURCE}:campaign:{r['Id']}:{_stamp(at)}",
        "campaign.upserted",
        at,
        {
            "id": str(r["Id"]),
            "name": _cut(r.get("Name") or str(r["Id"]), 500),
            "kind": _cut((r.get("Type") or "other").lower(), 60),
            "owner_email": owner_email(r, config),
        },
    )


def member_events(r: dict, config, *, converted_lead: str | None = None) -> list[dict]:
    statuses = {s.lower() for s in config.salesforce.touch_statuses}
    status = r.get("Status") or ""
    if statuses and status.lower() not in statuses:
        return []
    created = parse_time(r.get("CreatedDate")) or modified(r)
    at = created
    responded = parse_date(r.get("FirstRespondedDate")) if truthy(r.get("HasResponded")) else None
    if responded:
        at = max(created, datetime.combine(responded, time(12), tzinfo=timezone.utc))
    lead_id = r.get("LeadId") or converted_lead or (r.get("ContactId") if config.salesforce.contacts_as_leads else None)
    email = (r.get("Email") or "").strip().lower() or None
    if not lead_id and not email:
        return []
    data = {
        "campaign_id": str(r["CampaignId"]),
        "lead_id": lead_id,
        "contact_email": email,
        "kind": _cut(status or "member", 60),
        "touched_at": _iso(at),
    }
    return [_event(f"{SOURCE}:member:{r['Id']}:{status}", "campaign.touch", at, data)]


# -- wins ------------------------------------------------------------------------------------------


def deal_events(r: dict, config, *, converted_lead: str | None = None) -> list[dict]:
    if not truthy(r.get("IsWon")):
        return []
    oid, at = str(r["Id"]), modified(r)
    closed = at
    day = parse_date(r.get("CloseDate"))
    if day:  # a close date is a day: the end of it in the sales team's timezone, never after the change
        tz = ZoneInfo(config.team_timezone("sales"))
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) - timedelta(seconds=1)
        closed = min(end.astimezone(timezone.utc), at)
    try:
        amount = Decimal(str(r.get("Amount") or "0")).quantize(Decimal("0.01"))
    except InvalidOperation:
        amount = Decimal(0)
    lead_id = converted_lead or (r.get("ContactId") if config.salesforce.contacts_as_leads else None)
    data = {
        "id": oid,
        "name": _cut(r.get("Name") or f"Salesforce opportunity {oid}", 10_000),
        "amount": str(max(amount, Decimal(0))),
        "currency": (r.get("CurrencyIsoCode") or config.wins.currency).upper(),
        "closed_at": _iso(closed),
        "owner_email": owner_email(r, config),
        "lead_id": lead_id,
        "contact_email": (r.get("Contact.Email") or "").strip().lower() or None,
        "campaign_id": r.get("CampaignId") if config.salesforce.primary_campaign else None,
        "salesforce": {"stage": r.get("StageName")},
    }
    return [_event(f"{SOURCE}:opportunity:{oid}:won", "deal.closed_won", closed, data)]


# -- follow-ups ------------------------------------------------------------------------------------


def is_follow_up(r: dict, config) -> bool:
    if not truthy(r.get("IsClosed")) or OURS.search(r.get("Subject") or ""):
        return False
    types = {t.lower() for t in config.salesforce.follow_up_types}
    return not types or bool({(r.get("Type") or "").lower(), (r.get("TaskSubtype") or "").lower()} & types)


def task_events(r: dict, config, *, lead_id: str | None) -> list[dict]:
    if not lead_id or not is_follow_up(r, config):
        return []
    at = parse_time(r.get("CompletedDateTime")) or modified(r)
    kind = r.get("TaskSubtype") or r.get("Type") or "task"
    data = {
        "lead_id": lead_id,
        "by_email": owner_email(r, config),
        "note": _cut(r.get("Subject"), 3000),
        "kind": _cut(str(kind).lower(), 60),
    }
    return [_event(f"{SOURCE}:task:{r['Id']}", "lead.touched", at, data)]


def who(record_id: str | None) -> str | None:
    """``Lead`` or ``Contact`` for a WhoId (by its key prefix)."""
    if not record_id:
        return None
    return {"00Q": "Lead", "003": "Contact"}.get(str(record_id)[:3])
