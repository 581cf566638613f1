"""HubSpot records -> the product's own CRM events (``handlers/events.py``). Pure functions.

- A contact is a lead (``lead.upserted``). When its lifecycle stage or lead status is one the
  config's ``hubspot.qualified`` names, its status is the shared definition's first qualified
  status (``qualified.statuses``), so cooling hands it to sales the moment it gets there, once.
- Its ``notes_last_contacted`` (the last call, sales email or meeting logged in HubSpot) is a
  sales follow-up (``lead.touched``).
- Its first and last touch converting campaigns are campaign touches (``campaign.touch``) at its
  first and most recent conversion, so the wins flow's first/last-touch attribution credits the
  campaigns HubSpot itself reports; without a converting campaign, its original source
  (``hs_analytics_source``, e.g. "Organic search") is credited instead (``credit_original_source``).
- A deal in a closed-won stage is a ``deal.closed_won`` naming its first associated contact.

Event ids are stable (the object and its last modification), so reading an unchanged record again
adds nothing: a webhook retried, a poll overlapping a webhook, an import run twice.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

SOURCE = "hubspot"

CONTACT_PROPERTIES = [
    "email",
    "firstname",
    "lastname",
    "company",
    "jobtitle",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_first_touch_converting_campaign",
    "hs_analytics_last_touch_converting_campaign",
    "first_conversion_date",
    "recent_conversion_date",
    "notes_last_contacted",
    "createdate",
    "lastmodifieddate",
]
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "pipeline",
    "closedate",
    "hubspot_owner_id",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
    "createdate",
]
# hs_analytics_source values, as HubSpot labels them in its reports.
ORIGINAL_SOURCES = {
    "ORGANIC_SEARCH": "Organic search",
    "PAID_SEARCH": "Paid search",
    "EMAIL_MARKETING": "Email marketing",
    "SOCIAL_MEDIA": "Organic social",
    "PAID_SOCIAL": "Paid social",
    "REFERRALS": "Referrals",
    "OTHER_CAMPAIGNS": "Other campaigns",
    "DIRECT_TRAFFIC": "Direct traffic",
    "OFFLINE": "Offline sources",
    "AI_REFERRALS": "AI referrals",
}


def contact_properties(config) -> list[str]:
    extra = [config.hubspot.score_property] if config.hubspot.score_property else []
    return CONTACT_PROPERTIES + [p for p in extra if p not in CONTACT_PROPERTIES]


def deal_properties(config) -> list[str]:
    return list(DEAL_PROPERTIES)


def parse_time(value) -> datetime | None:
    """HubSpot's datetimes: ISO 8601 (``2026-11-23T14:00:00.000Z``) or epoch milliseconds."""
    if value in (None, ""):
        return None
    s = str(value)
    if s.isdigit():
        return datetime.fromtimestamp(int(s) / 1000, timezone.utc)
    try:
        t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat()


def _stamp(t: datetime) -> str:
    return str(int(t.timestamp() * 1000))


def owner_record(raw: dict) -> dict:
    """What the product keeps of a HubSpot owner (one place: people sync will read it from here)."""
    name = " ".join(p for p in (raw.get("firstName"), raw.get("lastName")) if p) or None
    return {
        "id": str(raw.get("id")),
        "email": (raw.get("email") or "").strip().lower() or None,
        "name": name,
        "teams": [t.get("name") for t in raw.get("teams") or [] if t.get("name")],
        "active": not raw.get("archived", False),
    }


def is_qualified(props: dict, config) -> bool:
    q = config.hubspot.qualified
    stage = (props.get("lifecyclestage") or "").lower()
    status = (props.get("hs_lead_status") or "").lower()
    return bool(
        (stage and stage in {s.lower() for s in q.lifecycle_stages})
        or (status and status in {s.lower() for s in q.lead_statuses})
    )


def _score(value) -> int | None:
    try:
        return max(0, min(1000, int(Decimal(str(value))))) if value not in (None, "") else None
    except (InvalidOperation, ValueError):
        return None


def source_campaign(props: dict, config) -> tuple[str, str] | None:
    """(campaign id, name) of the campaign the contact came from: its first touch converting
    campaign, else (when configured) its original source as a campaign of its own."""
    first = props.get("hs_analytics_first_touch_converting_campaign")
    if first:
        return first, first
    source = (props.get("hs_analytics_source") or "").upper()
    if source and config.hubspot.credit_original_source:
        return f"hubspot-source:{source}", ORIGINAL_SOURCES.get(source, source.replace("_", " ").capitalize())
    return None


def contact_events(obj: dict, config, owners: dict[str, str]) -> list[dict]:
    """The events of one contact. ``owners`` maps HubSpot owner ids to people's emails."""
    cid, p = str(obj["id"]), obj.get("properties") or {}
    updated = parse_time(obj.get("updatedAt")) or parse_time(p.get("lastmodifieddate")) or datetime.now(timezone.utc)
    created = parse_time(p.get("createdate")) or parse_time(obj.get("createdAt")) or updated
    email = (p.get("email") or "").strip().lower() or None
    owner_email = owners.get(str(p.get("hubspot_owner_id") or ""))
    name = " ".join(x for x in (p.get("firstname"), p.get("lastname")) if x) or None
    if is_qualified(p, config):
        status = config.qualified.statuses[0]
    else:
        status = p.get("hs_lead_status") or p.get("lifecyclestage") or None
    events: list[dict] = []
    source = source_campaign(p, config)
    if source and source[0].startswith("hubspot-source:"):
        events.append(
            _event(
                f"{SOURCE}:{source[0]}",
                "campaign.upserted",
                created,
                {"id": source[0], "name": source[1], "kind": "source"},
            )
        )
    lead = {
        "id": cid,
        "email": email,
        "name": _cut(name, 300),
        "company": _cut(p.get("company"), 300),
        "title": _cut(p.get("jobtitle"), 300),
        "status": _cut(status, 100),
        "owner_email": owner_email,
        "source_campaign_id": source[0] if source else None,
        "hubspot": {
            "lifecyclestage": p.get("lifecyclestage"),
            "lead_status": p.get("hs_lead_status"),
            "original_source": p.get("hs_analytics_source"),
            "owner_id": p.get("hubspot_owner_id"),
        },
    }
    if config.hubspot.score_property:
        lead["score"] = _score(p.get(config.hubspot.score_property))
    events.append(
        _event(
            f"{SOURCE}:contact:{cid}:{_stamp(updated)}",
            "lead.upserted",
            updated,
            {k: v for k, v in lead.items() if v is not None},
        )
    )
    touches = []
    first, last = (
        p.get("hs_analytics_first_touch_converting_campaign"),
        p.get("hs_analytics_last_touch_converting_campaign"),
    )
    if first:
        touches.append(("first", first, parse_time(p.get("first_conversion_date")) or created))
    if last:
        touches.append(("last", last, parse_time(p.get("recent_conversion_date")) or updated))
    if not first and source:
        touches.append(("source", source[0], created))
    for which, campaign, at in touches:
        data = {"campaign_id": campaign, "lead_id": cid, "kind": f"{which} touch", "touched_at": _iso(at)}
        if email:
            data["contact_email"] = email
        events.append(_event(f"{SOURCE}:contact:{cid}:{which}:{campaign}:{_stamp(at)}", "campaign.touch", at, data))
    contacted = parse_time(p.get("notes_last_contacted"))
    if contacted:
        data = {"lead_id": cid, "kind": "sales activity"}
        if owner_email:
            data["by_email"] = owner_email
        events.append(_event(f"{SOURCE}:contact:{cid}:contacted:{_stamp(contacted)}", "lead.touched", contacted, data))
    return events


def is_won(props: dict, config) -> bool:
    stages = config.hubspot.closed_won_stages
    if stages:
        return (props.get("dealstage") or "") in stages
    return str(props.get("hs_is_closed_won") or "").lower() == "true"


def deal_events(obj: dict, config, owners: dict[str, str], contact: dict | None) -> list[dict]:
    """``deal.closed_won`` for a deal in a won stage (nothing otherwise); ``contact`` is its first
    associated contact, when it has one."""
    p = obj.get("properties") or {}
    if not is_won(p, config):
        return []
    did = str(obj["id"])
    closed = parse_time(p.get("closedate")) or parse_time(obj.get("updatedAt")) or datetime.now(timezone.utc)
    try:
        amount = Decimal(str(p.get("amount") or "0")).quantize(Decimal("0.01"))
    except InvalidOperation:
        amount = Decimal(0)
    data = {
        "id": did,
        "name": _cut(p.get("dealname") or f"HubSpot deal {did}", 10_000),
        "amount": str(amount),
        "currency": (p.get("deal_currency_code") or config.wins.currency).upper(),
        "closed_at": _iso(closed),
        "owner_email": owners.get(str(p.get("hubspot_owner_id") or "")),
        "hubspot": {"dealstage": p.get("dealstage"), "pipeline": p.get("pipeline")},
    }
    if contact is not None:
        data["lead_id"] = str(contact["id"])
        email = ((contact.get("properties") or {}).get("email") or "").strip().lower()
        if email:
            data["contact_email"] = email
    return [
        _event(f"{SOURCE}:deal:{did}:won", "deal.closed_won", closed, {k: v for k, v in data.items() if v is not None})
    ]


def campaign_event(raw: dict, owners: dict[str, str]) -> dict:
    p = raw.get("properties") or {}
    updated = parse_time(raw.get("updatedAt")) or datetime.now(timezone.utc)
    data = {
        "id": str(raw["id"]),
        "name": _cut(p.get("hs_name") or str(raw["id"]), 500),
        "kind": _cut((p.get("hs_campaign_type") or "other").lower(), 60),
    }
    owner = owners.get(str(p.get("hs_owner") or ""))
    if owner:
        data["owner_email"] = owner
    return _event(f"{SOURCE}:campaign:{raw['id']}:{_stamp(updated)}", "campaign.upserted", updated, data)


def _event(event_id: str, type_: str, at: datetime, data: dict) -> dict:
    return {"id": event_id[:200], "type": type_, "occurred_at": _iso(at), "data": data}


def _cut(value, n: int):
    return value[:n] if isinstance(value, str) else value
