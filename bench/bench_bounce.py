"""Benchmark: bounce-back through the real server, and the weekly report over many bounces.

    /work/venv/bin/python bench/bench_bounce.py [--requests 300] [--bounces 200000] [--campaigns 300]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<your db> /work/venv/bin/python bench/bench_bounce.py

1. ``--requests`` signed ``/smarketing bounce L-i not_ready <note>`` slash commands, one after
   another, to the live server (uvicorn + bolt + the handler's one transaction: lead, bounce row,
   marketing post in the outbox), Slack's Web API stood in for by the tests' mock. Latency is
   measured at the client, as Slack would see it (the budget is 3 s).
2. The ``bounce_report`` job over ``--bounces`` bounce rows in the last 7 days spread over
   ``--campaigns`` campaigns: one GROUP BY query, the layout, one outbox row.

The database is emptied first (a temporary SQLite file by default): never point it at a shared one.
"""

from __future__ import annotations

import argparse
import os
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from bot.app import build  # noqa: E402
from bot.scheduler import run_job  # noqa: E402
from handlers.ports import FixedClock  # noqa: E402
from storage.db import make_engine, recreate  # noqa: E402
from storage.models import Bounce, Campaign, Lead  # noqa: E402
from tests import slack_requests as sr  # noqa: E402
from tests.conftest import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    SLACK_USERS,
    LiveServer,
    _clean,
    demo_config_with_slack,
    make_settings,
)
from tests.slack_mock import SlackMock  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--bounces", type=int, default=200_000)
    ap.add_argument("--campaigns", type=int, default=300)
    args = ap.parse_args()

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    recreate(engine)
    _clean(engine)
    engine.dispose()

    clock = FixedClock(datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))  # Monday, after the report time
    slack = SlackMock(users=dict(SLACK_USERS)).start()
    settings = make_settings(
        url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
        log_level="WARNING",
    )
    container = build(settings, config=demo_config_with_slack(), clock=clock, do_migrate=False)
    logging.getLogger().setLevel(logging.WARNING)
    server = LiveServer(container).start()
    try:
        now = clock.now()
        with container.uow_factory() as uow:
            ana = uow.people.by_key("ana").id
            kira = uow.people.by_key("kira").id
            camp = uow.campaigns.add(Campaign(crm_id="C-bench", name="Bench webinar", owner_id=kira))
            uow.session.execute(
                sa.insert(Lead.__table__),
                [
                    dict(
                        crm_id=f"L-{i}",
                        email=f"lead{i}@example.com",
                        name=f"Lead {i}",
                        company=f"Co {i}",
                        status="qualified",
                        score=80,
                        owner_id=ana,
                        source_campaign_id=camp.id,
                        sla_window=1,
                        ladder_step=0,
                        snooze_count=0,
                        touch_count=0,
                        bounce_count=0,
                        attrs={},
                        qualified_at=now - timedelta(days=2),
                        next_alert_at=now + timedelta(hours=1),
                        created_at=now,
                    )
                    for i in range(args.requests)
                ],
            )
            uow.commit()

        latencies = []
        with server.client() as http:
            for i in range(args.requests):
                body, ctype = sr.slash_command(f"bounce L-{i} not_ready Not before next quarter", user_id="U_ANA")
                headers = sr.signed_headers(SIGNING_SECRET, body, ctype)
                started = time.perf_counter()
                resp = http.post("/slack/events", content=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200 and "Bounced" in resp.json()["text"], resp.text
        print(
            f"{engine.dialect.name}: {args.requests} signed `/smarketing bounce` slash commands through the "
            f"live server: p50 {statistics.median(latencies):.1f} ms, p99 {pct(latencies, 99):.1f} ms, "
            f"max {max(latencies):.1f} ms"
        )

        reasons = ["not_ready", "no_budget", "wrong_contact", "not_icp", "unresponsive", "duplicate", "other"]
        with container.uow_factory() as uow:
            uow.session.execute(
                sa.insert(Campaign.__table__),
                [
                    dict(crm_id=f"C{i}", name=f"Campaign {i}", kind="other", owner_id=kira)
                    for i in range(args.campaigns)
                ],
            )
            ids = list(uow.campaigns.ids_by_crm_id(f"C{i}" for i in range(args.campaigns)).values())
            lead_id = uow.leads.by_crm_id("L-0").id
            rows = [
                dict(
                    lead_id=lead_id,
                    campaign_id=ids[i % len(ids)],
                    reason=reasons[i % 7],
                    repeat=i % 5 == 0,
                    at=now - timedelta(hours=7 + (i % 150)),
                    context={},
                )
                for i in range(args.bounces)
            ]
            for k in range(0, len(rows), 5000):
                uow.session.execute(sa.insert(Bounce.__table__), rows[k : k + 5000])
            uow.commit()
        started = time.perf_counter()
        result = run_job(container, "bounce_report")
        elapsed = (time.perf_counter() - started) * 1000
        print(
            f"{engine.dialect.name}: weekly bounce_report over {args.bounces:,} bounces in "
            f"{args.campaigns} campaigns: {elapsed:.0f} ms ({result})"
        )
    finally:
        server.stop()
        container.close()
        slack.stop()


if __name__ == "__main__":
    main()
