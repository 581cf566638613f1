"""The smarketing agreement's scoreboard: both teams' numbers against what they promised.

- **The agreement** (``agreement:`` in the config): marketing's monthly qualified leads (overall,
  by region, by segment), and sales' acceptance rate, share of first touches within the SLA and
  conversion to won, and the revenue campaigns should source. A week's target is the month's
  pro rata.
- **The scoreboard** (``/smarketing sla [this-month|last-month|week|last-week|YYYY-MM]
  [region <name>|segment <name>]``) is read from stored data for the period and scoped to what the
  asker can act on: a rep their own line, a sales manager each of their reps, a marketer their
  campaigns (a marketing manager their team's), an admin everything.
- **The weekly post** (job ``scoreboard_weekly``): at ``agreement.weekly_post`` in each team's
  timezone, to each team's channel, once per team per ISO week (outbox key
  ``scoreboard:weekly:{team}:{week}``), with a chart of targets against actuals over the last weeks
  (stored once per week under ``scoreboard:chart:{week}``) and a text that carries the same numbers.
- **Recognition** (job ``recognition``): after a month ends, one post in the wins channel crediting
  the campaign that sourced the most won revenue, its marketer, and the rep with the best SLA line.

Time to first touch is elapsed time, split at the moment the lead had an owner: *waiting for an
owner* (handoff to claim; zero for a lead handed over with its owner) and *rep time* (owner to
first follow-up). The SLA share is the business-hours verdict stored with each handoff.
"""

from __future__ import annotations

import calendar as cal
import hashlib
import math
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from handlers import notify
from handlers import schedule_rules as srules
from handlers import scoreboard_messages as views
from handlers.errors import Invalid, NotAllowed
from handlers.messages import Reply
from handlers.money import format_money, from_minor, to_minor
from handlers.ports import Actor, Deps, FirstTouch, UnitOfWork, UowFactory, channel
from handlers.registry import Flow, JobResult

UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
AGE_BOUNDS = (1, 7, 30)  # pipeline age buckets, in days
TOP = 8  # campaigns / reasons listed
USAGE = (
    "Try `/smarketing sla` (this month), `sla last-month`, `sla week`, `sla last-week`, `sla 2026-10`, "
    "optionally with `region <name>` or `segment <name>` (admins: `sla all …` for the whole company)."
)


# --- who sees what ----------------------------------------------------------------------------


@dataclass
class Scope:
    """What a person's scoreboard covers. ``owner_ids``/``campaign_ids`` None: no restriction."""

    kind: str  # rep | manager | marketer | admin
    person_id: int | None
    owner_ids: list[int] | None = None
    campaign_ids: list[int] | None = None
    reps: dict[int, str] = field(default_factory=dict)  # manager: their reps, by id -> name


def scope_of(uow: UnitOfWork, person, *, everything: bool = False) -> Scope:
    """A person's role decides their scoreboard; an admin who is also a manager or a marketer sees
    their own part unless they ask for everything (``sla all``)."""
    if person is None:
        raise NotAllowed("I don't know who you are yet: ask an admin to add your email to the Smarketing config.")
    if everything and not person.is_admin:
        raise NotAllowed("Only admins see the whole company's scoreboard; `/smarketing sla` shows yours.")
    if everything or person.role == "admin" or (person.is_admin and person.role not in ("manager", "marketer")):
        return Scope("admin", person.id)
    if person.team == "marketing":
        owners = [person.id]
        if person.role == "manager":
            owners += [p.id for p in uow.scoreboard.reports_of(person.id)]
        return Scope("marketer", person.id, campaign_ids=uow.scoreboard.campaigns_of(owners))
    if person.role == "manager":
        reps = {p.id: p.name for p in uow.scoreboard.reports_of(person.id)}
        return Scope("manager", person.id, owner_ids=list(reps), reps=reps)
    return Scope("rep", person.id, owner_ids=[person.id])


# --- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    kind: str  # month | week
    label: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    share_of_month: float  # a week's (or a partial period's) share of a month's target
    current: bool  # the period is still running

    def key(self) -> str:
        return f"{self.kind}:{self.start.isoformat()}"


def month_period(year: int, month: int, tz: ZoneInfo, now: datetime) -> Period:
    start = datetime(year, month, 1, tzinfo=tz)
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    s, e = start.astimezone(UTC), nxt.astimezone(UTC)
    return Period("month", f"{start:%B %Y}", s, e, 1.0, s <= now < e)


def week_period(monday: date, tz: ZoneInfo, now: datetime) -> Period:
    s = srules.local_midnight(monday, tz)
    e = srules.local_midnight(monday + timedelta(days=7), tz)
    days = cal.monthrange(monday.year, monday.month)[1]
    return Period("week", f"week of {monday:%-d %b %Y}", s, e, 7 / days, s <= now < e)


def parse_period(text: str, now: datetime, tz: ZoneInfo) -> Period:
    """The period a person asked for; ``Invalid`` naming what was not understood."""
    word = text.strip().lower().replace(" ", "-").replace("_", "-")
    local = now.astimezone(tz)
    if word in ("", "month", "this-month"):
        return month_period(local.year, local.month, tz, now)
    if word in ("last-month", "previous-month"):
        first = local.date().replace(day=1) - timedelta(days=1)
        return month_period(first.year, first.month, tz, now)
    if word in ("week", "this-week"):
        return week_period(srules.monday_of(local.date()), tz, now)
    if word in ("last-week", "previous-week"):
        return week_period(srules.monday_of(local.date()) - timedelta(days=7), tz, now)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", word)
    if m and 1 <= int(m[2]) <= 12 and 2000 <= int(m[1]) <= 2100:
        return month_period(int(m[1]), int(m[2]), tz, now)
    raise Invalid(f"I can't read `{text.strip()[:40]}` as a period. {USAGE}")


# --- the numbers ------------------------------------------------------------------------------


def _pct(done: int, of: int) -> float | None:
    return done / of if of else None


@dataclass
class Line:
    """One row of the scoreboard (the company, a rep, a campaign)."""

    label: str
    delivered: int = 0
    ref_id: int | None = None  # the rep's person id, or the campaign's id
    owner_id: int | None = None  # a campaign's marketer
    accepted: int = 0
    rejected: int = 0
    decided: int = 0
    in_time: int = 0
    converted: int = 0
    touch: FirstTouch | None = None  # None: nothing followed up
    bounces: int = 0
    sourced_minor: int = 0
    sourced_deals: int = 0
    influenced_minor: int = 0

    def add(self, c) -> None:
        self.delivered += c.delivered
        self.accepted += c.accepted
        self.rejected += c.rejected
        self.decided += c.decided
        self.in_time += c.in_time
        self.converted += c.converted

    @property
    def acceptance(self) -> float | None:
        return _pct(self.accepted, self.accepted + self.rejected)

    @property
    def within_sla(self) -> float | None:
        return _pct(self.in_time, self.decided)

    @property
    def conversion(self) -> float | None:
        return _pct(self.converted, self.delivered)

    def first_touch(self, q: float) -> tuple[float | None, float | None, float | None]:
        """(total, waiting for an owner, rep time) at the median (``q`` 0.5) or the 90th
        percentile (0.9), in hours."""
        if self.touch is None:
            return None, None, None
        at = self.touch.median if q == 0.5 else self.touch.p90
        return at[0] / 3600, at[1] / 3600, at[2] / 3600


@dataclass
class Board:
    period: Period
    scope: Scope
    currency: str
    total: Line
    targets: dict  # the agreement's, scaled to the period
    reps: list[Line] = field(default_factory=list)  # manager / admin: one per owner
    campaigns: list[Line] = field(default_factory=list)  # marketer / admin: one per campaign
    regions: list[tuple[str, int, int | None]] = field(default_factory=list)  # (name, delivered, target)
    segments: list[tuple[str, int, int | None]] = field(default_factory=list)
    reasons: list[tuple[str, int]] = field(default_factory=list)  # (label, bounces)
    sourced_minor: int = 0  # won revenue sourced by any campaign, in ``currency``
    influenced_minor: int = 0
    unconverted: list[str] = field(default_factory=list)  # amounts in currencies without a rate
    pipeline: list[int] = field(default_factory=list)
    oldest: datetime | None = None
    breached: int = 0  # open leads past their SLA now
    unknown: list[str] = field(default_factory=list)  # agreement targets for a region/segment no lead has
    now: datetime | None = None
    filter: tuple[str, str] | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.total.delivered
            or self.reasons
            or self.sourced_minor
            or self.influenced_minor
            or (self.period.current and any(self.pipeline))
        )


def _convert(minor: int, currency: str, base: str, rates: dict[str, float]) -> int | None:
    if currency == base:
        return minor
    rate = rates.get(currency)
    if rate is None:
        return None
    return to_minor(from_minor(minor, currency) * Decimal(str(rate)), base)


def build(uow: UnitOfWork, deps: Deps, scope: Scope, period: Period, attr: tuple[str, str] | None = None) -> Board:
    """The scoreboard of ``period`` as ``scope`` sees it: a handful of aggregate queries."""
    cfg, now = deps.config, deps.now()
    agreement, base = cfg.agreement, cfg.wins.currency
    sb = uow.scoreboard
    owners, campaigns = scope.owner_ids, scope.campaign_ids
    counts = sb.handoffs(
        start=period.start, end=period.end, now=now, owner_ids=owners, campaign_ids=campaigns, attr=attr
    )
    per_owner = scope.kind in ("manager", "admin")  # only rep lines show a first-touch time
    touch, touch_by_owner = sb.first_touch(
        start=period.start, end=period.end, owner_ids=owners, campaign_ids=campaigns, attr=attr, per_owner=per_owner
    )
    total = Line("Everyone")
    by_owner: dict[int | None, Line] = defaultdict(lambda: Line(""))
    by_campaign: dict[int | None, Line] = defaultdict(lambda: Line(""))
    for c in counts:
        total.add(c)
        by_owner[c.owner_id].add(c)
        by_campaign[c.campaign_id].add(c)
    total.touch = touch
    for owner_id, owner_touch in touch_by_owner.items():
        by_owner[owner_id].touch = owner_touch
    reason_rows = sb.bounce_reasons(
        start=period.start,
        end=period.end,
        campaign_ids=campaigns,
        owner_ids=owners if scope.kind in ("rep", "manager") else None,
    )
    by_reason: dict[str, int] = defaultdict(int)
    for cid, reason, n in reason_rows:
        by_reason[reason] += n
        by_campaign[cid].bounces += n
    revenue = sb.revenue(
        start=period.start,
        end=period.end,
        campaign_ids=campaigns,
        owner_ids=owners if scope.kind in ("rep", "manager") else None,
    )
    targets = _targets(agreement, period, base)
    if scope.kind in ("rep", "manager"):
        targets["leads"] = None  # marketing's number, not a rep's
    board = Board(period=period, scope=scope, currency=base, total=total, targets=targets, now=now, filter=attr)
    odd: dict[str, int] = defaultdict(int)
    for r in revenue:
        s = _convert(r.sourced_minor, r.currency, base, cfg.wins.rates)
        i = _convert(r.influenced_minor, r.currency, base, cfg.wins.rates)
        if s is None or i is None:
            odd[r.currency] += r.sourced_minor if r.campaign_id is not None else 0
            continue
        line = by_campaign[r.campaign_id]
        line.sourced_minor += s
        line.sourced_deals += r.sourced_deals
        line.influenced_minor += i
        if r.campaign_id is not None:
            board.sourced_minor += s
            board.influenced_minor += i
    board.unconverted = [format_money(m, c) for c, m in sorted(odd.items()) if m]
    board.reasons = sorted(((cfg.reason_label(r) or r, n) for r, n in by_reason.items()), key=lambda x: -x[1])
    board.pipeline, board.oldest, board.breached = sb.pipeline_age(
        now=now, bounds_days=AGE_BOUNDS, owner_ids=owners, campaign_ids=campaigns
    )
    if scope.kind == "manager":
        for rid in scope.reps:  # every rep, even one with nothing yet
            by_owner[rid].label, by_owner[rid].ref_id = views.mention_of(rid), rid
        board.reps = [by_owner[rid] for rid in scope.reps]
    elif scope.kind == "admin":
        for oid, line in by_owner.items():
            line.label = views.mention_of(oid) if oid else "No owner yet"
            line.ref_id = oid
        board.reps = sorted(by_owner.values(), key=lambda l: (-l.delivered, l.label))
    if scope.kind in ("marketer", "admin"):
        briefs = uow.campaigns.briefs(cid for cid in by_campaign if cid is not None)
        if scope.kind == "marketer":
            briefs.update(uow.campaigns.briefs(campaigns or []))
            for cid in campaigns or []:
                by_campaign[cid]  # noqa: B018 - a campaign of theirs with nothing yet is listed too
        for cid, line in by_campaign.items():
            brief = briefs.get(cid) if cid is not None else None
            line.label = brief.name if brief else "No campaign (sourced by sales)"
            line.ref_id, line.owner_id = cid, brief.owner_id if brief else None
        board.campaigns = sorted(
            (l for cid, l in by_campaign.items() if cid is not None or scope.kind == "admin"),
            key=lambda l: (-l.sourced_minor, -l.delivered, l.label),
        )
    if scope.kind in ("marketer", "admin") and attr is None:
        for fld, targets, out in (
            ("region", agreement.by_region, board.regions),
            ("segment", agreement.by_segment, board.segments),
        ):
            if not targets:  # a breakdown costs a look at each handoff's row: only when it has targets
                continue
            got = sb.handoffs_by_attr(fld, start=period.start, end=period.end, campaign_ids=campaigns)
            names = list(targets) + sorted(n for n in got if n not in targets)
            for name in names[: TOP * 2]:
                target = targets.get(name)
                out.append(
                    (name, got.get(name, 0), round(target * period.share_of_month) if target is not None else None)
                )
                if name in targets and not got.get(name) and not sb.attr_exists(fld, name):
                    board.unknown.append(f"{fld} {name!r}")  # a target no lead can meet: a typo?
    return board


def _targets(agreement, period: Period, currency: str) -> dict:
    leads = agreement.leads_per_month
    revenue = agreement.sourced_revenue
    return dict(
        leads=round(leads * period.share_of_month) if leads is not None else None,
        acceptance=agreement.acceptance_rate,
        within_sla=agreement.within_sla,
        conversion=agreement.conversion,
        revenue_minor=to_minor(Decimal(str(revenue)) * Decimal(str(period.share_of_month)), currency)
        if revenue is not None
        else None,
        pro_rata=period.share_of_month != 1.0,
    )


# --- the command ------------------------------------------------------------------------------


def _split_args(args: str) -> tuple[str, tuple[str, str] | None]:
    """``[period] [region|segment <name>]``."""
    m = re.search(r"(?:^|\s)(region|segment)(?:\s+(.*))?$", args.strip(), flags=re.I | re.S)
    if not m:
        return args, None
    name = (m[2] or "").strip().strip('"').strip()
    if not name:
        raise Invalid(f"Name the {m[1].lower()}: `/smarketing sla {m[1].lower()} EMEA`.")
    if len(name) > 100:
        raise Invalid(f"That {m[1].lower()} name is {len(name)} characters; region and segment names are short.")
    return args[: m.start()].strip(), (m[1].lower(), name)


def sla_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing sla [period] [region|segment <name>]``: the scoreboard the asker can act on."""
    person = uow.people.get(actor.person_id) if actor.person_id else None
    words = args.split()
    everything = bool(words) and words[0].lower() in ("all", "company")
    scope = scope_of(uow, person, everything=everything)
    assert person is not None  # scope_of refuses no one
    text, attr = _split_args(" ".join(words[1:]) if everything else args)
    tz = ZoneInfo(person.timezone or deps.config.team_timezone(person.team))
    period = parse_period(text, deps.now(), tz)
    if attr is not None and not uow.scoreboard.attr_exists(*attr):
        known = uow.scoreboard.attr_values(attr[0])
        hint = f" Leads have: {', '.join(known[:12])}." if known else f" No lead has a {attr[0]} yet."
        raise Invalid(f"No lead has {attr[0]} '{attr[1]}'.{hint}")
    board = build(uow, deps, scope, period, attr)
    return Reply(message=views.board(board, deps.config))


# --- the weekly post --------------------------------------------------------------------------


def weekly_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Each team's weekly scoreboard post at ``agreement.weekly_post`` in its timezone: once per
    team per ISO week whatever the replicas (the outbox key is unique)."""
    now, cfg = deps.now(), deps.config
    post = cfg.agreement.weekly_post
    posted: list[str] = []
    for team, tc in cfg.teams.items():
        tz = ZoneInfo(tc.timezone)
        for monday, _due in srules.digests_due(now, tz, WEEKDAYS.index(post.day), post.time):
            week = srules.week_label(monday)
            key = f"scoreboard:weekly:{team}:{week}"
            # Read and drawn with no transaction open: drawing the chart takes about a second
            # (a child process), and a writing unit of work would hold SQLite's write lock
            # through it, making every command wait.
            with getattr(uow_factory, "read", uow_factory)() as uow:
                if uow.outbox.exists(key):
                    continue
                message, chart = weekly_message(uow, deps, monday, tz)
            png = chart.draw() if chart is not None else None
            with uow_factory() as uow:
                if png is not None and chart is not None and uow.scoreboard.image(chart.key) is None:
                    uow.scoreboard.save_image(key=chart.key, token=secrets.token_urlsafe(24), data=png, at=now)
                if not notify.send(
                    uow, deps, to=channel(tc.channel), role=None, subject=None, payload=message.to_json(), key=key
                ):
                    continue  # another replica got there first
                uow.commit()
            posted.append(f"{team} {week}")
    return JobResult("scoreboard_weekly", len(posted), ", ".join(posted))


@dataclass(frozen=True)
class Chart:
    """A weekly chart not stored yet: ``draw()`` makes its PNG (in a child process)."""

    key: str
    weeks: list[Week]
    title: str

    def draw(self) -> bytes:
        from handlers.charts import weekly_chart

        return weekly_chart(self.weeks, title=self.title)


def weekly_message(uow: UnitOfWork, deps: Deps, monday: date, tz: ZoneInfo):
    """The month so far against the agreement, and the chart of the last weeks: the message, and
    the chart to draw and store when it is not stored yet (None when it is)."""
    now, cfg = deps.now(), deps.config
    local = now.astimezone(tz)
    board = build(uow, deps, Scope("admin", None), month_period(local.year, local.month, tz, now))
    weeks = trend(uow, deps, monday, tz, cfg.agreement.weekly_post.weeks)
    chart_key = f"scoreboard:chart:{srules.week_label(monday)}"
    chart = None
    if uow.scoreboard.image(chart_key) is None:
        chart = Chart(chart_key, weeks, f"{cfg.company} — the smarketing agreement")
    return views.weekly(board, weeks, cfg, chart_key=chart_key), chart


@dataclass(frozen=True)
class Week:
    label: str  # "16 Nov"
    delivered: int
    target: int | None
    within_sla: float | None
    within_target: float | None


def trend(uow: UnitOfWork, deps: Deps, monday: date, tz: ZoneInfo, weeks: int) -> list[Week]:
    """The ``weeks`` full weeks before ``monday``'s week and that week so far."""
    first = monday - timedelta(days=7 * (weeks - 1))
    start = srules.local_midnight(first, tz)
    rows = uow.scoreboard.weekly(start=start, weeks=weeks, now=deps.now())
    agreement = deps.config.agreement
    out = []
    for i in range(weeks):
        day = first + timedelta(days=7 * i)
        n, decided, in_time = rows.get(i, (0, 0, 0))
        days = cal.monthrange(day.year, day.month)[1]
        target = round(agreement.leads_per_month * 7 / days) if agreement.leads_per_month is not None else None
        out.append(Week(f"{day:%-d %b}", n, target, _pct(in_time, decided), agreement.within_sla))
    return out


# --- recognition ------------------------------------------------------------------------------


def recognition_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Once a month ends (in the wins timezone): one post in the wins channel crediting the
    campaign that sourced the most won revenue, its marketer, and the rep with the best SLA line."""
    cfg, now = deps.config, deps.now()
    if not cfg.agreement.recognition or "wins" not in cfg.channels:
        return JobResult("recognition", 0, "off")
    tz = ZoneInfo(cfg.wins.timezone)
    local = now.astimezone(tz)
    if local.day > 7:  # posted in the first week of the month (late when the bot was down)
        return JobResult("recognition", 0)
    last = local.date().replace(day=1) - timedelta(days=1)
    period = month_period(last.year, last.month, tz, now)
    key = f"scoreboard:recognition:{last:%Y-%m}"
    with uow_factory() as uow:
        if uow.outbox.exists(key):
            return JobResult("recognition", 0)
        board = build(uow, deps, Scope("admin", None), period)
        best_campaign = max(
            (l for l in board.campaigns if l.sourced_minor > 0 and l.ref_id is not None),
            key=lambda l: l.sourced_minor,
            default=None,
        )
        owner_id = best_campaign.owner_id if best_campaign else None
        best_rep = best_sla_line(board.reps)
        if best_campaign is None and best_rep is None:
            return JobResult("recognition", 0, "nothing to credit")
        message = views.recognition(period, best_campaign, owner_id, best_rep, cfg)
        if not notify.send(uow, deps, to=channel("wins"), role=None, subject=None, payload=message.to_json(), key=key):
            return JobResult("recognition", 0)
        uow.commit()
    return JobResult("recognition", 1, f"{last:%Y-%m}")


def best_sla_line(lines: list[Line], minimum: int = 3) -> Line | None:
    """The rep with the best share within the SLA (at least ``minimum`` decided handoffs), then
    the faster median first touch, then more handoffs."""
    ranked = [l for l in lines if l.decided >= minimum and l.ref_id is not None]
    if not ranked:
        return None

    def rank(l: Line):
        median = l.first_touch(0.5)[0]
        return (-(l.within_sla or 0), median if median is not None else math.inf, -l.decided)

    return min(ranked, key=rank)


def digest_of(payload: dict) -> str:
    import json

    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


FLOW = Flow(
    name="scoreboard",
    commands={"sla": sla_command},
    read_only=frozenset({"sla"}),
    jobs={"scoreboard_weekly": weekly_job, "recognition": recognition_job},
    help=[
        (
            "sla [all] [last-month|week|last-week] [region <name>]",
            "the smarketing agreement's scoreboard: your line, your team's or your campaigns'",
        )
    ],
)
