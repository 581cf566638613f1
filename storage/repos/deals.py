from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col, func, select

from storage.models import Deal
from storage.repos.base import Repo, table_of


class DealsRepo(Repo):
    def get(self, deal_id: int) -> Deal | None:
        return self.session.get(Deal, deal_id)

    def by_crm_id(self, crm_id: str) -> Deal | None:
        return self.session.exec(select(Deal).where(Deal.crm_id == crm_id)).first()

    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]:
        return self.ids_by(Deal.crm_id, crm_ids)

    def add(self, deal: Deal) -> Deal:
        self.session.add(deal)
        self.session.flush()
        return deal

    def seen(
        self, *, crm_ids: Iterable[str], name_keys: Iterable[str], announced_since: datetime
    ) -> tuple[set[str], dict[str, Any]]:
        """In one query: which of these CRM ids are stored, and for each name key the newest deal
        a rep announced (``source='command'``) closed at or after ``announced_since`` (rows with
        ``id``, ``name_key``, ``closed_at``)."""
        crm_ids, name_keys = set(crm_ids), set(name_keys)
        if not crm_ids and not name_keys:
            return set(), {}
        t = table_of(Deal)
        announced = sa.and_(
            self.one_of(t.c.name_key, name_keys), t.c.source == "command", t.c.closed_at >= announced_since
        )
        q = (
            sa.select(t.c.id, t.c.crm_id, t.c.name_key, t.c.closed_at, t.c.source)
            .where(sa.or_(self.one_of(t.c.crm_id, crm_ids), announced))
            .order_by(t.c.closed_at, t.c.id)
        )
        stored: set[str] = set()
        by_name: dict[str, Any] = {}
        for r in self.session.execute(q):
            if r.crm_id in crm_ids:
                stored.add(r.crm_id)
            if r.source == "command" and r.name_key in name_keys and r.closed_at >= announced_since:
                by_name[r.name_key] = r  # the newest wins
        return stored, by_name

    def insert_new(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Insert deals (every row has the same keys) in one statement, skipping any whose
        ``crm_id`` is already stored (a concurrent request may have won the race). Returns the
        CRM ids of the rows inserted."""
        return self.insert_unseen(table_of(Deal), rows, "crm_id")

    def recent_by_name_key(
        self, name_keys: Iterable[str], *, since: datetime, source: str | None = None
    ) -> dict[str, Deal]:
        """The newest deal for each of these name keys closed at or after ``since`` (of
        ``source`` only, when given), in one query."""
        keys = set(name_keys)
        if not keys:
            return {}
        q = select(Deal).where(self.one_of(Deal.name_key, keys), Deal.closed_at >= since)
        if source is not None:
            q = q.where(Deal.source == source)
        found: dict[str, Deal] = {}
        for d in self.session.exec(q.order_by(col(Deal.closed_at), col(Deal.id))):
            found[d.name_key] = d  # the newest wins
        return found

    def adopt(self, updates: Sequence[dict[str, Any]]) -> None:
        """Give deals a rep announced the CRM's record of them: each dict has ``_id`` (the
        deal to update) and the new column values (all dicts the same keys), one executemany."""
        if not updates:
            return
        t = table_of(Deal)
        cols = [k for k in updates[0] if k != "_id"]
        stmt = sa.update(t).where(t.c.id == sa.bindparam("_id")).values({c: sa.bindparam(c) for c in cols})
        self.session.connection().execute(stmt, list(updates))
        self._expire_loaded(Deal)

    def totals(self, *, start: datetime, end: datetime) -> dict[str, int]:
        """Won amounts (minor units) by currency for deals closed in [start, end)."""
        rows = self.session.exec(
            select(Deal.currency, func.sum(Deal.amount_minor))
            .where(Deal.closed_at >= start, Deal.closed_at < end)
            .group_by(Deal.currency)
        )
        return {c: int(n or 0) for c, n in rows}

    def claim_rollup(self, *, key: str, at: datetime) -> Sequence[Deal]:
        """Take every deal waiting for the roll-up into the roll-up ``key``, oldest close first.

        One UPDATE .. WHERE celebration = 'rollup' RETURNING: on PostgreSQL a second replica
        doing the same at once waits for the first and then finds nothing left, so each deal
        is in exactly one roll-up."""
        t = table_of(Deal)
        ids = [
            r[0]
            for r in self.session.execute(
                sa.update(t)
                .where(t.c.celebration == sa.literal_column("'rollup'"))
                .values(celebration="rolled", celebration_key=key, celebrated_at=at)
                .returning(t.c.id)
            )
        ]
        if not ids:
            return []
        return self.session.exec(
            select(Deal)
            .where(self.one_of(Deal.id, ids))
            .order_by(col(Deal.closed_at), col(Deal.id))
            .execution_options(populate_existing=True)
        ).all()
