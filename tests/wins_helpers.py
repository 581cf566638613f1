"""CRM events and outbox reading for the wins tests."""

from __future__ import annotations

import itertools
import json

from handlers.events import validate_events
from handlers.ingest import ingest_events
from handlers.messages import Message

_ids = itertools.count(1)


def event(type_: str, data: dict, *, at: str = "2026-11-23T14:00:00Z", id: str | None = None) -> dict:
    return {"id": id or f"ev-{next(_ids)}", "type": type_, "occurred_at": at, "data": data}


def campaign(
    crm_id: str = "camp-1",
    name: str = "Data Summit Webinar",
    kind: str = "webinar",
    owner: str | None = "kira@northwind.example",
    **kw,
) -> dict:
    return event("campaign.upserted", {"id": crm_id, "name": name, "kind": kind, "owner_email": owner}, **kw)


def touch(
    campaign_id: str = "camp-1",
    *,
    lead: str | None = "L-1",
    email: str | None = None,
    at: str = "2026-11-10T10:00:00Z",
    **kw,
) -> dict:
    data = {"campaign_id": campaign_id, "touched_at": at}
    if lead:
        data["lead_id"] = lead
    if email:
        data["contact_email"] = email
    return event("campaign.touch", data, **kw)


def deal(
    crm_id: str = "D-1",
    *,
    name: str = "Acme renewal",
    amount=48000,
    currency: str = "USD",
    owner: str | None = "ana@northwind.example",
    lead: str | None = "L-1",
    email: str | None = None,
    closed: str | None = "2026-11-23T14:00:00Z",
    **kw,
) -> dict:
    data = {
        "id": crm_id,
        "name": name,
        "amount": amount,
        "currency": currency,
        "owner_email": owner,
        "lead_id": lead,
        "contact_email": email,
        "closed_at": closed,
    }
    return event("deal.closed_won", {k: v for k, v in data.items() if v is not None}, **kw)


def ingest(c, *events: dict) -> tuple[int, int]:
    """Validate and ingest as the webhook does (without HTTP)."""
    parsed, problems = validate_events(json.loads(json.dumps(list(events))))
    assert not problems, [p.as_dict() for p in problems]
    return ingest_events(c.registry, c.uow_factory, c.deps, parsed)


def outbox(c, destination: str | None = None, prefix: str = ""):
    from sqlmodel import select

    from storage.models import Outbox

    with c.uow_factory() as uow:
        rows = uow.session.exec(select(Outbox).order_by(Outbox.id)).all()
    return [r for r in rows if (destination is None or r.destination == destination) and r.key.startswith(prefix)]


def messages(c, destination: str) -> list[Message]:
    return [Message.from_json(r.payload) for r in outbox(c, destination)]


def text_of(msg: Message) -> str:
    parts = [msg.text]
    for b in msg.blocks:
        parts.append(getattr(b, "text", "") or "")
        parts.extend(f"{k}: {v}" for k, v in getattr(b, "fields", []))
    return "\n".join(parts)


def person_id(c, key: str) -> int:
    with c.uow_factory() as uow:
        return uow.people.by_key(key).id
