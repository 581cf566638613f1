from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa

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
        if self.dialect == "sqlite":
            # SQLite has one writer and a unit of work holds the write lock from its BEGIN
            # IMMEDIATE, so "which are stored, then insert the rest" cannot race; and a plain
            # executemany is several times cheaper than an INSERT .. RETURNING of many rows.
            seen = set(self.session.execute(
                sa.select(t.c.external_id).where(t.c.source == source, self.one_of(t.c.external_id, ids))).scalars())
            fresh = [r for r in rows if r["external_id"] not in seen]
            self.insert_ignore(t, fresh)
            return {r["external_id"] for r in fresh}
        return set(self.insert_ignore_bulk(t, rows, returning=t.c.external_id))
