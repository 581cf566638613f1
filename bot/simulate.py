"""``python -m bot simulate``: a month of the demo company, headless, and how much the bot said.

The same container, jobs, handlers and delivery as ``python -m bot`` in the local workspace, on a
throw-away SQLite database (or ``--database-url``), with an injected clock moved in 30-minute steps
and no sleeping. The demo company is loaded, then lives (``bot.local.life``): new leads, reps who
mostly follow up within the day and sometimes late, deals closing, bounces. At the end it prints,
by role, the bot messages per person per working day (mean, p95, max) and per channel, and the
ways a message can fail its reader:

- *quiet hours*: sent outside the reader's business hours in their timezone (a channel: its team's),
  split into urgent (what ``delivery.urgent_tiers`` lets through) and not;
- *to away*: sent to someone while they were out of office;
- *alerts without an action*: a cooling alert (or a digest, a roll-up) with no button to act on it;
- *missed breaches*: a breach (the owner's DM, or an unowned lead's Claim post turning into its
  escalation) not delivered within one business hour of the ladder firing it;
- *untrue, not updated*: a message about a lead that the lead's later history made untrue (a
  follow-up, a bounce, a win after it was posted) and that was not brought up to date in place: no
  update after the first such event, or buttons still offered after a later one.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

STEP = timedelta(minutes=30)
DEFAULT_START = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)  # a Monday, before anyone's day starts
ALERT_KEY = re.compile(r"^(cooling:(\d+):\d+:(warn|breach|manager|channel|snooze\d+)|digest:.*)$")
MANAGER_KEY = re.compile(r"^cooling:(\d+):\d+:manager$")
BREACH_KEY = re.compile(r"^cooling:(\d+):\d+:breach(\d*)$")
LEAD_KEY = re.compile(r"^cooling:(\d+):")


@dataclass
class Row:
    """One line of the table: a role's people (or one channel)."""

    name: str
    readers: int
    mean: float
    p95: float
    max: int
    quiet: int
    away: int
    quiet_urgent: int = 0


@dataclass
class Report:
    start: datetime
    end: datetime
    rows: list[Row]
    messages: int
    alerts_without_action: int
    untrue: int
    breaches: int = 0
    missed_breaches: int = 0
    untrue_examples: list[str] = field(default_factory=list)
    life: object = None

    def table(self) -> str:
        head = (
            f"{'who':<22}{'readers':>8}{'mean/day':>10}{'p95/day':>9}{'max/day':>9}{'quiet h.':>10}"
            f"{'urgent':>8}{'to away':>9}"
        )
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(
                f"{r.name:<22}{r.readers:>8}{r.mean:>10.1f}{r.p95:>9.1f}{r.max:>9}{r.quiet:>10}"
                f"{r.quiet_urgent:>8}{r.away:>9}"
            )
        lines.append("")
        lines.append(
            f"messages posted: {self.messages}; alerts without an action: {self.alerts_without_action}; "
            f"untrue and not updated: {self.untrue}; breaches: {self.breaches}, "
            f"missed (not delivered within a business hour): {self.missed_breaches}"
        )
        lines.append("(quiet h.: posts in the reader's quiet hours, of which urgent: those the config lets through)")
        return "\n".join(lines)


def percentile(values: list[int], p: float) -> float:
    """The nearest-rank percentile (``p`` in 0..100) of ``values``; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def simulate(
    days: float, *, seed: int = 7, start: datetime = DEFAULT_START, database_url: str | None = None, progress=None
) -> Report:
    from bot.app import build
    from bot.local import clock as sim_clock
    from bot.local import demo_data
    from bot.local.life import CompanyLife, LifeStats
    from bot.settings import Settings
    from handlers.ports import FixedClock

    tmp = None
    if database_url is None:
        tmp = tempfile.TemporaryDirectory(prefix="smarketing-sim-")
        database_url = f"sqlite:///{Path(tmp.name) / 'simulate.db'}"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        local_workspace=True,
        scheduler=False,
        demo_data=True,
        delivery_channel_interval=0.0,
        log_level="WARNING",
    )
    clock = FixedClock(start)
    container = build(settings, clock=clock)
    try:
        demo_data.load(container)
        container.dispatcher.drain()
        with container.uow_factory() as uow:
            # What the demo's loading queued is not the month's (a quiet-hours hold among it would
            # hold a feed cursor back and count the whole load as the first morning's messages).
            cursor = uow.outbox.last_id()
        seen, bare, judged = cursor, set(), set()
        life, total = CompanyLife(seed), LifeStats()
        end = start + timedelta(days=days)
        steps = math.ceil((end - start) / STEP)
        for i in range(steps):
            before = clock.now()
            sim_clock.advance(container, min(STEP, end - before))  # the scheduler's jobs, at their times
            container.dispatcher.drain()  # what the jobs said reaches people before they act on it
            seen = _bare_alerts(container, seen, bare, judged)
            total.add(life.step(container, before, clock.now()))
            container.dispatcher.drain()
            seen = _bare_alerts(container, seen, bare, judged)
            if progress and i % 48 == 47:
                progress(f"day {(i + 1) // 48} of {math.ceil(days)}")
        report = measure(container, after_id=cursor, start=start, end=clock.now(), bare=bare)
        report.life = total
        return report
    finally:
        container.close()
        if tmp is not None:
            tmp.cleanup()


def _bare_alerts(container, after_id: int, bare: set[str], judged: set[int]) -> int:
    """Note the alerts delivered since ``after_id`` that arrived without a button, judged as they
    were delivered (an update in place later records its own content over the post's), each
    once (``judged``: the ids seen delivered). Returns the new cursor: the first post not
    delivered yet, less one (a post held for someone's quiet hours keeps it back, not the
    judging of the posts after it)."""
    from handlers.messages import Actions, Message

    cursor, waiting = after_id, False
    with container.uow_factory() as uow:
        rows = list(uow.outbox.since(after_id, limit=100_000, ops=("post",)))
    for r in rows:
        if r.status not in ("sent", "dead"):
            waiting = True
            continue
        if not waiting:
            cursor = r.id
        if r.id in judged:
            continue
        judged.add(r.id)
        if r.status == "sent" and ALERT_KEY.match(r.key):
            message = Message.from_json(r.payload)
            if not any(isinstance(b, Actions) and b.buttons for b in message.blocks):
                bare.add(r.key)
    judged.difference_update({i for i in judged if i <= cursor})
    return cursor


def measure(container, *, after_id: int, start: datetime, end: datetime, bare: set[str] | None = None) -> Report:
    """Read what was posted after ``after_id`` and judge it (see the module's docstring).
    ``bare``: the alerts that were delivered without a button, as the run saw them (else each
    alert is judged by what it shows now)."""
    from bot.local.life import _days
    from handlers.cooling import calendar
    from handlers.messages import Actions, Message

    config = container.config
    posts, updates = [], defaultdict(list)  # target key -> update creation times
    escalations = []  # updates turning an unowned lead's Claim post into its escalation
    cursor = after_id
    while True:
        with container.uow_factory() as uow:
            rows = list(uow.outbox.since(cursor, limit=1000))
        if not rows:
            break
        for r in rows:
            if r.op == "post" and r.status == "sent":
                posts.append(r)
            elif r.op == "update" and r.target_key:
                updates[r.target_key].append(r.created_at)
                if re.search(r":breach\d+$", r.key):
                    escalations.append(r)
        cursor = rows[-1].id
    with container.uow_factory() as uow:
        people = {p.id: p for p in uow.people.all()}
        away_periods = {
            pid: [(a.starts_at, a.ends_at) for a in uow.away.for_person(pid, ending_after=start)] for pid in people
        }

    def zone_of_channel(name: str) -> str:
        for _team, tc in config.teams.items():
            if tc.channel == name:
                return tc.timezone
        return config.wins.timezone or config.team_timezone("sales")

    def working_days(tz: str) -> list[date]:
        cal = calendar(config, tz)
        return [d for d in _days(start, end - timedelta(seconds=1), ZoneInfo(tz)) if cal.is_business_day(d)]

    counts: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    quiet: dict[str, int] = defaultdict(int)
    quiet_urgent: dict[str, int] = defaultdict(int)
    from handlers.policy import is_urgent

    manager_leads = {int(m.group(1)) for r in posts if (m := MANAGER_KEY.match(r.key))}
    with container.uow_factory() as uow:
        tiers = {i: lead.tier for i, lead in uow.leads.many(manager_leads).items()}
    away: dict[str, int] = defaultdict(int)
    alerts_without_action = 0
    for r in posts:
        kind, _, name = r.destination.partition(":")
        at = r.sent_at or r.created_at
        if kind == "dm" and name.isdigit() and int(name) in people:
            person = people[int(name)]
            who, tz = f"dm:{person.id}", person.timezone
            if any(a <= at < b for a, b in away_periods[person.id]):
                away[who] += 1
        elif kind == "channel":
            who, tz = f"channel:{name}", zone_of_channel(name)
        else:
            continue
        counts[who][at.astimezone(ZoneInfo(tz)).date()] += 1
        if not calendar(config, tz).is_business_time(at, tz):
            quiet[who] += 1
            m = MANAGER_KEY.match(r.key)
            if m and is_urgent(config, "manager", tiers.get(int(m.group(1)))):
                quiet_urgent[who] += 1
        if ALERT_KEY.match(r.key):
            if bare is not None:
                alerts_without_action += r.key in bare
            else:
                message = Message.from_json(r.payload)
                if not any(isinstance(b, Actions) and b.buttons for b in message.blocks):
                    alerts_without_action += 1

    groups: dict[str, list[str]] = defaultdict(list)
    for p in people.values():
        role = "rep" if p.role in ("rep", "sdr") else p.role
        groups[f"{p.team} {role}s"].append(f"dm:{p.id}")
    for name in config.channels:
        groups[f"#{name}"].append(f"channel:{name}")
    rows = []
    for group in sorted(groups, key=lambda g: (g.startswith("#"), g)):
        cells = []
        for who in groups[group]:
            tz = people[int(who[3:])].timezone if who.startswith("dm:") else zone_of_channel(who[8:])
            cells.extend(counts[who].get(d, 0) for d in working_days(tz))
        if not cells:
            continue
        rows.append(
            Row(
                group,
                len(groups[group]),
                sum(cells) / len(cells),
                percentile(cells, 95),
                max(cells),
                sum(quiet[w] for w in groups[group]),
                sum(away[w] for w in groups[group]),
                sum(quiet_urgent[w] for w in groups[group]),
            )
        )
    untrue, examples = _untrue(container, posts, updates)
    breaches, missed = _breaches(container, posts, escalations, end, people, zone_of_channel)
    return Report(
        start,
        end,
        rows,
        len(posts),
        alerts_without_action,
        untrue,
        untrue_examples=examples,
        breaches=breaches,
        missed_breaches=missed,
    )


def _breaches(container, posts, escalations, end: datetime, people, zone_of_channel) -> tuple[int, int]:
    """Every breach the ladder fired (the owner's DM, or its cover's; an unowned lead's Claim post
    turned into its escalation) and how many were not delivered within one business hour of it.
    A breach still waiting at the end of the run is missed only once its hour is over."""
    from handlers.cooling import calendar

    config = container.config
    fired = [r for r in posts if BREACH_KEY.match(r.key)] + escalations
    with container.uow_factory() as uow:  # posts not delivered at all yet (held or failing)
        pending = [
            r
            for r in uow.outbox.since(0, limit=100_000)
            if r.status != "sent" and (BREACH_KEY.match(r.key) or re.search(r":breach\d+$", r.key))
        ]
    total = missed = 0
    for r in fired + pending:
        kind, _, name = r.destination.partition(":")
        tz = (
            people[int(name)].timezone
            if kind == "dm" and name.isdigit() and int(name) in people
            else zone_of_channel(name)
        )
        cal = calendar(config, tz)
        total += 1
        delivered = r.sent_at if r.status == "sent" else None
        if cal.business_hours_between(r.created_at, delivered or end, tz) > 1:
            missed += 1
    return total, missed


def _untrue(container, posts, updates) -> tuple[int, list[str]]:
    """Messages about a lead posted before something happened to it (a follow-up, a bounce, a win)
    and not brought up to date since: never updated after the first such event, or still offering
    buttons after a later one."""
    lead_ids = {int(m.group(1)) for r in posts if (m := LEAD_KEY.match(r.key))}
    with container.uow_factory() as uow:
        events = uow.leads.events_of(lead_ids)
    # What changes what a message about a lead says: everything but the handoff itself and the
    # ladder climbing (an escalation leaves the rep's alert as true as it was).
    happened = {
        lead_id: [e.at for e in evs if e.kind not in ("handoff", "escalate")] for lead_id, evs in events.items()
    }
    from handlers.messages import Actions, Message

    count, examples = 0, []
    for r in posts:
        m = LEAD_KEY.match(r.key)
        if not m:
            continue
        sent = r.sent_at or r.created_at
        later = [t for t in happened.get(int(m.group(1)), []) if t > sent]
        if not later:
            continue
        updated = sorted(updates.get(r.key, []))
        # Untrue: nothing brought it up to date after the first thing that happened to the lead, or
        # it still offers buttons although the lead moved on after its last update.
        stale = not any(u >= later[0] for u in updated)
        if stale and updated and r.subject is None:
            # Settled before these events (its final form says what happened, e.g. "followed up
            # at 10:05", and offers nothing): what happened later does not make it untrue.
            with container.uow_factory() as uow:
                shown = Message.from_json(uow.outbox.current_payload(r.key) or r.payload)
            stale = any(isinstance(b, Actions) and b.buttons for b in shown.blocks)
        if not stale and later[-1] > updated[-1]:
            with container.uow_factory() as uow:
                shown = Message.from_json(uow.outbox.current_payload(r.key) or r.payload)
            stale = any(isinstance(b, Actions) and b.buttons for b in shown.blocks)
        if stale:
            count += 1
            if len(examples) < 5:
                examples.append(f"{r.key} to {r.destination}")
    return count, examples


# --- the command line ---------------------------------------------------------------------------


def register(sub) -> dict:
    p = sub.add_parser(
        "simulate",
        help="a month of the demo company, headless: how much the bot says, to whom",
        description="Run the demo company for simulated days (the same jobs, flows and delivery "
        "as the local workspace, no sleeping) and print the bot's messages per person "
        "per working day by role, and those sent in quiet hours, to away people, "
        "alerts without an action and messages left untrue.",
    )
    p.add_argument("--days", type=float, default=30, help="simulated days (default 30)")
    p.add_argument("--seed", type=int, default=7, help="the company's random seed (same seed, same month)")
    p.add_argument("--start", help="start, ISO date or time in UTC (default 2026-11-30T05:00Z, a Monday)")
    p.add_argument("--database-url", help="keep the simulated database here (default: a temporary SQLite file)")
    p.add_argument("--verbose", action="store_true", help="log every job run and delivery")
    return {"simulate": run}


def run(args, settings) -> int:
    if not 0 < args.days <= 92:
        print("--days must be between 0 and 92", file=sys.stderr)
        return 2
    start = DEFAULT_START
    if args.start:
        try:
            start = datetime.fromisoformat(args.start.replace("Z", "+00:00"))
        except ValueError:
            print(
                f"--start {args.start!r} is not an ISO date or time (e.g. 2026-11-30 or 2026-11-30T05:00Z)",
                file=sys.stderr,
            )
            return 2
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
    import logging

    if not args.verbose:  # the jobs' one line per run would bury the table
        logging.getLogger().setLevel(logging.WARNING)
    print(f"simulating {args.days:g} days from {start:%a %d %b %Y %H:%M} UTC (seed {args.seed}) …", flush=True)
    report = simulate(
        args.days,
        seed=args.seed,
        start=start,
        database_url=args.database_url,
        progress=lambda text: print(f"  {text}", file=sys.stderr, flush=True),
    )
    life = report.life
    print(
        f"the company: {life.leads} new leads, {life.follow_ups} follow-ups, {life.claims} claims, "
        f"{life.deals} deals, {life.bounces} bounces, {life.acknowledged} acknowledged"
        + (f"; refused: {dict(life.refused)}" if life.refused else "")
    )
    print()
    print(report.table())
    print()
    print(
        "targets: rep mean <= 4 and p95 <= 8 per working day; manager <= 5 a day; each channel <= 5 posts "
        "a day; 0 in quiet hours except urgent; 0 to away people; every alert with an action; "
        "0 untrue; 0 missed breaches"
    )
    for example in report.untrue_examples:
        print(f"  untrue: {example}")
    return 0
