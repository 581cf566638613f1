"""Nothing lost, nothing said twice, in order: the long fault-injection run.

Run:  python bench/bench_delivery_chaos.py [--events 2000] [--kills 6] [--replicas 1] [--fault-rate 0.2]
      DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python bench/bench_delivery_chaos.py --replicas 2

The real server (``python -m bot``, one or more replicas) gets the events through the signed CRM
webhook (won deals: a #wins post each and a #company copy from $50,000; qualified leads: a DM to
the owner) while the local Slack stand-in fails ``--fault-rate`` of all calls (500, 429 with
Retry-After, resets before and after acting) and the server is ``kill -9``-ed ``--kills`` times
mid-delivery (while Slack holds one of its posts, then acts on it or drops it; or at a random
moment) and started again. It prints what reached Slack: expected, lost, doubled, channels out of
order; it exits 1 unless all are delivered once and in order.

DATABASE_URL selects PostgreSQL (its ``public`` schema is dropped and created again: never point it
at a database you care about); a temporary SQLite file otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.db import make_engine, migrate, recreate  # noqa: E402
from tests.chaos import ChaosRun  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--batch", type=int, default=50, help="events per webhook request")
    ap.add_argument("--deadline", type=float, default=900, help="seconds to wait for delivery after the last event")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/chaos.db"
    engine = make_engine(url)
    recreate(engine) if url.startswith("postgres") else migrate(engine)
    engine.dispose()
    if args.replicas > 1 and not url.startswith("postgres"):
        print("note: replicas share one database; PostgreSQL is what several replicas are for", file=sys.stderr)
    run = ChaosRun(
        url,
        workdir,
        replicas=args.replicas,
        events=args.events,
        kills=args.kills,
        fault_rate=args.fault_rate,
        seed=args.seed,
        batch=args.batch,
        deadline=args.deadline,
        log=lambda m: print(m, flush=True),
    )
    report = run.run()
    print(report.summary())
    if report.lost:
        print("lost:", report.lost[:20])
    if report.doubled:
        print("doubled:", dict(list(report.doubled.items())[:20]))
    if report.out_of_order:
        print("out of order:", report.out_of_order)
    print(f"logs: {workdir}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
