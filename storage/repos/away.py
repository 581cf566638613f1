from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import AwayPeriod
from storage.repos.base import Repo, table_of


class AwayRepo(Repo):
    """Out-of-office periods (``AwayPeriod``)."""

    def current(self, person_ids: Iterable[int], *, at: datetime) -> dict[int, AwayPeriod]:
        """The period each of these people is away in at ``at`` (absent: not away), one query."""
        ids = list(set(person_ids))
        if not ids:
            return {}
        rows = self.session.exec(
            select(AwayPeriod).where(
                self.one_of(AwayPeriod.person_id, ids), AwayPeriod.starts_at <= at, AwayPeriod.ends_at > at
            )
        )
        return {p.person_id: p for p in rows}

    def for_person(self, person_id: int, *, ending_after: datetime) -> Sequence[AwayPeriod]:
        """A person's periods not over at ``ending_after``, soonest first."""
        return self.session.exec(
            select(AwayPeriod)
            .where(AwayPeriod.person_id == person_id, AwayPeriod.ends_at > ending_after)
            .order_by(col(AwayPeriod.starts_at))
        ).all()

    def overlapping(self, person_id: int, starts_at: datetime, ends_at: datetime) -> AwayPeriod | None:
        return self.session.exec(
            select(AwayPeriod)
            .where(AwayPeriod.person_id == person_id, AwayPeriod.starts_at < ends_at, AwayPeriod.ends_at > starts_at)
            .order_by(col(AwayPeriod.starts_at))
            .limit(1)
        ).first()

    def add(self, period: AwayPeriod) -> AwayPeriod:
        self.session.add(period)
        self.session.flush()
        return period

    def create(
        self,
        *,
        person_id: int,
        starts_at: datetime,
        ends_at: datetime,
        source: str = "command",
        created_by_id: int | None = None,
        created_at: datetime | None = None,
    ) -> AwayPeriod:
        """A new period, stored (flushed: it has its id)."""
        return self.add(
            AwayPeriod(
                person_id=person_id,
                starts_at=starts_at,
                ends_at=ends_at,
                source=source,
                created_by_id=created_by_id,
                created_at=created_at,
            )
        )

    def remove(self, period: AwayPeriod) -> None:
        self.session.delete(period)
        self.session.flush()

    def back_without_summary(self, *, now: datetime, since: datetime) -> Sequence[AwayPeriod]:
        """Periods that ended in [since, now] whose "while you were away" message is not queued."""
        return self.session.exec(
            select(AwayPeriod)
            .where(AwayPeriod.ends_at <= now, AwayPeriod.ends_at >= since, col(AwayPeriod.summary_at).is_(None))
            .order_by(col(AwayPeriod.ends_at))
        ).all()

    def from_config(self) -> Sequence[AwayPeriod]:
        return self.session.exec(select(AwayPeriod).where(AwayPeriod.source == "config")).all()

    def mark_summarised(self, period_id: int, at: datetime) -> None:
        t = table_of(AwayPeriod)
        self.session.execute(sa.update(t).where(t.c.id == period_id).values(summary_at=at))
        self._expire_loaded(AwayPeriod, lambda p: p.id == period_id)
