"""The joint review's action items, and what its agenda asks of the leads."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import ActionItem, Lead
from storage.repos.base import Repo, table_of


class ReviewRepo(Repo):
    def add(self, item: ActionItem) -> ActionItem:
        self.session.add(item)
        self.session.flush()
        return item

    def create(
        self,
        *,
        owner_id: int,
        text: str,
        due_on: date,
        created_by_id: int | None,
        created_at: datetime,
        meeting_on: date,
        source_key: str | None = None,
        source_text: str | None = None,
    ) -> ActionItem:
        """A new open action item, stored (flushed: it has its id)."""
        return self.add(
            ActionItem(
                owner_id=owner_id,
                text=text,
                due_on=due_on,
                created_by_id=created_by_id,
                created_at=created_at,
                meeting_on=meeting_on,
                source_key=source_key,
                source_text=source_text,
            )
        )

    def get_for_update(self, item_id: int) -> ActionItem | None:
        q = select(ActionItem).where(ActionItem.id == item_id).execution_options(populate_existing=True)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        return self.session.exec(q).first()

    def open_items(self, limit: int = 200) -> Sequence[ActionItem]:
        """Open items, soonest due first."""
        return self.session.exec(
            select(ActionItem)
            .where(ActionItem.status == "open")
            .order_by(col(ActionItem.due_on), col(ActionItem.id))
            .limit(limit)
        ).all()

    def done_since(self, since: datetime, limit: int = 100) -> Sequence[ActionItem]:
        return self.session.exec(
            select(ActionItem)
            .where(ActionItem.status == "done", col(ActionItem.done_at) >= since)
            .order_by(col(ActionItem.done_at), col(ActionItem.id))
            .limit(limit)
        ).all()

    def created_between(self, start: datetime, end: datetime) -> Sequence[ActionItem]:
        return self.session.exec(
            select(ActionItem)
            .where(ActionItem.created_at >= start, ActionItem.created_at < end)
            .order_by(col(ActionItem.id))
        ).all()

    def to_remind(self, *, due_by: date) -> Sequence[ActionItem]:
        """Open items not reminded yet, due on or before ``due_by``."""
        return self.session.exec(
            select(ActionItem)
            .where(ActionItem.status == "open", col(ActionItem.reminded_at).is_(None), ActionItem.due_on <= due_by)
            .order_by(col(ActionItem.due_on), col(ActionItem.id))
        ).all()

    def mark_reminded(self, item_id: int, at: datetime) -> bool:
        """Claim an item's reminder (once, whatever the replicas)."""
        t = table_of(ActionItem)
        res = self.session.exec(sa.update(t).where(t.c.id == item_id, t.c.reminded_at.is_(None)).values(reminded_at=at))
        return res.rowcount == 1

    def breached_between(self, start: datetime, end: datetime, limit: int = 5) -> tuple[int, list[Lead]]:
        """Handoffs whose SLA ran out in [start, end) without a first touch in time: how many,
        and the first ``limit`` of them."""
        t = table_of(Lead)
        late = sa.and_(
            t.c.qualified_at >= start - timedelta(days=30),
            t.c.qualified_at < end,
            t.c.handoff_due_at >= start,
            t.c.handoff_due_at < end,
            sa.or_(t.c.first_touch_at.is_(None), t.c.first_touch_at > t.c.handoff_due_at),
        )
        # A handoff is due within days of it: the range on qualified_at reads ix_lead_scoreboard.
        n = int(self.session.execute(sa.select(sa.func.count()).where(late)).scalar_one())
        rows = self.session.exec(select(Lead).where(late).order_by(col(Lead.handoff_due_at)).limit(limit)).all()
        return n, list(rows)
