"""Schedule items: the weeks of both teams (``handlers/schedule.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import ScheduleItem
from storage.repos.base import Repo, table_of

# Columns a repeated upsert (webhook, iCal re-import) may change; ``created_at`` stays the first one.
UPSERT_COLUMNS = (
    "team",
    "kind",
    "title",
    "regions",
    "starts_at",
    "ends_at",
    "all_day",
    "owner_id",
    "owner_email",
    "link",
    "source",
)


class ScheduleRepo(Repo):
    def get(self, item_id: int) -> ScheduleItem | None:
        return self.session.get(ScheduleItem, item_id)

    def by_external_id(self, external_id: str) -> ScheduleItem | None:
        return self.session.exec(select(ScheduleItem).where(ScheduleItem.external_id == external_id)).first()

    def ids_by_external_id(self, external_ids: Iterable[str]) -> dict[str, int]:
        return self.ids_by(ScheduleItem.external_id, external_ids)

    def by_external_ids(self, external_ids: Iterable[str]) -> dict[str, ScheduleItem]:
        """Items by external id, in one query (the ids travel as one parameter)."""
        ids = set(external_ids)
        if not ids:
            return {}
        rows = self.session.exec(
            select(ScheduleItem)
            .where(self.one_of(ScheduleItem.external_id, ids))
            .execution_options(populate_existing=True)
        )
        return {r.external_id: r for r in rows}  # type: ignore[misc]

    def overlapping(
        self, start: datetime, end: datetime, *, team: str | None = None, source: str | None = None
    ) -> Sequence[ScheduleItem]:
        """Items that start before ``end`` and end at or after ``start``, ordered by start: a
        superset of those overlapping [start, end) that keeps instant items at ``start``.

        Uses the (starts_at, ends_at) index. Callers filter precisely, and widen the window by a
        day where all-day items (stored at UTC midnights) may belong to a local week."""
        q = select(ScheduleItem).where(ScheduleItem.starts_at < end, ScheduleItem.ends_at >= start)
        if team is not None:
            q = q.where(ScheduleItem.team == team)
        if source is not None:
            q = q.where(ScheduleItem.source == source)
        return self.session.exec(q.order_by(col(ScheduleItem.starts_at), col(ScheduleItem.id))).all()

    def rows_overlapping(self, start: datetime, end: datetime) -> Sequence[sa.Row]:
        """Like ``overlapping``, as plain read-only rows (attributes named like the columns):
        several times faster to load than ORM objects, for views of a whole week."""
        t = table_of(ScheduleItem)
        shown = [c for c in t.c if c.name not in ("external_id", "source", "created_at")]  # what views read
        q = sa.select(*shown).where(t.c.starts_at < end, t.c.ends_at >= start).order_by(t.c.starts_at, t.c.id)
        return self.session.execute(q).all()

    def add(self, item: ScheduleItem) -> ScheduleItem:
        self.session.add(item)
        self.session.flush()
        return item

    def create(self, **fields: Any) -> ScheduleItem:
        """A new item from its columns' values (``team``, ``kind``, ``title``, ``starts_at``, ...), stored."""
        return self.add(ScheduleItem(**fields))

    def upsert_many(self, rows: list[dict]) -> None:
        """Insert or update items by ``external_id`` in one statement per 500 rows.

        Each row has ``external_id`` and every column in ``UPSERT_COLUMNS`` (and ``created_at``)."""
        table = table_of(ScheduleItem)
        for i in range(0, len(rows), 500):
            self.upsert(table, rows[i : i + 500], ["external_id"], UPSERT_COLUMNS)

    def delete_many(self, item_ids: Iterable[int]) -> int:
        ids = sorted(set(item_ids))
        if not ids:
            return 0
        t = table_of(ScheduleItem)
        res = self.session.exec(sa.delete(t).where(self.one_of(t.c.id, ids)))
        self.session.expire_all()
        return res.rowcount or 0
