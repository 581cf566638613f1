"""CRM data every flow reads: campaigns and their touches (batch upserts, no per-row queries)."""

from __future__ import annotations

from datetime import datetime

from handlers.events import Event
from handlers.ports import Deps, webhook
from handlers.registry import Flow


def campaigns_upserted(uow, deps: Deps, events: list[Event]) -> None:
    owners = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    latest: dict[str, dict] = {}
    for e in events:  # the last event for a campaign in the batch wins
        d = e.data
        latest[d.id] = dict(crm_id=d.id, name=d.name, kind=d.kind or "other", owner_email=d.owner_email,
                            owner_id=owners.get(d.owner_email or ""), updated_at=e.occurred_at)
    uow.campaigns.upsert_many(list(latest.values()))


def campaign_touches(uow, deps: Deps, events: list[Event]) -> None:
    """Record touches; a touch naming a campaign or lead we have not seen creates a placeholder,
    so attribution is never lost to events arriving out of order."""
    camp_ids = uow.campaigns.ensure({e.data.campaign_id for e in events})
    lead_ids = uow.leads.ensure((e.data.lead_id for e in events if e.data.lead_id), at=deps.now())
    rows = [
        dict(
            crm_id=e.id,
            campaign_id=camp_ids[e.data.campaign_id],
            lead_id=lead_ids.get(e.data.lead_id) if e.data.lead_id else None,
            contact_email=e.data.contact_email.lower() if e.data.contact_email else None,  # matched by email
            kind=e.data.kind,
            occurred_at=e.data.touched_at or e.occurred_at,
        )
        for e in events
    ]
    uow.campaigns.add_touches(rows)


def to_crm(uow, deps: Deps, type_: str, *, key: str, lead, at: datetime, data: dict) -> None:
    """Queue a neutral event for the CRM (``lead.bounced``, ``lead.requalified``,
    ``lead.followed_up``) when a CRM writeback is configured; the outbox delivers it (a connector
    such as HubSpot, or the outbound webhook). The caller commits."""
    if not deps.writes_to_crm():
        return
    payload = {"id": key, "type": type_, "occurred_at": at.isoformat(),
               "data": {"lead_id": lead.crm_id, "email": lead.email, **data}}
    uow.outbox.add(key=f"webhook:{key}", destination=webhook(), op="webhook", payload=payload, at=at)


def crm_followed_up(uow, deps: Deps, lead, *, person_id: int | None, source: str, at: datetime,
                    note: str | None) -> None:
    """A follow-up logged in chat (``touch``, *Log follow-up*) goes to the CRM as ``lead.followed_up``."""
    person = uow.people.get(person_id) if person_id else None
    to_crm(uow, deps, "lead.followed_up", key=f"lead:{lead.id}:followup:{lead.touch_count}", lead=lead, at=at,
           data={"by_email": person.email if person else None, "by_name": person.name if person else None,
                 "note": note, "source": source})


FLOW = Flow(
    name="crm",
    events={"campaign.upserted": campaigns_upserted, "campaign.touch": campaign_touches},
)
