"""CRM data every flow reads: campaigns and their touches (batch upserts, no per-row queries)."""

from __future__ import annotations

from handlers.events import Event
from handlers.ports import Deps, UnitOfWork
from handlers.registry import Flow


def campaigns_upserted(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    owners = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    latest: dict[str, dict] = {}
    for e in events:  # the last event for a campaign in the batch wins
        d = e.data
        latest[d.id] = dict(
            crm_id=d.id,
            name=d.name,
            kind=d.kind or "other",
            owner_email=d.owner_email,
            owner_id=owners.get(d.owner_email or ""),
            updated_at=e.occurred_at,
        )
    uow.campaigns.upsert_many(list(latest.values()))


def campaign_touches(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
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


FLOW = Flow(
    name="crm",
    events={"campaign.upserted": campaigns_upserted, "campaign.touch": campaign_touches},
)
