from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlmodel import select

from storage.models import ProcessedInbound
from storage.repos.base import Repo


class InboundRepo(Repo):
    def claim(self, source: str, external_ids: Iterable[str], at: datetime) -> set[str]:
        """Record inbound ids; returns the ones not seen before (the ones to handle)."""
        ids = list(dict.fromkeys(external_ids))
        if not ids:
            return set()
        t = ProcessedInbound.__table__
        rows = [dict(source=source, external_id=i, received_at=at) for i in ids]
        return self.insert_unseen(t, rows, "external_id", where=[t.c.source == source])

    def seen(self, source: str, external_id: str) -> bool:
        """Whether this inbound id was handled already (a read: nothing is recorded)."""
        t = ProcessedInbound
        return self.session.exec(
            select(t.id).where(t.source == source, t.external_id == external_id)
        ).first() is not None
