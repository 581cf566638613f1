from __future__ import annotations

from datetime import datetime

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
