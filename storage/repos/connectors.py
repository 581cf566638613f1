"""The CRM connectors' change queue (``ConnectorChange``): objects to read and turn into events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from storage.models import ConnectorChange
from storage.repos.base import Repo, table_of


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    object_id: str
    version: int
    attempts: int


class ConnectorChangesRepo(Repo):
    def enqueue(self, source: str, changes: Iterable[tuple[str, str, datetime]], *, at: datetime) -> int:
        """Record (kind, object id, changed at) changes; an object already waiting gets a new
        version and is due now. Returns how many rows were written."""
        latest: dict[tuple[str, str], datetime] = {}
        for kind, object_id, changed in changes:
            k = (kind, str(object_id))
            latest[k] = max(latest.get(k, changed), changed)
        if not latest:
            return 0
        rows = [
            dict(source=source, kind=k, object_id=o, version=1, changed_at=c, due_at=at, attempts=0)
            for (k, o), c in sorted(latest.items())
        ]
        t = table_of(ConnectorChange)
        ins = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(t)
        stmt = ins.on_conflict_do_update(
            index_elements=["source", "kind", "object_id"],
            set_={
                "version": t.c.version + 1,
                "changed_at": sa.case(
                    (ins.excluded.changed_at > t.c.changed_at, ins.excluded.changed_at), else_=t.c.changed_at
                ),
                "due_at": sa.case((ins.excluded.due_at < t.c.due_at, ins.excluded.due_at), else_=t.c.due_at),
            },
        )
        self.session.execute(stmt, rows)
        return len(rows)

    def claim(self, source: str, *, worker: str, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        """Take up to ``limit`` due changes (oldest due first) for this worker; a claim whose lease
        ran out (its worker died) is due again. ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""
        t = table_of(ConnectorChange)
        due = sa.and_(
            t.c.source == source, t.c.due_at <= now, sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now)
        )
        inner = sa.select(t.c.id).where(due).order_by(t.c.due_at, t.c.id).limit(limit)
        if self.dialect == "postgresql":
            inner = inner.with_for_update(skip_locked=True)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(inner.scalar_subquery()))
            .values(claimed_by=worker, claimed_until=now + lease, attempts=t.c.attempts + 1)
            .returning(t.c.id, t.c.kind, t.c.object_id, t.c.version, t.c.attempts)
        )
        return sorted((Claimed(*r) for r in self.session.execute(stmt)), key=lambda c: c.id)

    def done(self, claimed: Iterable[Claimed], *, worker: str) -> int:
        """Remove changes that were read; one that changed again meanwhile stays, due now."""
        claimed = list(claimed)
        if not claimed:
            return 0
        t = table_of(ConnectorChange)
        removed = 0
        for c in claimed:
            removed += self.session.exec(
                sa.delete(t).where(t.c.id == c.id, t.c.version == c.version, t.c.claimed_by == worker)
            ).rowcount
        self.session.execute(
            sa.update(t)
            .where(self.one_of(t.c.id, [c.id for c in claimed]), t.c.claimed_by == worker)
            .values(claimed_by=None, claimed_until=None, attempts=0)
        )
        return removed

    def retry(
        self, claimed: Iterable[Claimed], *, worker: str, at: datetime, error: str, count_attempt: bool = True
    ) -> None:
        """Read these again at ``at`` (a rate limit, HubSpot down). ``count_attempt=False`` gives the
        attempt back: waiting out a rate limit is not a failure."""
        ids = [c.id for c in claimed]
        if not ids:
            return
        t = table_of(ConnectorChange)
        values: dict[str, Any] = dict(claimed_by=None, claimed_until=None, due_at=at, last_error=error[:2000])
        if not count_attempt:
            values["attempts"] = t.c.attempts - 1
        self.session.execute(sa.update(t).where(self.one_of(t.c.id, ids), t.c.claimed_by == worker).values(**values))

    def drop(self, claimed: Iterable[Claimed], *, worker: str) -> int:
        """Forget changes that can never be read (the object is gone or the token may not read it)."""
        ids = [c.id for c in claimed]
        if not ids:
            return 0
        t = table_of(ConnectorChange)
        return self.session.exec(sa.delete(t).where(self.one_of(t.c.id, ids), t.c.claimed_by == worker)).rowcount

    def counts(self, source: str, *, now: datetime) -> dict[str, int]:
        """Waiting changes: ``due`` now and ``later`` (after a rate limit or an error)."""
        t = table_of(ConnectorChange)
        q = sa.select(sa.func.count().filter(t.c.due_at <= now), sa.func.count()).where(t.c.source == source)
        due, total = self.session.execute(q).one()
        return {"due": due or 0, "later": (total or 0) - (due or 0)}

    def next_due(self, source: str) -> datetime | None:
        t = table_of(ConnectorChange)
        return self.session.execute(sa.select(sa.func.min(t.c.due_at)).where(t.c.source == source)).scalar()
