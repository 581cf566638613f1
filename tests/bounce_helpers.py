"""Leads, campaigns and follow-ups for the bounce-back tests, written through the repositories."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.models import Campaign, Lead, LeadTouch


def person_id(container, key: str) -> int:
    with container.uow_factory() as uow:
        return uow.people.by_key(key).id


def seed_lead(
    container,
    *,
    crm_id: str = "L-1",
    owner: str = "ana",
    email: str = "jane@acme.example",
    name: str = "Jane Doe",
    company: str = "Acme",
    score: int = 85,
    qualified_days_ago: float = 3,
    campaign: str | None = "Spring Webinar",
    campaign_owner: str = "kira",
    follow_ups: int = 2,
    status: str = "qualified",
) -> int:
    """A qualified lead owned by ``owner`` from a campaign run by ``campaign_owner``; returns its id."""
    now: datetime = container.deps.now()
    with container.uow_factory() as uow:
        camp_id = None
        if campaign:
            camp = uow.campaigns.by_crm_id(f"C-{campaign}") or uow.campaigns.add(
                Campaign(
                    crm_id=f"C-{campaign}", name=campaign, kind="webinar", owner_id=uow.people.by_key(campaign_owner).id
                )
            )
            camp_id = camp.id
        owner_person = uow.people.by_key(owner) if owner else None
        qualified_at = now - timedelta(days=qualified_days_ago)
        lead = uow.leads.add(
            Lead(
                crm_id=crm_id,
                email=email,
                name=name,
                company=company,
                title="VP Operations",
                status=status,
                score=score,
                owner_id=owner_person.id if owner_person else None,
                owner_email=owner_person.email if owner_person else None,
                source_campaign_id=camp_id,
                qualified_at=qualified_at,
                sla_started_at=qualified_at,
                sla_due_at=qualified_at + timedelta(hours=4),
                next_alert_at=now + timedelta(hours=1),
                created_at=qualified_at,
                touch_count=follow_ups,
            )
        )
        for i in range(follow_ups):
            uow.leads.add_touch(
                LeadTouch(
                    lead_id=lead.id,
                    person_id=lead.owner_id,
                    source="crm",
                    note=f"call {i + 1}",
                    occurred_at=qualified_at + timedelta(hours=i + 1),
                )
            )
        uow.commit()
        return lead.id


def lead(container, lead_id: int) -> Lead:
    with container.uow_factory() as uow:
        return uow.leads.get(lead_id)


def bounces(container, lead_id: int):
    with container.uow_factory() as uow:
        return list(uow.bounces.for_lead(lead_id))


def outbox(container, *, op: str | None = None, destination: str | None = None):
    """Outbox rows, oldest first (filtered)."""
    from sqlmodel import select

    from storage.models import Outbox

    with container.uow_factory() as uow:
        rows = uow.session.exec(select(Outbox).order_by(Outbox.id)).all()
    return [r for r in rows if (op is None or r.op == op) and (destination is None or r.destination == destination)]
