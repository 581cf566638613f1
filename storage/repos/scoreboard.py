"""The agreement's scoreboard: a period's numbers, counted in the database.

Every question is one aggregate query bounded by the period and answered from an index where it
can be: ``ix_lead_scoreboard`` (handoffs by time, owner, campaign and outcome), ``ix_lead_pipeline``
(open leads by owner and age), ``ix_bounce_at_campaign_reason`` and ``ix_deal_closed_totals``.
Nothing walks the leads in Python: a company with 1M leads answers in tens of milliseconds.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col

from storage.models import Bounce, Campaign, ChartImage, Deal, HomeView, Lead, Person
from storage.repos.base import Repo, table_of

ATTR_FIELDS = ("region", "segment")  # lead fields from the CRM the agreement can target


@dataclass(frozen=True)
class HandoffCounts:
    """Handoffs of one owner and one source campaign in a period, and what became of them."""

    owner_id: int | None
    campaign_id: int | None
    delivered: int  # handed to sales in the period
    accepted: int  # followed up by sales
    rejected: int  # bounced back (or disqualified) without a follow-up
    decided: int  # SLA decided: followed up, or the SLA ran out
    in_time: int  # first follow-up within the SLA
    converted: int  # ended in a won deal


class TouchTime(tuple):
    """One handoff's time to first touch, in seconds: waiting for an owner, then the rep's own
    (a plain tuple: tens of thousands are read per scoreboard)."""

    __slots__ = ()

    def __new__(cls, owner_id, campaign_id, wait, rep):
        return tuple.__new__(cls, (owner_id, campaign_id, wait, rep))

    owner_id = property(lambda self: self[0])
    campaign_id = property(lambda self: self[1])
    wait = property(lambda self: self[2])
    rep = property(lambda self: self[3])


@dataclass(frozen=True)
class FirstTouch:
    """Time to first touch of a set of handoffs, in seconds: (total, waiting for an owner, the
    rep's own) at the median (the mean of the middle two of an even count) and at the 90th
    percentile (nearest rank)."""

    count: int
    median: tuple[float, float, float]
    p90: tuple[float, float, float]


def _median(ordered: list[float]) -> float:
    n, mid = len(ordered), len(ordered) // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def first_touch_of(times: Sequence[tuple[float, float]]) -> FirstTouch | None:
    """``FirstTouch`` of (waiting, rep) pairs in seconds, in Python (SQLite; the tests' fakes)."""
    if not times:
        return None
    waits, reps = sorted(w for w, _ in times), sorted(r for _, r in times)
    totals = sorted(w + r for w, r in times)
    return FirstTouch(
        len(times),
        (_median(totals), _median(waits), _median(reps)),
        (_nearest_rank(totals, 0.9), _nearest_rank(waits, 0.9), _nearest_rank(reps, 0.9)),
    )


@dataclass(frozen=True)
class Revenue:
    campaign_id: int | None
    currency: str
    sourced_minor: int  # deals whose first touch was this campaign
    sourced_deals: int
    influenced_minor: int  # deals whose last touch was this campaign
    influenced_deals: int


def _bind(compiled, key: str, value):
    """A bound value as the driver takes it (the column type's bind processor applied)."""
    proc = compiled.binds[key].type._cached_bind_processor(compiled.dialect)
    return proc(value) if proc and value is not None else value


def _n(cond) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


class ScoreboardRepo(Repo):
    def _seconds(self, later, earlier) -> sa.ColumnElement:
        if self.dialect == "postgresql":  # a float, not numeric: no Decimal per row
            return sa.cast(sa.func.extract("epoch", later - earlier), sa.Float)
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0

    def _attr(self, name: str) -> sa.ColumnElement:
        assert name in ATTR_FIELDS
        return table_of(Lead).c[name]

    def _lead_filters(
        self, *, owner_ids: Iterable[int] | None, campaign_ids: Iterable[int] | None, attr: tuple[str, str] | None
    ) -> list:
        t = table_of(Lead)
        where = []
        if owner_ids is not None:
            where.append(self.one_of(t.c.owner_id, list(owner_ids) or [0]))
        if campaign_ids is not None:
            where.append(self.one_of(t.c.source_campaign_id, list(campaign_ids) or [0]))
        if attr is not None:
            where.append(self._attr(attr[0]) == attr[1])
        return where

    def handoffs(
        self,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        owner_ids: Iterable[int] | None = None,
        campaign_ids: Iterable[int] | None = None,
        attr: tuple[str, str] | None = None,
    ) -> list[HandoffCounts]:
        """The period's handoffs counted by owner and source campaign (one index range scan)."""
        t = table_of(Lead)
        touched = t.c.first_touch_at.is_not(None)
        decided = sa.and_(t.c.handoff_due_at.is_not(None), sa.or_(touched, t.c.handoff_due_at <= now))
        q = (
            sa.select(
                t.c.owner_id,
                t.c.source_campaign_id,
                sa.func.count(),
                _n(touched),
                _n(sa.and_(t.c.first_touch_at.is_(None), t.c.status.in_(("nurture", "disqualified")))),
                _n(decided),
                _n(sa.and_(touched, t.c.first_touch_at <= t.c.handoff_due_at)),
                _n(t.c.status == "converted"),
            )
            .where(
                t.c.qualified_at >= start,
                t.c.qualified_at < end,
                *self._lead_filters(owner_ids=owner_ids, campaign_ids=campaign_ids, attr=attr),
            )
            .group_by(t.c.owner_id, t.c.source_campaign_id)
        )
        return [HandoffCounts(o, c, *(int(v) for v in rest)) for o, c, *rest in self.session.execute(q)]

    def _touch_select(self, start: datetime, end: datetime, filters: dict, *, clamp: bool = False) -> sa.Select:
        """Each followed-up handoff of the period: its owner and source campaign, the seconds it
        waited for an owner (handoff to claim, zero when it had one) and the rep's own seconds
        (owner to first touch), computed in SQL; ``clamp``: never negative nor null."""
        t = table_of(Lead)
        owned_at = sa.case((t.c.claimed_at > t.c.qualified_at, t.c.claimed_at), else_=t.c.qualified_at)
        owned_at = sa.case((owned_at > t.c.first_touch_at, t.c.first_touch_at), else_=owned_at)
        wait, rep = self._seconds(owned_at, t.c.qualified_at), self._seconds(t.c.first_touch_at, owned_at)
        if clamp:
            wait, rep = (sa.func.greatest(sa.func.coalesce(v, 0.0), 0.0) for v in (wait, rep))
        return sa.select(t.c.owner_id, t.c.source_campaign_id, wait.label("w"), rep.label("r")).where(
            t.c.qualified_at >= start,
            t.c.qualified_at < end,
            t.c.first_touch_at.is_not(None),
            *self._lead_filters(**filters),
        )

    def _touch_times(self, start: datetime, end: datetime, filters: dict) -> list[TouchTime]:
        """``_touch_select``'s rows as plain tuples straight from the driver (~20,000 a month at
        1M leads: no Row objects)."""
        compiled = self._touch_select(start, end, filters).compile(dialect=self.session.get_bind().dialect)
        params = compiled.construct_params()
        positional = getattr(compiled, "positiontup", None)
        args = (
            tuple(_bind(compiled, k, params[k]) for k in positional)
            if positional
            else {k: _bind(compiled, k, v) for k, v in params.items()}
        )
        cursor = self.session.connection().exec_driver_sql(str(compiled), args)
        return [
            TouchTime(o, c, float(w) if w and w > 0 else 0.0, float(r) if r and r > 0 else 0.0)
            for o, c, w, r in cursor.fetchall()
        ]

    def first_touch(
        self,
        *,
        start: datetime,
        end: datetime,
        owner_ids: Iterable[int] | None = None,
        campaign_ids: Iterable[int] | None = None,
        attr: tuple[str, str] | None = None,
        per_owner: bool = False,
    ) -> tuple[FirstTouch | None, dict[int | None, FirstTouch]]:
        """The period's time to first touch (``FirstTouch``) for all its followed-up handoffs and,
        with ``per_owner``, for each owner's. On PostgreSQL the quantiles are computed in the
        query (``percentile_cont``/``percentile_disc`` over grouping sets: one row per owner, not
        one per handoff, ~20,000 a month at 1M leads); on SQLite in Python (``first_touch_of``)."""
        filters = {"owner_ids": owner_ids, "campaign_ids": campaign_ids, "attr": attr}
        if self.dialect != "postgresql":
            rows = self._touch_times(start, end, filters)
            groups: dict[int | None, list[tuple[float, float]]] = defaultdict(list)
            if per_owner:
                for r in rows:
                    groups[r.owner_id].append((r.wait, r.rep))
            per = {k: f for k, v in groups.items() if (f := first_touch_of(v)) is not None}
            return first_touch_of([(r.wait, r.rep) for r in rows]), per
        inner = self._touch_select(start, end, filters, clamp=True).subquery()
        total = inner.c.w + inner.c.r
        quantiles = [sa.func.percentile_cont(0.5).within_group(v) for v in (total, inner.c.w, inner.c.r)] + [
            sa.func.percentile_disc(0.9).within_group(v) for v in (total, inner.c.w, inner.c.r)
        ]
        if per_owner:  # GROUPING(owner_id) is 1 on the row of everyone
            q = sa.select(inner.c.owner_id, sa.func.grouping(inner.c.owner_id), sa.func.count(), *quantiles).group_by(
                sa.func.grouping_sets(sa.tuple_(inner.c.owner_id), sa.tuple_())
            )
        else:
            q = sa.select(sa.null(), sa.literal(1), sa.func.count(), *quantiles).select_from(inner)
        whole, per = None, {}
        for owner_id, is_all, n, *v in self.session.execute(q):
            if not n:
                continue
            got = FirstTouch(n, (v[0], v[1], v[2]), (v[3], v[4], v[5]))
            if is_all:
                whole = got
            else:
                per[owner_id] = got
        return whole, per

    def handoffs_by_attr(
        self,
        field: str,
        *,
        start: datetime,
        end: datetime,
        owner_ids: Iterable[int] | None = None,
        campaign_ids: Iterable[int] | None = None,
    ) -> dict[str, int]:
        """The period's handoffs counted by a CRM field of the lead (``region``, ``segment``)."""
        assert field in ATTR_FIELDS
        t = table_of(Lead)
        value = self._attr(field)
        q = (
            sa.select(value, sa.func.count())
            .where(
                t.c.qualified_at >= start,
                t.c.qualified_at < end,
                *self._lead_filters(owner_ids=owner_ids, campaign_ids=campaign_ids, attr=None),
            )
            .group_by(value)
        )
        return {v: int(n) for v, n in self.session.execute(q) if v is not None}

    def attr_exists(self, field: str, value: str) -> bool:
        """Whether any lead has this value of a CRM field (case as stored)."""
        assert field in ATTR_FIELDS
        t = table_of(Lead)
        q = sa.select(t.c.id).where(self._attr(field) == value).limit(1)
        return self.session.execute(q).first() is not None

    def attr_values(self, field: str, limit: int = 20) -> list[str]:
        """Some values of a CRM field that leads have (for "did you mean")."""
        assert field in ATTR_FIELDS
        t = table_of(Lead)
        value = self._attr(field)
        recent = (
            sa.select(value.label("v"))
            .where(t.c.qualified_at.is_not(None))
            .order_by(t.c.qualified_at.desc())
            .limit(2000)
            .subquery()
        )
        q = sa.select(recent.c.v).where(recent.c.v.is_not(None)).distinct().limit(limit)
        return sorted(v for (v,) in self.session.execute(q))

    def weekly(
        self,
        *,
        start: datetime,
        weeks: int,
        now: datetime,
        owner_ids: Iterable[int] | None = None,
        campaign_ids: Iterable[int] | None = None,
    ) -> dict[int, tuple[int, int, int]]:
        """Handoffs of ``weeks`` weeks from ``start`` by week number (0..weeks-1): (delivered,
        SLA decided, in time)."""
        t = table_of(Lead)
        end = start + timedelta(days=7 * weeks)
        week: sa.ColumnElement[Any]
        if self.dialect == "postgresql":
            week = sa.func.floor(sa.func.extract("epoch", t.c.qualified_at - start) / 604800)
        else:
            week = sa.cast((sa.func.julianday(t.c.qualified_at) - sa.func.julianday(start)) / 7, sa.Integer)
        touched = t.c.first_touch_at.is_not(None)
        decided = sa.and_(t.c.handoff_due_at.is_not(None), sa.or_(touched, t.c.handoff_due_at <= now))
        q = (
            sa.select(
                week.label("w"),
                sa.func.count(),
                _n(decided),
                _n(sa.and_(touched, t.c.first_touch_at <= t.c.handoff_due_at)),
            )
            .where(
                t.c.qualified_at >= start,
                t.c.qualified_at < end,
                *self._lead_filters(owner_ids=owner_ids, campaign_ids=campaign_ids, attr=None),
            )
            .group_by(sa.text("w"))
        )
        return {int(w): (int(n), int(d), int(i)) for w, n, d, i in self.session.execute(q)}

    def pipeline_age(
        self,
        *,
        now: datetime,
        bounds_days: Sequence[int],
        owner_ids: Iterable[int] | None = None,
        campaign_ids: Iterable[int] | None = None,
    ) -> tuple[list[int], datetime | None, int]:
        """Open qualified leads counted by age since the handoff: one count per bucket of
        ``bounds_days`` (``[1, 7, 30]`` -> under 1 day, 1-7, 7-30, 30 and more), the oldest
        handoff, and how many are past their SLA now."""
        t = table_of(Lead)
        edges = [now - timedelta(days=d) for d in bounds_days]
        cols = []
        newer = None
        for edge in edges:
            cond = (
                t.c.qualified_at > edge
                if newer is None
                else sa.and_(t.c.qualified_at > edge, t.c.qualified_at <= newer)
            )
            cols.append(_n(cond))
            newer = edge
        cols.append(_n(t.c.qualified_at <= edges[-1]))
        # Only the status (a literal, so prepared plans still prove the partial index): with a
        # condition on qualified_at too, SQLite walks every handoff in ix_lead_scoreboard instead.
        where = [t.c.status == sa.literal_column("'qualified'")]
        if campaign_ids is not None:
            where += self._lead_filters(owner_ids=None, campaign_ids=campaign_ids, attr=None)
        if owner_ids is not None:
            where += self._lead_filters(owner_ids=owner_ids, campaign_ids=None, attr=None)
        row = self.session.execute(
            sa.select(*cols, _n(t.c.sla_due_at < now), sa.func.min(t.c.qualified_at)).where(*where)
        ).one()
        return [int(v) for v in row[:-2]], row[-1], int(row[-2])

    def bounce_reasons(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_ids: Iterable[int] | None = None,
        owner_ids: Iterable[int] | None = None,
    ) -> list[tuple[int | None, str, int]]:
        """Bounces in the period by source campaign and reason: (campaign id, reason, count).
        ``owner_ids`` keeps the bounces made by those people."""
        b = table_of(Bounce)
        where = [b.c.at >= start, b.c.at < end]
        if campaign_ids is not None:
            where.append(self.one_of(b.c.campaign_id, list(campaign_ids) or [0]))
        if owner_ids is not None:
            where.append(self.one_of(b.c.by_person_id, list(owner_ids) or [0]))
        q = sa.select(b.c.campaign_id, b.c.reason, sa.func.count()).where(*where).group_by(b.c.campaign_id, b.c.reason)
        return [(c, r, int(n)) for c, r, n in self.session.execute(q)]

    def revenue(
        self,
        *,
        start: datetime,
        end: datetime,
        campaign_ids: Iterable[int] | None = None,
        owner_ids: Iterable[int] | None = None,
    ) -> list[Revenue]:
        """Won revenue of deals closed in the period, by campaign: sourced (first touch) and
        influenced (last touch). ``campaign_ids`` keeps those campaigns' credit; ``owner_ids``
        keeps the deals those reps own."""
        d = table_of(Deal)
        src, conv = d.c.attrs["sourced_by"].as_integer(), d.c.attrs["converted_by"].as_integer()
        where = [d.c.closed_at >= start, d.c.closed_at < end]
        if owner_ids is not None:
            where.append(self.one_of(d.c.owner_id, list(owner_ids) or [0]))
        inner = sa.select(src.label("src"), conv.label("conv"), d.c.currency, d.c.amount_minor).where(*where).subquery()
        # One pass over the period's deals, grouped by both credits at once (at most campaigns²
        # rows per currency), then summed each way here: the deals' rows are read once, not twice.
        q = sa.select(
            inner.c.src, inner.c.conv, inner.c.currency, sa.func.sum(inner.c.amount_minor), sa.func.count()
        ).group_by(inner.c.src, inner.c.conv, inner.c.currency)
        out: dict[tuple, list[int]] = {}
        for s_id, c_id, cur, total, n in self.session.execute(q):
            total, n = int(total or 0), int(n)
            cell = out.setdefault((s_id, cur), [0, 0, 0, 0])
            cell[0] += total
            cell[1] += n
            cell = out.setdefault((c_id, cur), [0, 0, 0, 0])
            cell[2] += total
            cell[3] += n
        keep = set(campaign_ids) if campaign_ids is not None else None
        return [Revenue(cid, cur, *v) for (cid, cur), v in out.items() if keep is None or cid in keep]

    def campaigns_of(self, owner_ids: Iterable[int]) -> list[int]:
        c = table_of(Campaign)
        ids = list(owner_ids)
        if not ids:
            return []
        return [i for (i,) in self.session.execute(sa.select(c.c.id).where(self.one_of(c.c.owner_id, ids)))]

    def reports_of(self, manager_id: int) -> list[Person]:
        return list(
            self.session.execute(
                sa.select(Person).where(col(Person.manager_id) == manager_id).order_by(col(Person.name))
            ).scalars()
        )

    # -- home views: a person's queue --------------------------------------------------------
    def open_by_owner(self, owner_ids: Iterable[int], *, now: datetime) -> dict[int, tuple[int, int]]:
        """Open qualified leads per owner: (open, past their SLA now), from ``ix_lead_open``."""
        t = table_of(Lead)
        ids = list(owner_ids)
        if not ids:
            return {}
        q = (
            sa.select(t.c.owner_id, sa.func.count(), _n(t.c.sla_due_at < now))
            .where(t.c.status == sa.literal_column("'qualified'"), self.one_of(t.c.owner_id, ids))
            .group_by(t.c.owner_id)
        )
        return {o: (int(n), int(b)) for o, n, b in self.session.execute(q)}

    def escalated(self, owner_ids: Iterable[int], *, limit: int) -> list[Lead]:
        """Open leads of these owners whose ladder reached the manager (step 3) or the channel,
        oldest breach first."""
        ids = list(owner_ids)
        if not ids:
            return []
        return list(
            self.session.execute(
                sa.select(Lead)
                .where(
                    col(Lead.status) == sa.literal_column("'qualified'"),
                    self.one_of(Lead.owner_id, ids),
                    col(Lead.ladder_step) >= 3,
                )
                .order_by(col(Lead.sla_due_at), col(Lead.id))
                .limit(limit)
            ).scalars()
        )

    def bounces_by(self, person_id: int, *, since: datetime, limit: int) -> list[tuple[Bounce, Lead]]:
        """The bounces a person made since ``since``, newest first, with their leads."""
        q = (
            sa.select(Bounce, Lead)
            .join(Lead, col(Lead.id) == Bounce.lead_id)
            .where(col(Bounce.by_person_id) == person_id, col(Bounce.at) >= since)
            .order_by(col(Bounce.at).desc(), col(Bounce.id).desc())
            .limit(limit)
        )
        return [(b, l) for b, l in self.session.execute(q).all()]

    # -- chart images ----------------------------------------------------------------------
    def save_image(self, *, key: str, token: str, data: bytes, at: datetime, content_type: str = "image/png") -> bool:
        """Store a picture under ``key`` once (a second replica's copy is ignored)."""
        rows = [dict(key=key, token=token, content_type=content_type, data=data, created_at=at)]
        self.session.flush()
        t = table_of(ChartImage)
        if self.session.execute(sa.select(t.c.id).where(t.c.key == key)).first():
            return False
        self.insert_ignore(t, rows)
        return True

    def image(self, key: str) -> ChartImage | None:
        return self.session.execute(sa.select(ChartImage).where(col(ChartImage.key) == key)).scalars().first()

    def image_by_token(self, token: str) -> ChartImage | None:
        return self.session.execute(sa.select(ChartImage).where(col(ChartImage.token) == token)).scalars().first()

    # -- home views ------------------------------------------------------------------------
    def home(self, person_id: int, *, for_update: bool = False) -> HomeView | None:
        q = sa.select(HomeView).where(col(HomeView.person_id) == person_id)
        if for_update and self.dialect == "postgresql":
            q = q.with_for_update()
        return self.session.execute(q.execution_options(populate_existing=True)).scalars().first()

    def homes_opened(self) -> list[HomeView]:
        """People who opened their Home at least once: theirs are kept up to date."""
        return list(
            self.session.execute(
                sa.select(HomeView).where(col(HomeView.opened_at).is_not(None)).order_by(col(HomeView.person_id))
            ).scalars()
        )

    def change_stamp(self) -> list[int]:
        """The newest row of each table whose rows change what a Home shows (messages, follow-ups,
        bounces, deals, action items): five primary-key look-ups. Equal stamps, nothing new."""
        from storage.models import ActionItem, LeadTouch, Outbox

        return [
            int(self.session.execute(sa.select(sa.func.max(m.id))).scalar() or 0)
            for m in (Outbox, LeadTouch, Bounce, Deal, ActionItem)
        ]

    def ensure_home(self, person_id: int) -> None:
        self.insert_ignore(table_of(HomeView), [dict(person_id=person_id, digest="", version=0)])

    def save_home(self, home: HomeView) -> None:
        self.session.add(home)
        self.session.flush()
