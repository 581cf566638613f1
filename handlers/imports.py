"""Spreadsheet imports: what the importer asks the database before a batch goes to
``handlers.ingest.ingest_events`` (the same path as the CRM webhook).

Reading, mapping and parsing the file is the adapter's (``bot/imports``); here are the two
questions that need the stored data: which records a row's references name, and what a batch of
events would change. Both only read, so a dry run can ask them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.events import Event
from handlers.ports import UnitOfWork

SOURCE = "import"  # ProcessedInbound.source of imported rows' event ids

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass
class Refs:
    campaigns: dict[str, str]  # reference (CRM id or name) -> campaign CRM id
    leads: dict[str, str]  # reference (CRM id or email) -> lead CRM id


def resolve(uow: UnitOfWork, *, campaigns: set[str], leads: set[str]) -> Refs:
    """The records a batch's rows name. A campaign reference that names no campaign is kept as
    given (the events create a placeholder campaign of that id, as the webhook's do); a lead
    reference that names no lead is missing from ``leads`` (a follow-up needs its lead)."""
    return Refs(uow.campaigns.crm_ids_for_refs(campaigns), uow.leads.crm_ids_for_refs(leads))


def plan(uow: UnitOfWork, events: list[Event], source: str = SOURCE) -> dict[str, str]:
    """Per event id: ``created``, ``updated`` or ``unchanged``, as ingesting the events now would.

    Unchanged: the same row was imported before (its event id is recorded), or it is a won deal
    already stored (a deal is recorded once). Touches and follow-ups are always new records."""
    seen = uow.inbound.seen(source, (e.id for e in events))
    by_type: dict[str, list[Event]] = {}
    for e in events:
        if e.id not in seen:
            by_type.setdefault(e.type, []).append(e)
    stored: set[str] = set()
    leads = by_type.get("lead.upserted", []) + by_type.get("lead.qualified", [])
    if leads:
        stored |= {f"lead:{c}" for c in uow.leads.ids_by_crm_id(e.data.id for e in leads)}
    if by_type.get("campaign.upserted"):
        stored |= {
            f"campaign:{c}" for c in uow.campaigns.ids_by_crm_id(e.data.id for e in by_type["campaign.upserted"])
        }
    if by_type.get("deal.closed_won"):
        stored |= {f"deal:{c}" for c in uow.deals.ids_by_crm_id(e.data.id for e in by_type["deal.closed_won"])}
    if by_type.get("schedule.upserted"):
        stored |= {
            f"schedule:{x[4:]}"
            for x in uow.schedule.ids_by_external_id(f"crm:{e.data.id}" for e in by_type["schedule.upserted"])
        }
    out: dict[str, str] = {}
    for e in events:
        if e.id in seen:
            out[e.id] = UNCHANGED
            continue
        record = _record(e)
        if record is None:
            out[e.id] = CREATED
        elif record in stored:
            out[e.id] = UNCHANGED if e.type == "deal.closed_won" else UPDATED
        else:
            out[e.id] = CREATED
    return out


def _record(e: Event) -> str | None:
    if e.type in ("lead.upserted", "lead.qualified"):
        return f"lead:{e.data.id}"
    if e.type == "campaign.upserted":
        return f"campaign:{e.data.id}"
    if e.type == "deal.closed_won":
        return f"deal:{e.data.id}"
    if e.type == "schedule.upserted":
        return f"schedule:{e.data.id}"
    return None  # touches and follow-ups: each one is a new record
