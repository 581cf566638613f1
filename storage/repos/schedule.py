from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlmodel import select

from storage.models import ScheduleItem
from storage.repos.base import Repo


class ScheduleRepo(Repo):
    def get(self, item_id: int) -> ScheduleItem | None:
        return self.session.get(ScheduleItem, item_id)

    def by_external_id(self, external_id: str) -> ScheduleItem | None:
        return self.session.exec(select(ScheduleItem).where(ScheduleItem.external_id == external_id)).first()

    def overlapping(self, start: datetime, end: datetime) -> Sequence[ScheduleItem]:
        """Items that overlap [start, end)."""
        return self.session.exec(
            select(ScheduleItem)
            .where(ScheduleItem.starts_at < end, ScheduleItem.ends_at > start)
            .order_by(ScheduleItem.starts_at, ScheduleItem.id)
        ).all()

    def add(self, item: ScheduleItem) -> ScheduleItem:
        self.session.add(item)
        self.session.flush()
        return item
