from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, func, select

from storage.models import Bounce, LeadTouch
from storage.repos.base import Repo, built_once, table_of


@dataclass(frozen=True)
class ReasonCount:
    """One line of the weekly report: bounces of one campaign (None: no source campaign) for
    one reason, and how many of them were repeats."""

    campaign_id: int | None
    reason: str
    count: int
    repeats: int


@dataclass(frozen=True)
class BounceFacts:
    """What a new bounce of a lead records besides the lead itself: whether the lead bounced
    before for the same reason, and its follow-ups (how many, the last one's time)."""

    repeat: bool
    follow_ups: int
    last_follow_up_at: datetime | None


class BouncesRepo(Repo):
    def get(self, bounce_id: int) -> Bounce | None:
        return self.session.get(Bounce, bounce_id)

    def get_for_update(self, bounce_id: int) -> Bounce | None:
        """The bounce, locked until the transaction ends (two marketers pressing one button)."""
        return self.session.exec(
            select(Bounce).where(Bounce.id == bounce_id).with_for_update().execution_options(populate_existing=True)
        ).first()

    def for_lead(self, lead_id: int) -> Sequence[Bounce]:
        """A lead's bounces, oldest first: its bounce history."""
        return self.session.exec(
            select(Bounce).where(Bounce.lead_id == lead_id).order_by(col(Bounce.at), col(Bounce.id))
        ).all()

    def for_leads(self, lead_ids: Iterable[int]) -> dict[int, list[Bounce]]:
        """The bounce histories of many leads (oldest first), in one query; leads without
        bounces are absent."""
        ids = list(set(lead_ids))
        if not ids:
            return {}
        out: dict[int, list[Bounce]] = {}
        for b in self.session.exec(
            select(Bounce).where(self.one_of(Bounce.lead_id, ids)).order_by(col(Bounce.at), col(Bounce.id))
        ):
            out.setdefault(b.lead_id, []).append(b)
        return out

    def facts(self, *, lead_id: int, reason: str | None, since: datetime | None) -> BounceFacts:
        """Whether the lead bounced before for ``reason`` (False without one), and the lead's
        follow-ups at or after ``since`` (all of them when None): one query."""
        params: dict = {"lead_id": lead_id}
        if reason is not None:
            params["reason"] = reason
        if since is not None:
            params["since"] = since
        row = self.session.execute(_facts_statement(reason is not None, since is not None), params).one()
        return BounceFacts(bool(row[0]), int(row[1]), row[2])

    def add(self, bounce: Bounce) -> Bounce:
        self.session.add(bounce)
        self.session.flush()
        return bounce

    def create(
        self,
        *,
        lead_id: int,
        reason: str,
        at: datetime,
        campaign_id: int | None = None,
        note: str | None = None,
        by_person_id: int | None = None,
        repeat: bool = False,
        context: dict | None = None,
    ) -> Bounce:
        """A new bounce, stored (it has its id) by one ``INSERT .. RETURNING``, not the ORM's
        flush (which cost a bounce more than the statement itself), and part of the unit of
        work from then on as if it had been read: a change to it is written at the next flush."""
        bounce = Bounce(
            lead_id=lead_id,
            campaign_id=campaign_id,
            reason=reason,
            note=note,
            by_person_id=by_person_id,
            at=at,
            repeat=repeat,
            context=context if context is not None else {},
        )
        t = table_of(Bounce)
        values = {c.name: getattr(bounce, c.name) for c in t.columns if c.name != "id"}
        insert = built_once(("bounces.create",), lambda: sa.insert(t).returning(t.c.id))
        bounce.id = self.session.execute(insert, values).scalar_one()
        make_transient_to_detached(bounce)
        self.session.add(bounce)
        return bounce

    def open_for_leads(self, lead_ids: Iterable[int]) -> Sequence[Bounce]:
        """The bounces of these leads not yet closed by a re-qualification, in one query."""
        ids = list(set(lead_ids))
        if not ids:
            return []
        return self.session.exec(
            select(Bounce)
            .where(self.one_of(Bounce.lead_id, ids), col(Bounce.requalified_at).is_(None))
            .order_by(col(Bounce.id))
        ).all()

    def mark_requalified(self, *, lead_ids: Iterable[int], at: datetime, by_person_id: int | None = None) -> int:
        """Close the open bounces of these leads (back in sales) in one statement; returns how many."""
        ids = list(set(lead_ids))
        if not ids:
            return 0
        res = self.session.exec(
            sa.update(Bounce)
            .where(self.one_of(Bounce.lead_id, ids), col(Bounce.requalified_at).is_(None))
            .values(requalified_at=at, requalified_by_id=by_person_id)
            .execution_options(synchronize_session="fetch")  # loaded Bounce rows see the change
        )
        return res.rowcount or 0

    def reasons_by_campaign(self, *, since: datetime, until: datetime) -> list[ReasonCount]:
        """Bounces in [since, until) counted by source campaign and reason, in one query."""
        rows = self.session.exec(
            select(
                Bounce.campaign_id,
                Bounce.reason,
                func.count(),
                func.sum(sa.case((col(Bounce.repeat), 1), else_=0)),
            )
            .where(Bounce.at >= since, Bounce.at < until)
            .group_by(col(Bounce.campaign_id), col(Bounce.reason))
        ).all()
        return [ReasonCount(c, r, int(n), int(rep or 0)) for c, r, n, rep in rows]


def _facts_statement(with_reason: bool, with_since: bool) -> sa.Select:
    """``BouncesRepo.facts``'s query, built once per shape with bound parameters: building it on
    every bounce cost more than running it."""

    def build() -> sa.Select:
        t, b = table_of(LeadTouch), table_of(Bounce)
        since = [t.c.occurred_at >= sa.bindparam("since", type_=t.c.occurred_at.type)] if with_since else []
        touches = (
            sa.select(sa.func.count().label("n"), sa.func.max(t.c.occurred_at).label("last"))
            .where(t.c.lead_id == sa.bindparam("lead_id"), *since)
            .subquery()
        )
        repeat = (
            sa.exists().where(b.c.lead_id == sa.bindparam("lead_id"), b.c.reason == sa.bindparam("reason"))
            if with_reason
            else sa.false()
        )
        return sa.select(repeat, touches.c.n, touches.c.last)

    return built_once(("bounces.facts", with_reason, with_since), build)
