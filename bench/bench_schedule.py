"""Benchmark: render one team's week of 2,000 schedule items (issue 20: under 50 ms, with its query).

    /work/venv/bin/python bench/bench_schedule.py [--items 2000] [--runs 30]

"Render" is everything between the rows and the messages put in the outbox: rows to rule values,
every conflict, what touches the team, and the paged layout (``week_pages``). Two more figures
are printed for context: the same with the database query on SQLite (``week_view`` + pages, as
the digest job does it), and turning every page into Block Kit (the dispatcher's share).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handlers import schedule_messages as msgs  # noqa: E402
from handlers import schedule_rules as rules  # noqa: E402
from handlers.events import SCHEDULE_KINDS  # noqa: E402
from handlers.schedule import to_item  # noqa: E402

UTC = timezone.utc
MONDAY = date(2026, 11, 23)
TZ = ZoneInfo("Europe/London")
REGIONS = ["EMEA", "UK", "DACH", "France", "Nordics", "US East", "US West", "Canada", "LATAM", "APAC", "ANZ", "Japan"]
WORDS = [
    "Q4",
    "launch",
    "partner",
    "webinar",
    "roadshow",
    "renewal",
    "upsell",
    "pipeline",
    "analytics",
    "summit",
    "discount",
    "enterprise",
    "mid-market",
    "onboarding",
    "security",
    "AI",
    "data",
    "cloud",
]


def rows(n: int, seed: int = 7) -> list[SimpleNamespace]:
    """``n`` items spread over one week, shaped like ``ScheduleItem`` rows."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        all_day = rnd.random() < 0.3
        if all_day:
            start = datetime(2026, 11, 23, tzinfo=UTC) + timedelta(days=rnd.randrange(7))
            end = start + timedelta(days=rnd.choice([1, 1, 1, 2, 3, 5]))
        else:
            start = datetime(2026, 11, 23, 6, tzinfo=UTC) + timedelta(minutes=15 * rnd.randrange(4 * 24 * 6))
            end = start + timedelta(minutes=30 * rnd.randrange(1, 9))
        title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(3, 9))).capitalize()
        out.append(
            SimpleNamespace(
                id=i + 1,
                team=rnd.choice(["sales", "marketing"]),
                kind=rnd.choice(SCHEDULE_KINDS),
                title=title,
                regions=rnd.sample(REGIONS, rnd.choice([1, 1, 2, 3])),
                starts_at=start,
                ends_at=end,
                all_day=all_day,
                owner_id=rnd.randrange(1, 21),
                owner_email=None,
                link=f"https://wiki.example.com/plans/{i}" if rnd.random() < 0.2 else None,
            )
        )
    return out


def render(raw: list[SimpleNamespace]) -> list[msgs.Page]:
    items = [it for it in map(to_item, raw) if rules.in_week(it, MONDAY, TZ)]
    conflicts = rules.find_conflicts(items, TZ, week=MONDAY)
    view = msgs.WeekView(
        monday=MONDAY,
        tz=TZ,
        items=items,
        conflicts=conflicts,
        team="marketing",
        other="sales",
        touches=rules.touching(items, "marketing", conflicts),
        contacts={"marketing": [11]},
    )
    return msgs.week_pages(view)


def timed(fn, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``runs`` calls (CPU time is what to read on a shared,
    busy machine: it leaves out the time other processes had the cores)."""
    fn()  # warm up (imports, zone data)
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return wall, cpu


def line(name: str, measured: tuple[list[float], list[float]]) -> str:
    wall, cpu = sorted(measured[0]), sorted(measured[1])
    p95 = wall[min(len(wall) - 1, int(len(wall) * 0.95))]
    return (
        f"{name:<38} wall median {statistics.median(wall):6.1f} ms (p95 {p95:6.1f}, min {wall[0]:6.1f})"
        f"   cpu median {statistics.median(cpu):6.1f} ms"
    )


def with_database(raw: list[SimpleNamespace], runs: int) -> list[float]:
    from bot.config import load_config
    from handlers.core import sync_people
    from handlers.ports import Deps, FixedClock
    from handlers.schedule import week_view
    from storage.db import make_engine, migrate, uow_factory
    from storage.models import ScheduleItem

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        uowf = uow_factory(engine)
        config = load_config(None)
        with uowf() as uow:
            sync_people(uow, config)
            uow.session.execute(
                ScheduleItem.__table__.insert(),
                [
                    dict(
                        team=r.team,
                        kind=r.kind,
                        title=r.title,
                        regions=r.regions,
                        starts_at=r.starts_at,
                        ends_at=r.ends_at,
                        all_day=r.all_day,
                        owner_id=r.owner_id,
                        link=r.link,
                        source="command",
                    )
                    for r in raw
                ],
            )
            uow.commit()
        deps = Deps(config=config, clock=FixedClock(datetime(2026, 11, 23, 9, tzinfo=UTC)))

        def digest_view():
            with uowf() as uow:
                msgs.week_pages(week_view(uow, deps, MONDAY, TZ, "marketing"))

        try:
            return timed(digest_view, runs)
        finally:
            engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--budget-ms", type=float, default=50.0)
    args = ap.parse_args()

    raw = rows(args.items)
    pages = render(raw)
    items = sum(1 for r in raw if rules.in_week(to_item(r), MONDAY, TZ))
    conflicts = len(rules.find_conflicts([to_item(r) for r in raw], TZ, week=MONDAY))
    print(
        f"{args.items} items ({items} in the week of {MONDAY}), {conflicts} conflicts, {len(pages)} pages "
        f"(each <= {msgs.PAGE_BLOCKS} blocks, sections <= {msgs.SECTION_BUDGET} chars, "
        f"page <= {msgs.PAGE_BUDGET} chars)"
    )
    render_ms = timed(lambda: render(raw), args.runs)
    print(line("render (rows -> conflicts -> pages)", render_ms))
    with_query = with_database(raw, max(5, args.runs // 3))
    print(line("digest view incl. SQLite query", with_query))

    from bot.slack.blocks import render_message

    print(
        line(
            "Block Kit rendering of every page",
            timed(
                lambda: [render_message(p.message, lambda pid: (f"Person {pid}", f"U{pid:08d}")) for p in pages],
                max(5, args.runs // 3),
            ),
        )
    )
    wall, cpu = statistics.median(render_ms[0]), statistics.median(render_ms[1])
    q_wall, q_cpu = statistics.median(with_query[0]), statistics.median(with_query[1])
    # CPU time is the figure to hold to the budget on a shared machine (wall time includes the
    # time other processes had the cores); both are printed.
    ok = cpu < args.budget_ms and q_cpu < args.budget_ms
    print(
        f"{'PASS' if ok else 'FAIL'}: median render {wall:.1f} ms wall, {cpu:.1f} ms cpu; with the query "
        f"{q_wall:.1f} ms wall, {q_cpu:.1f} ms cpu (budget {args.budget_ms:.0f} ms; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
