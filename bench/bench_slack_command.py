"""Signed `/smarketing help` through the real HTTP server (uvicorn) against the local Slack stand-in.

Run: python bench/bench_slack_command.py [--n 500]   (DATABASE_URL selects the database; SQLite temp file otherwise)
Reports p50/p99/max latency of the whole request as Slack would see it (Slack's limit is 3 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import slack_requests as sr  # noqa: E402
from tests.conftest import SIGNING_SECRET, LiveServer, demo_config_with_slack, make_settings  # noqa: E402
from tests.slack_mock import SlackMock  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    from bot.app import build

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    with SlackMock(users={"ana@northwind.example": "U_ANA"}) as slack:
        settings = make_settings(
            url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=slack.base_url,
            log_level="WARNING",
        )
        container = build(settings, config=demo_config_with_slack())
        server = LiveServer(container).start()
        try:
            with server.client() as http:
                times = []
                for i in range(args.n + 20):
                    body, ctype = sr.slash_command("help", user_id="U_ANA")
                    headers = sr.signed_headers(SIGNING_SECRET, body, ctype)
                    t0 = time.perf_counter()
                    resp = http.post("/slack/events", content=body, headers=headers)
                    elapsed = (time.perf_counter() - t0) * 1000
                    assert resp.status_code == 200, resp.text
                    if i >= 20:  # warm-up
                        times.append(elapsed)
        finally:
            server.stop()
            container.close()
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    db = "postgresql" if url.startswith("postgres") else "sqlite"
    print(
        f"{db}: {args.n} signed /smarketing help: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, "
        f"max {times[-1]:.1f} ms, mean {statistics.mean(times):.1f} ms"
    )


if __name__ == "__main__":
    main()
