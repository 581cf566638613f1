"""Inbound CRM events, after the webhook has verified and validated them."""

from __future__ import annotations

from handlers.errors import Invalid
from handlers.events import Event, runs_for_handling
from handlers.ports import Deps
from handlers.registry import Registry
from handlers.ports import UowFactory


def ingest_events(
    registry: Registry, uow_factory: UowFactory, deps: Deps, events: list[Event], source: str = "crm"
) -> tuple[int, int]:
    """Handle the events not seen before, all in one transaction. Returns (accepted, duplicates).

    A repeated id (from an earlier request or earlier in this one) is accepted and ignored."""
    missing = sorted({e.type for e in events if e.type not in registry.events})
    if missing:
        raise Invalid(f"event type {', '.join(missing)} is not handled by this version", field="type")
    with uow_factory() as uow:
        new_ids = uow.inbound.claim(source, [e.id for e in events], deps.now())
        fresh: list[Event] = []
        for e in events:
            if e.id in new_ids:
                fresh.append(e)
                new_ids.discard(e.id)  # a second copy in the same batch is a duplicate
        for type_, run in runs_for_handling(fresh):
            registry.events[type_](uow, deps, run)
        uow.commit()
    return len(fresh), len(events) - len(fresh)
