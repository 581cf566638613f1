"""Benchmark: what one slash command costs in process, its SQL statement by statement.

Run by hand (not part of the suite)::

    .venv/bin/python bench/bench_command_cost.py                       # SQLite, a temporary file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<a db of its own> .venv/bin/python bench/bench_command_cost.py

The app is built as ``python -m bot`` builds it (the demo company), 400 leads owned by Ana arrive
through the CRM events, then ``--n`` of each command run through ``handlers.commands.run_command``
as Ana (no HTTP, no platform, no delivery: the handler's own cost). ``touch`` follows up leads
handed to Ana (``lead.qualified``), ``bounce`` sends back leads she owns. For each command it prints the
CPU and wall time per command (medians of ``--rounds``), the statements per command and the time
the database took for each kind of statement (the ping and the commit included). PostgreSQL's
``public`` schema is dropped and made again: never point it at a shared database.
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bot.app import build  # noqa: E402
from bot.config import load_config  # noqa: E402
from handlers.commands import run_command  # noqa: E402
from handlers.ports import Actor  # noqa: E402
from storage.db import make_engine, migrate, recreate  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.cooling_helpers import hot_lead, ingest  # noqa: E402

COMMANDS = {
    "help": lambda i: "help",
    "touch": lambda i: f"touch Q-{i} called",  # a first follow-up on a qualified lead: the clock stops
    "bounce": lambda i: f"bounce L-{i} not_ready too early",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="commands of each kind per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--profile", metavar="FILE", help="write a cProfile (CPU time) of the timed commands to FILE.<command>"
    )
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp(prefix='cost-')}/bot.db"
    engine = make_engine(url)
    recreate(engine) if url.startswith("postgres") else migrate(engine)
    engine.dispose()
    c = build(make_settings(url), config=load_config(None), do_migrate=False)
    leads = args.n * args.rounds + 20
    now = datetime.now(timezone.utc).isoformat()
    ingest(
        c,
        *[
            {
                "id": f"seed-{i}",
                "type": "lead.upserted",
                "occurred_at": now,
                "data": {
                    "id": f"L-{i}",
                    "email": f"lead{i}@prospect.example",
                    "name": f"Lead {i}",
                    "company": "Prospect",
                    "status": "MQL",
                    "score": 40,
                    "owner_email": "ana@northwind.example",
                },
            }
            for i in range(leads)
        ],
    )
    ingest(c, *[hot_lead(f"Q-{i}", email=f"q{i}@prospect.example") for i in range(leads)])
    with c.uow_factory() as uow:
        ana = Actor(uow.people.by_key("ana").id, "bench")
    timing = {"on": False, "by": collections.Counter(), "time": collections.defaultdict(float)}

    @sa.event.listens_for(c.engine, "before_cursor_execute")
    def _before(conn, cursor, statement, *_):
        conn.info["bench_t"] = time.perf_counter()

    @sa.event.listens_for(c.engine, "after_cursor_execute")
    def _after(conn, cursor, statement, *_):
        if timing["on"]:
            kind = " ".join(statement.split())[:70]
            timing["by"][kind] += 1
            timing["time"][kind] += time.perf_counter() - conn.info["bench_t"]

    dialect = c.engine.dialect
    for name, label in (("do_commit", "COMMIT"), ("do_ping", "PING (pool pre-ping)")):
        original = getattr(dialect, name)

        def timed(dbapi_conn, _original=original, _label=label):
            started = time.perf_counter()
            try:
                return _original(dbapi_conn)
            finally:
                if timing["on"]:
                    timing["by"][_label] += 1
                    timing["time"][_label] += time.perf_counter() - started

        setattr(dialect, name, timed)

    print(f"{c.engine.dialect.name}: {args.n} of each command per round, {args.rounds} rounds, as Ana")
    for name, text in COMMANDS.items():
        for i in range(5):  # warm-up: statements compiled and cached
            run_command(c.registry, c.uow_factory, c.deps, ana, text(leads - 10 + i))
        timing["by"].clear()
        timing["time"].clear()
        cpu, wall = [], []
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        for r in range(args.rounds):
            timing["on"] = True
            t0, p0 = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            for i in range(args.n):
                run_command(c.registry, c.uow_factory, c.deps, ana, text(r * args.n + i))
            if profiler is not None:
                profiler.disable()
            wall.append((time.perf_counter() - t0) / args.n * 1000)
            cpu.append((time.process_time() - p0) / args.n * 1000)
            timing["on"] = False
        runs = args.n * args.rounds
        if profiler is not None:
            profiler.dump_stats(f"{args.profile}.{name}")
        per = sum(v for k, v in timing["by"].items() if not k.startswith(("COMMIT", "PING"))) / runs
        print(
            f"\n{name}: CPU {statistics.median(cpu):.2f} ms, wall {statistics.median(wall):.2f} ms per command; "
            f"{per:.1f} statements, the database {sum(timing['time'].values()) / runs * 1000:.2f} ms"
        )
        for kind, n in sorted(timing["by"].items(), key=lambda kv: -timing["time"][kv[0]]):
            print(f"  {n / runs:4.1f} x {timing['time'][kind] / runs * 1000:6.3f} ms  {kind}")
    c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
