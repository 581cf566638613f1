"""CRM events, people and outbox views for the cooling tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from handlers.events import validate_events
from handlers.ingest import ingest_events
from handlers.messages import Message, moment_fallback

_ids = itertools.count(1)

NY = ZoneInfo("America/New_York")  # the demo's sales team


def at_ny(*args) -> datetime:
    """A wall-clock time in New York, as UTC: ``at_ny(2026, 11, 23, 10)``."""
    return datetime(*args, tzinfo=NY).astimezone(timezone.utc)


def lead_event(crm_id: str, *, type: str = "lead.upserted", at: datetime | str | None = None, **data) -> dict:
    """One CRM event about a lead (``lead.upserted`` unless told), occurring ``at``."""
    occurred = at.isoformat() if isinstance(at, datetime) else at
    return {
        "id": f"ev-{next(_ids)}",
        "type": type,
        "occurred_at": occurred or "2026-11-23T15:00:00Z",
        "data": {"id": crm_id, **data},
    }


def hot_lead(crm_id: str = "L-1", *, owner: str | None = "ana", type: str = "lead.qualified", at=None, **data) -> dict:
    """A hot (1 business hour) qualified lead owned by ``owner`` (a demo person's key)."""
    values = dict(email=f"{crm_id.lower()}@acme.example", name="Jane Doe", company="Acme", score=95)
    if owner:
        values["owner_email"] = f"{owner}@northwind.example"
    values.update(data)
    return lead_event(crm_id, type=type, at=at, **values)


def touched(crm_id: str, *, by: str = "ana", at=None, note: str | None = None) -> dict:
    return {
        "id": f"ev-{next(_ids)}",
        "type": "lead.touched",
        "occurred_at": (at.isoformat() if isinstance(at, datetime) else at) or "2026-11-23T15:00:00Z",
        "data": {"lead_id": crm_id, "by_email": f"{by}@northwind.example", "note": note},
    }


def ingest(container, *raw: dict) -> tuple[int, int]:
    events, problems = validate_events(list(raw))
    assert not problems, [p.as_dict() for p in problems]
    return ingest_events(container.registry, container.uow_factory, container.deps, events)


def person_id(container, key: str) -> int:
    with container.uow_factory() as uow:
        return uow.people.by_key(key).id


def lead(container, crm_id: str = "L-1"):
    with container.uow_factory() as uow:
        return uow.leads.by_crm_id(crm_id)


def outbox(container, *, op: str | None = "post", key: str = ""):
    """Outbox rows whose key starts with ``key``, oldest first."""
    from sqlmodel import select

    from storage.models import Outbox

    with container.uow_factory() as uow:
        rows = uow.session.exec(select(Outbox).order_by(Outbox.id)).all()
    return [r for r in rows if (op is None or r.op == op) and r.key.startswith(key)]


def sent(container, crm_id: str = "L-1") -> list[tuple[str, str]]:
    """(ladder step or handoff, destination) of every message queued about the lead, in order."""
    lead_id = lead(container, crm_id).id
    rows = outbox(container, key=f"cooling:{lead_id}:")
    return [(r.key.split(":")[3], r.destination) for r in rows]


def text_of(payload: dict) -> str:
    """Everything a reader sees in a message: fallback, block texts, fields and button labels."""
    msg = Message.from_json(payload)
    parts = [msg.text]
    for b in msg.blocks:
        parts.append(getattr(b, "text", "") or "")
        parts.extend(f"{k}: {v}" for k, v in getattr(b, "fields", []))
        parts.extend(f"[{btn.label}]" for btn in getattr(b, "buttons", []))
    return moment_fallback("\n".join(parts))  # a time as a reader with no zone of their own sees it


def buttons(payload: dict) -> list[tuple[str, str, str]]:
    """(label, action, value) of a message's buttons."""
    msg = Message.from_json(payload)
    return [(b.label, b.action, b.value) for blk in msg.blocks for b in getattr(blk, "buttons", [])]
