"""Benchmark: the server's CPU per message delivered, with no commands arriving.

Run by hand (not part of the suite)::

    .venv/bin/python bench/bench_delivery_cost.py [--backlog 320] [--channels 20] [--runs 3]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/bench_delivery_cost.py

The product is started as deployed (``python -m bot``, Slack over HTTP, its dispatcher pacing posts
at one a second per channel) against the local Slack stand-in, which answers 429 to a channel
posting faster than Slack allows. ``--backlog`` messages for ``--channels`` channels are queued in
its outbox; the run times the server process's CPU (user + system, all its threads) from the
queueing to the last delivery, and prints it per message with the channels' delivery rates and
the 429s. What it measures is the dispatcher's whole cost: the claims, the posts, the recording.

DATABASE_URL selects PostgreSQL (its ``public`` schema is dropped and created again: never point it
at a database you care about); a temporary SQLite file otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare import Server, _add_channels, _delivery, _queue_backlog, _wait_backlog, environments  # noqa: E402
from storage.db import make_engine, migrate, recreate  # noqa: E402
from tests.chaos import slack_users, write_config  # noqa: E402
from tests.slack_mock import SlackMock  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlog", type=int, default=320)
    ap.add_argument("--channels", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    per_message: list[float] = []
    for run in range(args.runs):
        workdir = Path(tempfile.mkdtemp(prefix="delivery-cost-"))
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bot.db"
        engine = make_engine(url)
        recreate(engine) if url.startswith("postgres") else migrate(engine)
        engine.dispose()
        with SlackMock(users=slack_users()) as slack:
            config = workdir / "config.yaml"
            write_config(config)
            _add_channels(config, args.channels)
            _, env = environments(url, config, slack)
            product = Server("product", [sys.executable, "-m", "bot"], env, workdir)
            product.start()
            try:
                slack.channel_rate_limit(1.0, burst=2)
                cpu0, started = product.cpu(), time.monotonic()
                _queue_backlog(url, args.backlog, args.channels)
                _wait_backlog(url, deadline=started + args.backlog / args.channels * 1.5 + 60)
                took, cpu = time.monotonic() - started, product.cpu() - cpu0
                delivery = _delivery(slack, args.channels)
            finally:
                product.stop()
        per_message.append(cpu / args.backlog * 1000)
        print(
            f"run {run + 1}: {args.backlog} messages in {took:.1f} s, server CPU {cpu:.2f} s = "
            f"{per_message[-1]:.2f} ms per message; {min(delivery['rates']):.3f}-{max(delivery['rates']):.3f} "
            f"msg/s/channel, {sum(delivery['limited'].values())} x 429"
        )
    db = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(f"{db}: median {statistics.median(per_message):.2f} ms of server CPU per message delivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
