"""Benchmark: find and queue 1,000 due cooling alerts among 10,000 and 1,000,000 leads.

Run by hand (not part of the suite)::

    /work/venv/bin/python bench/bench_cooling.py                     # SQLite and PostgreSQL
    /work/venv/bin/python bench/bench_cooling.py --db sqlite --sizes 10000 1000000
    /work/venv/bin/python bench/bench_cooling.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_cooling

Each size gets a fresh database (SQLite: a temporary file; PostgreSQL: the ``public`` schema of
``--pg-url`` is dropped and migrated again, so point it at a database of its own). Leads are
bulk-loaded with Core inserts in creation order. At 1M, 5% are qualified: the newest 2,000 of
them (among the last 40,000 rows) have ladders running, their SLA windows started at random
over the last three weeks, so their next steps are spread from weeks ago to the coming days
(~1,800 due now, each with exactly one step to fire); the older ones have finished ladders and
are not in the due index. A 10,000-lead table at 5% would hold only 500 qualified leads, so the
small table holds the same 2,000 running ladders among its 10,000 rows: only the number (and
spread) of the other rows differs.

Also measured: what ``/smarketing leads`` (a rep's first page) and ``/smarketing sla`` read.

A round is what one chunk of the ``cooling`` job does (``handlers.cooling.process_due`` with
LIMIT 1,000): the indexed due-lead query, the ladder computation and message layouts, the
outbox inserts (whose unique keys make each step fire once), the lead updates and the commit. Between rounds the state is put
back (untimed), so every round does the same work. Wall time is the target; CPU is this
process only (on PostgreSQL the server's share is not in it).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_config  # noqa: E402
from handlers.cooling import STEPS, _StepTimes, calendar, plan_alerts, process_due, sla_hours, timezone_of  # noqa: E402
from handlers.core import sync_people  # noqa: E402
from handlers.notify import send_many  # noqa: E402
from handlers.ports import Deps, FixedClock  # noqa: E402
from storage.db import make_engine, recreate, uow_factory  # noqa: E402
from storage.models import Lead, Outbox  # noqa: E402

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 in New York
ALERTS = 1_000
ON_LADDER = 2_000  # qualified leads whose ladders are running (the newest)
RECENT_ROWS = 40_000  # ... placed among the newest rows (5% of them at 1M; 20% of a 10k table)
BATCH = 10_000
TIERS = ("hot", "warm", "other")


def ladder_row(rng: random.Random, owner, config) -> dict:
    """A qualified lead whose SLA window started in the last three weeks, its ladder exactly
    where the job would have left it: every step due before the latest one has fired, so the
    job has one step (or none) to fire."""
    tier = rng.choice(TIERS)
    tz = timezone_of(owner, config)
    start = NOW - timedelta(seconds=rng.uniform(0, 21 * 86400))
    cal = calendar(config)
    row = dict(tier=tier, sla_started_at=start, sla_due_at=cal.add_business_hours(start, sla_hours(tier, config), tz))
    times = _StepTimes({**row, "snoozed_until": None, "next_alert_at": None, "ladder_step": 0}, tz, config)
    passed = sum(1 for step in range(1, len(STEPS) + 1) if times[step] <= NOW)
    step = max(passed - 1, 0)
    row.update(
        status="qualified",
        qualified_at=start,
        handoff_due_at=row["sla_due_at"],
        sla_window=1,
        ladder_step=step,
        next_alert_at=times[step + 1] if step < len(STEPS) else None,
    )
    return row


def finished_row(rng: random.Random) -> dict:
    """A lead qualified long ago whose ladder has run its course (not in the due index)."""
    start = NOW - timedelta(days=rng.uniform(30, 700))
    return dict(
        status="qualified",
        tier=rng.choice(TIERS),
        qualified_at=start,
        sla_started_at=start,
        sla_due_at=start + timedelta(hours=8),
        handoff_due_at=start + timedelta(hours=8),
        sla_window=1,
        ladder_step=len(STEPS),
        next_alert_at=None,
    )


def load(engine, n: int, config, seed: int = 7) -> tuple[int, int]:
    """Bulk-load ``n`` leads in creation order (ids grow with ``created_at``). The newest
    ``ON_LADDER`` qualified leads sit among the last ``RECENT_ROWS`` rows with their ladders
    running; older qualified leads (up to 5% in all) have finished theirs. Returns (qualified, due)."""
    rng = random.Random(seed)
    with uow_factory(engine)() as uow:
        sync_people(uow, config)
        uow.commit()
        owners = [p for p in uow.people.all() if p.team == "sales"]
    recent = min(n, RECENT_ROWS)
    on_ladder = set(rng.sample(range(n - recent, n), ON_LADDER))
    finished = set(rng.sample(range(n - recent), max(n // 20 - ON_LADDER, 0)))
    t = Lead.__table__
    due = 0
    with engine.begin() as conn:
        for first in range(0, n, BATCH):
            rows = []
            for i in range(first, min(first + BATCH, n)):
                owner = rng.choice(owners)
                row = dict(
                    crm_id=f"L{i:07d}",
                    email=f"lead{i}@example.com",
                    name=f"Lead {i}",
                    company=f"Co {i % 5000}",
                    status="new",
                    score=rng.randint(0, 100),
                    owner_id=owner.id,
                    owner_email=owner.email,
                    created_at=NOW - timedelta(days=730) * (1 - i / n),
                    sla_window=0,
                    ladder_step=0,
                    snooze_count=0,
                    touch_count=0,
                    bounce_count=0,
                    attrs={},
                    tier=None,
                    sla_started_at=None,
                    sla_clock="first_touch",
                    version=0,
                    sla_due_at=None,
                    next_alert_at=None,
                    qualified_at=None,
                    handoff_due_at=None,
                )
                if i in on_ladder:
                    row.update(ladder_row(rng, owner, config))
                    due += row["next_alert_at"] is not None and row["next_alert_at"] <= NOW
                elif i in finished:
                    row.update(finished_row(rng))
                rows.append(row)
            conn.execute(sa.insert(t), rows)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return len(on_ladder) + len(finished), due


def snapshot(engine) -> list[dict]:
    """The lead columns a round changes, for the rows it will touch."""
    t = Lead.__table__
    with engine.connect() as conn:
        q = (
            sa.select(t.c.id, t.c.ladder_step, t.c.next_alert_at, t.c.snoozed_until, t.c.updated_at)
            .where(t.c.status == "qualified", t.c.next_alert_at.is_not(None), t.c.next_alert_at <= NOW)
            .order_by(t.c.next_alert_at)
            .limit(ALERTS)
        )
        return [dict(r._mapping) for r in conn.execute(q)]


def restore(engine, rows: list[dict]) -> None:
    t = Lead.__table__
    with engine.begin() as conn:
        conn.execute(
            sa.update(t)
            .where(t.c.id == sa.bindparam("_id"))
            .values(
                ladder_step=sa.bindparam("ladder_step"),
                next_alert_at=sa.bindparam("next_alert_at"),
                snoozed_until=sa.bindparam("snoozed_until"),
                updated_at=sa.bindparam("updated_at"),
            ),
            [{"_id": r["id"], **{k: v for k, v in r.items() if k != "id"}} for r in rows],
        )
        conn.execute(sa.delete(Outbox.__table__))


def phases(engine, deps, rounds: int) -> dict[str, float]:
    """The same chunk as ``process_due``, step by step: median ms of each step."""
    factory, state = uow_factory(engine), snapshot(engine)
    steps: dict[str, list[float]] = {}

    def timed(name, fn):
        started = time.perf_counter()
        result = fn()
        steps.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return result

    for _ in range(rounds):
        with factory() as uow:
            due = timed("query", lambda: uow.leads.due(now=NOW, limit=ALERTS))
            messages = timed("ladder+layouts", lambda: plan_alerts(uow, deps, due, now=NOW))  # noqa: B023 - used within this iteration
            timed("lead updates", lambda: uow.leads.update_ladders(due))  # noqa: B023 - used within this iteration
            # through the one funnel, as the job does: who is away (one query), then the inserts
            timed("outbox inserts", lambda: send_many(uow, deps, messages))  # noqa: B023 - used within this iteration
            timed("commit", uow.commit)
        restore(engine, state)
    return {name: statistics.median(ms) for name, ms in steps.items()}


def query_ms(engine) -> float:
    """The due-lead query alone (median of 5)."""
    factory = uow_factory(engine)
    times = []
    for _ in range(5):
        with factory() as uow:
            started = time.perf_counter()
            uow.leads.due(now=NOW, limit=ALERTS)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def plan(engine) -> str:
    t = Lead.__table__
    q = (
        sa.select(t.c.id)
        .where(
            t.c.status == sa.literal_column("'qualified'"),
            t.c.next_alert_at.is_not(None),
            t.c.next_alert_at <= sa.literal(NOW),
        )
        .order_by(t.c.next_alert_at)
        .limit(ALERTS)
    )
    sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SET LOCAL enable_bitmapscan = off"))  # as LeadsRepo.due does
        rows = conn.execute(sa.text(prefix + sql)).all()
    return " | ".join(str(r[-1]) for r in rows)


def command_reads(engine, rounds: int) -> dict[str, float]:
    """Median ms of what ``/smarketing leads`` and ``/smarketing sla`` read, for the rep with the
    most qualified leads (the SLA month starting three weeks ago)."""
    factory = uow_factory(engine)
    with engine.connect() as conn:
        owner = conn.execute(
            sa.text(
                "SELECT owner_id FROM lead WHERE status = 'qualified' GROUP BY owner_id ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar_one()
    out: dict[str, list[float]] = {"leads page": [], "sla": []}
    for r in range(rounds + 1):
        with factory() as uow:
            t0 = time.perf_counter()
            uow.leads.qualified_for_owner(owner, limit=15)
            t1 = time.perf_counter()
            uow.leads.sla_counts(owner_id=owner, now=NOW, since=NOW - timedelta(days=21))
            t2 = time.perf_counter()
        if r:
            out["leads page"].append((t1 - t0) * 1000)
            out["sla"].append((t2 - t1) * 1000)
    return {k: statistics.median(v) for k, v in out.items()}


def bench(url: str, n: int, rounds: int, config) -> dict:
    engine = make_engine(url)
    recreate(engine)
    started = time.perf_counter()
    qualified, due = load(engine, n, config)
    loaded = time.perf_counter() - started
    deps = Deps(config=config, clock=FixedClock(NOW))
    factory = uow_factory(engine)
    state = snapshot(engine)
    timings, cpus, fired = [], [], 0
    for r in range(rounds + 1):  # the first round warms caches and is not counted
        started, cpu = time.perf_counter(), time.process_time()
        with factory() as uow:
            leads, fired = process_due(uow, deps, limit=ALERTS)
            uow.commit()
        elapsed, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
        if r:
            timings.append(elapsed)
            cpus.append(cpu)
        assert leads == ALERTS and fired == ALERTS, (leads, fired)
        restore(engine, state)
    steps = phases(engine, deps, rounds)
    reads = command_reads(engine, rounds)
    result = dict(
        reads=reads,
        db=engine.dialect.name,
        leads=n,
        qualified=qualified,
        due=due,
        load_s=loaded,
        steps=steps,
        query_ms=query_ms(engine),
        round_ms=statistics.median(timings),
        best_ms=min(timings),
        cpu_ms=statistics.median(cpus),
        plan=plan(engine),
    )
    engine.dispose()
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_cooling")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args()
    config = load_config(None)
    tmp = tempfile.TemporaryDirectory()
    urls = []
    if args.db in ("sqlite", "both"):
        urls.append(("sqlite", lambda n: f"sqlite:///{tmp.name}/bench_{n}.db"))
    if args.db in ("postgresql", "both"):
        urls.append(("postgresql", lambda n: args.pg_url))
    results = []
    for _, url in urls:
        for n in args.sizes:
            print(f"loading {n:,} leads into {url(n).split('@')[-1]} ...", flush=True)
            results.append(bench(url(n), n, args.rounds, config))
    print()
    print(
        f"{'database':<11}{'leads':>11}{'qualified':>11}{'due':>8}{'query ms':>10}"
        f"{'1,000 alerts ms':>17}{'best ms':>9}{'cpu ms':>8}{'x smallest':>12}"
    )
    for r in results:
        base = next(b for b in results if b["db"] == r["db"])
        print(
            f"{r['db']:<11}{r['leads']:>11,}{r['qualified']:>11,}{r['due']:>8,}{r['query_ms']:>10.2f}"
            f"{r['round_ms']:>17.1f}{r['best_ms']:>9.1f}{r['cpu_ms']:>8.1f}{r['round_ms'] / base['round_ms']:>12.2f}"
        )
    print()
    names = list(results[0]["steps"])
    print(f"{'step (median ms)':<24}" + "".join(f"{r['db'] + ' ' + format(r['leads'], ','):>22}" for r in results))
    for name in names:
        print(f"{name:<24}" + "".join(f"{r['steps'][name]:>22.1f}" for r in results))
    print()
    print(
        f"{'command reads (median ms)':<24}"
        + "".join(f"{r['db'] + ' ' + format(r['leads'], ','):>22}" for r in results)
    )
    for name in results[0]["reads"]:
        print(f"{name:<24}" + "".join(f"{r['reads'][name]:>22.1f}" for r in results))
    print()
    for r in results:
        print(f"{r['db']} {r['leads']:,}: load {r['load_s']:.1f} s; plan: {r['plan']}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
