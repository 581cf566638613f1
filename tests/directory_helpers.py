"""What the directory tests share: CRM owner events and what the directory made of them."""

from __future__ import annotations

import itertools

_ids = itertools.count(1)


def owner(email, name=None, *, team="sales", manager=None, active=True, id=None) -> dict:
    """An ``owner.upserted`` CRM event (``id``: the CRM's own id for the owner)."""
    data = {
        "email": email,
        "name": name or email.split("@")[0].title(),
        "team": team,
        "manager_email": manager,
        "active": active,
    }
    if id:
        data["id"] = id
    return {"id": f"own-{next(_ids)}", "type": "owner.upserted", "occurred_at": "2026-11-23T15:00:00Z", "data": data}


def people_by_email(c) -> dict:
    with c.uow_factory() as uow:
        return {p.email: p for p in uow.people.all()}


def problem_details(c) -> dict:
    """What ``/smarketing people`` lists: (kind, subject) -> detail."""
    with c.uow_factory() as uow:
        return {(p.kind, p.subject): p.detail for p in uow.directory.problems()}
