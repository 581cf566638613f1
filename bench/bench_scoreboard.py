"""Benchmark: the agreement's scoreboard for a company with 1,000,000 leads and 100,000 deals.

Run by hand (not part of the suite)::

    .venv/bin/python bench/bench_scoreboard.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/bench_scoreboard.py --db sqlite --leads 100000 --deals 10000
    .venv/bin/python bench/bench_scoreboard.py --pg-url postgresql://postgres@127.0.0.1:5432/bench_scoreboard

Each database is made fresh (SQLite: a temporary file; PostgreSQL: the ``public`` schema of
``--pg-url`` is dropped and migrated again, so point it at a database of its own). Two years of
history are bulk-loaded with Core inserts: 60% of the leads were handed to sales (~25,000 a
month), 80% of those followed up, 10% claimed from the channel first, 10% converted, 8% bounced
(with a bounce row), the last weeks' still open; the deals carry first/last-touch attribution
to 50 campaigns; every lead has a region.

Measured, each as the median and the worst of ``--rounds`` runs after one warm-up:

- ``/smarketing sla`` through ``handlers.commands.run_command`` (the whole answer: queries, the
  numbers, the message) for a rep, a sales manager (each of 9 reps), a marketer (their campaigns)
  and an admin (everything) — target under 300 ms;
- the weekly post (the month's board, the 8-week trend and the chart drawn with matplotlib and
  stored) — target under 1 s; and the chart alone.
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
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import load_config  # noqa: E402
from handlers.commands import run_command  # noqa: E402
from handlers.core import sync_people  # noqa: E402
from handlers.ports import Actor, Deps, FixedClock  # noqa: E402
from handlers.registry import load_registry  # noqa: E402
from storage.db import make_engine, recreate, uow_factory  # noqa: E402
from storage.models import Bounce, Campaign, Deal, Lead  # noqa: E402

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 in New York
DAYS = 730
BATCH = 10_000
REGIONS = ["NA", "NA", "NA", "EMEA", "EMEA", "UK", "DACH", "APAC"]
REASONS = ["not_ready", "no_budget", "wrong_contact", "not_icp", "unresponsive", "duplicate", "other"]


def load(engine, n_leads: int, n_deals: int, seed: int = 7, days: int = DAYS) -> None:
    rng = random.Random(seed)
    config = load_config(None)
    uowf = uow_factory(engine)
    with uowf() as uow:
        sync_people(uow, config)
        uow.commit()
        people = {p.key: p for p in uow.people.all()}
    reps = [p.id for p in people.values() if p.team == "sales" and p.role in ("rep", "sdr")]
    marketers = [p.id for p in people.values() if p.team == "marketing" and p.role == "marketer"]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Campaign.__table__),
            [
                dict(crm_id=f"cmp-{i}", name=f"Campaign {i}", kind="webinar", owner_id=marketers[i % len(marketers)])
                for i in range(50)
            ],
        )
        campaign_ids = [r[0] for r in conn.execute(sa.select(Campaign.id))]
    cols = {c.name for c in Lead.__table__.columns} - {"id"}
    base = {c: None for c in cols}
    base.update(
        status="new",
        sla_window=0,
        ladder_step=0,
        snooze_count=0,
        touch_count=0,
        bounce_count=0,
        sla_clock="first_touch",
        version=0,
    )
    bounces = []
    t0 = time.perf_counter()
    with engine.begin() as conn:
        rows = []
        for i in range(n_leads):
            created = NOW - timedelta(seconds=days * 86400 * (1 - i / n_leads))  # creation order
            row = dict(
                base,
                crm_id=f"L{i}",
                name=f"Lead {i}",
                email=f"l{i}@x.example",
                created_at=created,
                updated_at=created,
                source_campaign_id=rng.choice(campaign_ids),
                attrs={},
            )
            row["region"] = row["attrs"]["region"] = rng.choice(REGIONS)
            if rng.random() < 0.6:
                q = created + timedelta(minutes=rng.uniform(0, 600))
                if q > NOW:
                    q = NOW - timedelta(minutes=1)
                owner = rng.choice(reps)
                due = q + timedelta(hours=rng.choice((1, 4, 8)))
                row.update(
                    qualified_at=q,
                    handoff_due_at=due,
                    sla_due_at=due,
                    owner_id=owner,
                    status="qualified",
                    tier="hot",
                    sla_started_at=q,
                    sla_window=1,
                )
                if rng.random() < 0.1:
                    row["claimed_at"] = q + timedelta(minutes=rng.uniform(1, 120))
                r = rng.random()
                recent = NOW - q < timedelta(days=21)
                if r < 0.8 and not (recent and r > 0.5):
                    touch = max(q, row["claimed_at"] or q) + timedelta(minutes=rng.expovariate(1 / 180))
                    if touch < NOW:
                        row.update(first_touch_at=touch, last_touch_at=touch, touch_count=1)
                if not recent or r > 0.95:
                    fate = rng.random()
                    if fate < 0.1:
                        row["status"] = "converted"
                    elif fate < 0.18 and row["first_touch_at"] is None:
                        row.update(status="nurture", bounce_count=1)
                        bounces.append(
                            dict(
                                lead_id=i + 1,
                                campaign_id=row["source_campaign_id"],
                                reason=rng.choice(REASONS),
                                by_person_id=owner,
                                at=q + timedelta(hours=rng.uniform(1, 48)),
                                repeat=False,
                                context={},
                            )
                        )
                    elif row["status"] == "qualified":
                        row["status"] = "disqualified" if fate > 0.9 else "converted" if fate > 0.85 else "nurture"
            rows.append(row)
            if len(rows) == BATCH:
                conn.execute(sa.insert(Lead.__table__), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(Lead.__table__), rows)
        for i in range(0, len(bounces), BATCH):
            conn.execute(sa.insert(Bounce.__table__), bounces[i : i + BATCH])
        deals = []
        for i in range(n_deals):
            closed = NOW - timedelta(seconds=rng.uniform(0, days * 86400))
            src = rng.choice(campaign_ids) if rng.random() < 0.7 else None
            deals.append(
                dict(
                    crm_id=f"D{i}",
                    name=f"Deal {i}",
                    name_key=f"deal {i}",
                    celebration="post",
                    amount_minor=rng.randint(1_000, 100_000) * 100,
                    currency=rng.choice(("USD", "USD", "EUR")),
                    owner_id=rng.choice(reps),
                    closed_at=closed,
                    source="crm",
                    attrs={"sourced_by": src, "converted_by": rng.choice(campaign_ids) if src else None},
                )
            )
            if len(deals) == BATCH:
                conn.execute(sa.insert(Deal.__table__), deals)
                deals = []
        if deals:
            conn.execute(sa.insert(Deal.__table__), deals)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    print(
        f"  loaded {n_leads:,} leads, {len(bounces):,} bounces, {n_deals:,} deals in {time.perf_counter() - t0:.0f} s"
    )


def timed(fn, rounds: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def run(url: str, n_leads: int, n_deals: int, rounds: int, reuse: bool = False) -> None:
    engine = make_engine(url)
    print(f"{engine.dialect.name}: {n_leads:,} leads, {n_deals:,} deals" + (" (loaded before)" if reuse else ""))
    if not reuse:
        recreate(engine)
        load(engine, n_leads, n_deals)
    config = load_config(None)
    uowf = uow_factory(engine)
    registry = load_registry()
    deps = Deps(config=config, clock=FixedClock(NOW))
    with uowf() as uow:
        ids = {p.key: p.id for p in uow.people.all()}
    for who, text in (
        ("ana", "sla"),
        ("maya", "sla"),
        ("kira", "sla"),
        ("sam", "sla"),
        ("maya", "sla all"),
        ("sam", "sla last-month"),
        ("sam", "sla week"),
        ("sam", "sla region EMEA"),
    ):

        def ask():
            reply = run_command(registry, uowf, deps, Actor(ids[who], "bench"), text)  # noqa: B023 - used within this iteration  # noqa: B023 - used within this iteration
            assert reply.message is not None, reply.text

        med, worst = timed(ask, rounds)
        print(f"  /smarketing {text:<17} as {who:<5} median {med:6.1f} ms   worst {worst:6.1f} ms")

    from handlers import schedule_rules as srules
    from handlers.charts import weekly_chart
    from handlers.scoreboard import trend, weekly_message

    tz = ZoneInfo("America/New_York")
    monday = srules.monday_of(NOW.astimezone(tz).date())
    n = [0]

    def post():
        n[0] += 1
        with uowf() as uow:  # a new week's key each time, so the chart is drawn every round
            weekly_message(uow, deps, monday - timedelta(days=7 * n[0]), tz)
            uow.commit()

    med, worst = timed(post, rounds)
    print(f"  weekly post (board + trend + chart drawn and stored) median {med:6.1f} ms   worst {worst:6.1f} ms")
    with uowf() as uow:
        weeks = trend(uow, deps, monday, tz, 8)
    med, worst = timed(lambda: weekly_chart(weeks, title="Northwind Analytics — the smarketing agreement"), rounds)
    print(
        f"  the chart alone                                   median {med:6.1f} ms   worst {worst:6.1f} ms "
        f"({len(weekly_chart(weeks, title='x')):,} bytes)"
    )
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/bench_scoreboard")
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--deals", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reuse", action="store_true", help="PostgreSQL: measure the data a previous run loaded")
    a = ap.parse_args()
    if a.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as d:
            run(f"sqlite:///{d}/bench.db", a.leads, a.deals, a.rounds)
    if a.db in ("postgresql", "both"):
        run(a.pg_url, a.leads, a.deals, a.rounds, reuse=a.reuse)


if __name__ == "__main__":
    main()
