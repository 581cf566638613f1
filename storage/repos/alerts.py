from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlmodel import select

from storage.models import Alert
from storage.repos.base import Repo


class AlertsRepo(Repo):
    def add_once(self, *, key: str, lead_id: int, step: str, window: int, at: datetime,
                 outbox_key: str | None = None) -> bool:
        """Record a ladder step; False when that step already fired (the unique key exists)."""
        ids = self.insert_ignore(
            Alert.__table__,
            [dict(key=key, lead_id=lead_id, step=step, window=window, created_at=at, outbox_key=outbox_key)],
            returning=Alert.__table__.c.id,
        )
        return bool(ids)

    def add_many(self, rows: list[dict[str, Any]]) -> set[str]:
        """Record many ladder steps (dicts with ``key``, ``lead_id``, ``step``, ``window``,
        ``created_at``, ``outbox_key``) in one executemany. Returns the keys recorded now; the
        others fired before."""
        t = Alert.__table__
        return set(self.insert_ignore_bulk(t, rows, returning=t.c.key))

    def for_lead(self, lead_id: int) -> Sequence[Alert]:
        """A lead's ladder steps, oldest first."""
        return self.session.exec(select(Alert).where(Alert.lead_id == lead_id).order_by(Alert.id)).all()
