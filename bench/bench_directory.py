"""People from the directory: 2,000 CRM owners (``owner.upserted``, with a manager chain) and a Slack
workspace of 10,000 users (``users.list`` 200 a page by cursor, two user groups deciding who is in
sales and marketing) synced against the local Slack mock at a Tier 2 rate limit (429 with
``Retry-After``, waited out for real).

Reports the time of each part, Slack calls and 429s, the process's resident memory before, at its
peak (sampled every 50 ms) and after, and the database writes (INSERT/UPDATE/DELETE statements) of
a second sync with no change (there should be none).

    .venv/bin/python bench/bench_directory.py                 # SQLite in a temporary file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/bench_directory.py
    .venv/bin/python bench/bench_directory.py --per-minute 20 --burst 20   # Tier 2 with no burst

The PostgreSQL database is emptied first (``storage.db.recreate``): never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.slack_mock import SlackMock  # noqa: E402

TOKEN = "xoxb-bench"
CONFIG = """
company: Bench
channels:
  wins: {slack: C_WINS}
  sales: {slack: C_SALES}
  marketing: {slack: C_MARKETING}
teams:
  sales: {channel: sales, timezone: America/New_York, members: {slack_usergroup: S0SALES}}
  marketing: {channel: marketing, timezone: Europe/London, members: {slack_usergroup: S0MKT}}
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    def __init__(self):
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--owners", type=int, default=2_000)
    ap.add_argument("--per-minute", type=float, default=20, help="users.list calls a minute (Slack Tier 2: 20+)")
    ap.add_argument("--burst", type=float, default=50, help="calls allowed at once before the rate applies")
    args = ap.parse_args()

    import sqlalchemy as sa

    from bot.app import build
    from bot.config import parse_config
    from bot.settings import Settings
    from handlers.events import validate_events
    from handlers.ingest import ingest_events
    from storage.db import make_engine, recreate

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench_directory.db"
    engine = make_engine(url)
    recreate(engine)
    engine.dispose()

    slack = SlackMock(tokens=[TOKEN]).start()
    sales, marketing = [], []
    for n in range(args.users):
        uid = f"U{n:07d}"
        slack.add_user(f"user{n}@bench.example", uid, f"User {n}", deleted=(n % 500 == 499))
        if n < args.owners:
            sales.append(uid)
        elif n < args.owners + 500:
            marketing.append(uid)
    slack.add_usergroup("S0SALES", sales)
    slack.add_usergroup("S0MKT", marketing)
    slack.method_rate_limit("users.list", args.per_minute, args.burst)
    slack.method_rate_limit("usergroups.users.list", args.per_minute, args.burst)

    settings = Settings(
        _env_file=None,
        database_url=url,
        slack_bot_token=TOKEN,
        slack_signing_secret="s" * 32,
        slack_api_url=slack.base_url,
        local_workspace=False,
        scheduler=False,
        log_level="WARNING",
    )
    c = build(settings, config=parse_config(CONFIG))
    d = c.extras["slack_directory"]

    writes = {"n": 0}
    slack_time = {"s": 0.0}
    real_call = d._call

    def timed_call(method, **params):
        t = time.perf_counter()
        try:
            return real_call(method, **params)
        finally:
            slack_time["s"] += time.perf_counter() - t

    d._call = timed_call

    @sa.event.listens_for(c.engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes["n"] += 1

    rss0 = rss_mb()
    print(
        f"database: {c.engine.dialect.name}; {args.users:,} Slack users, {args.owners:,} CRM owners; users.list at "
        f"{args.per_minute:g}/min after a burst of {args.burst:g}"
    )
    print(f"RSS before: {rss0:.1f} MB")

    # CRM owners: managers every 10th owner, each reporting to owner 0.
    t0 = time.perf_counter()
    with Peak() as peak_crm:
        batch = []
        for n in range(args.owners):
            manager = None if n == 0 else f"user{(n // 10) * 10 if n % 10 else 0}@bench.example"
            batch.append(
                {
                    "id": f"own-{n}",
                    "type": "owner.upserted",
                    "occurred_at": "2026-11-23T15:00:00Z",
                    "data": {
                        "id": str(n),
                        "email": f"user{n}@bench.example",
                        "name": f"User {n}",
                        "team": "sales",
                        "manager_email": manager,
                        "active": True,
                    },
                }
            )
            if len(batch) == 500 or n == args.owners - 1:
                events, problems = validate_events(batch)
                assert not problems
                ingest_events(c.registry, c.uow_factory, c.deps, events)
                batch = []
    t_crm = time.perf_counter() - t0
    print(f"CRM owners: {args.owners:,} in {t_crm:.2f} s (batches of 500); RSS peak {peak_crm.peak:.1f} MB")

    writes["n"] = 0
    t0 = time.perf_counter()
    with Peak() as peak1:
        first = d.sync()
    t1 = time.perf_counter() - t0
    w1 = writes["n"]
    print(
        f"first Slack sync: {t1:.2f} s ({slack_time['s']:.2f} s of it in Slack calls), {d.calls} Slack calls, {len(d.waited)} answered 429 "
        f"(waited {sum(d.waited):.0f} s as asked); {first}; {w1} write statements; RSS peak {peak1.peak:.1f} MB"
    )

    # The next night's sync: Slack's rate budget has long refilled.
    slack.method_rate_limit("users.list", args.per_minute, args.burst)
    slack.method_rate_limit("usergroups.users.list", args.per_minute, args.burst)
    writes["n"], d.calls, d.waited, slack_time["s"] = 0, 0, [], 0.0
    t0 = time.perf_counter()
    with Peak() as peak2:
        second = d.sync()
    t2 = time.perf_counter() - t0
    print(
        f"second Slack sync (no change): {t2:.2f} s ({slack_time['s']:.2f} s of it in Slack calls), {d.calls} Slack calls, {len(d.waited)} answered 429; "
        f"{second}; {writes['n']} write statements; RSS peak {peak2.peak:.1f} MB"
    )
    with c.uow_factory() as uow:
        people = uow.session.execute(
            sa.text(
                "SELECT count(*), sum(CASE WHEN slack_user_id IS NOT NULL THEN 1 ELSE 0 END), "
                "sum(CASE WHEN active THEN 0 ELSE 1 END) FROM person"
            )
        ).one()
    print(f"people: {people[0]:,} ({people[1]:,} linked to Slack, {people[2]:,} left)")
    print(f"RSS after: {rss_mb():.1f} MB")
    c.close()
    slack.stop()
    return 0 if second.writes == 0 and writes["n"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
