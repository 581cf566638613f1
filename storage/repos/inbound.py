from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

from storage.models import ProcessedInbound
from storage.repos.base import Repo, table_of


class InboundRepo(Repo):
    def claim(self, source: str, external_ids: Iterable[str], at: datetime) -> set[str]:
        """Record inbound ids; returns the ones not seen before (the ones to handle)."""
        ids = list(dict.fromkeys(external_ids))
        if not ids:
            return set()
        t = table_of(ProcessedInbound)
        rows = [dict(source=source, external_id=i, received_at=at) for i in ids]
        return self.insert_unseen(t, rows, "external_id", where=[t.c.source == source])

    def seen(self, source: str, external_ids: Iterable[str]) -> set[str]:
        """Which of these ids were handled before (recorded nothing: a dry run asks this)."""
        ids = set(external_ids)
        if not ids:
            return set()
        t = table_of(ProcessedInbound)
        q = sa.select(t.c.external_id).where(t.c.source == source, self.one_of(t.c.external_id, ids))
        return set(self.session.execute(q).scalars())
