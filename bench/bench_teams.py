"""Benchmark: the Teams adapter through the real server, and proactive delivery to Teams.

    /work/venv/bin/python bench/bench_teams.py [--requests 300] [--deliveries 500]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/<your db> /work/venv/bin/python bench/bench_teams.py

1. ``--requests`` ``help`` messages posted to ``/api/messages`` one after another (the SDK's
   pipeline, the command's transaction, the Adaptive Card reply sent to the Teams stand-in before
   the request returns), then as many ``Action.Execute`` button presses answered with the updated
   card. Latency is measured at the client.
2. ``--deliveries`` cards queued for one channel and delivered by the outbox dispatcher
   (``drain()``; no per-channel spacing) to the stand-in: messages per second, through the SDK's
   API client on the deliverer's own event loop.

The database is emptied first (a temporary SQLite file by default): never point it at a shared one.
Both the bot and the stand-in run on loopback, so these are the bot's own costs, not Teams'.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build  # noqa: E402
from handlers.messages import Actions, Button, Message, Section  # noqa: E402
from handlers.ports import FixedClock, channel  # noqa: E402
from handlers.registry import Flow, Registry  # noqa: E402
from storage.db import make_engine, migrate  # noqa: E402
from tests import teams_standin as ts  # noqa: E402
from tests.conftest import LiveServer, _clean, make_settings  # noqa: E402
from tests.teams_helpers import CHANNELS, ROSTER, TEAM_ID, WINS, teams_config  # noqa: E402
from tests.test_teams_e2e import TEST_FLOW  # noqa: E402

_presses = iter(range(10**9))


def _ack(uow, deps, actor, value, source):
    """Each press replaces the card with a new one (a fresh update key every time)."""
    msg = Message(text="Acked", blocks=[Section(text=f"Acknowledged by <person:{actor.person_id}>")])
    uow.outbox.add(
        key=f"{source.outbox_key}:ack:{next(_presses)}",
        op="update",
        target_key=source.outbox_key,
        destination=channel("wins"),
        payload=msg.to_json(),
        at=deps.now(),
    )
    uow.commit()


BENCH_FLOW = Flow(name="bench", commands=TEST_FLOW.commands, actions={"test.ack": _ack})


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def show(name: str, ms: list[float]) -> None:
    print(
        f"{name:<34} n={len(ms):<5} p50 {statistics.median(ms):6.2f} ms   p99 {pct(ms, 99):6.2f} ms   "
        f"max {max(ms):6.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--deliveries", type=int, default=500)
    args = ap.parse_args()
    logging.disable(logging.WARNING)

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    migrate(engine)
    _clean(engine)
    engine.dispose()

    teams = ts.TeamsStandIn().start()
    for email, (uid, aad) in ROSTER.items():
        teams.add_user(email, uid, aad)
    teams.add_team(TEAM_ID, CHANNELS)
    settings = make_settings(
        url, teams_client_id="bench-app", dangerously_allow_unauthenticated_requests=True, log_level="WARNING"
    )
    c = build(
        settings,
        config=teams_config(),
        clock=FixedClock(datetime(2026, 11, 23, 15, tzinfo=timezone.utc)),
        do_migrate=False,
    )
    c.registry = Registry.build(list(c.registry.flows) + [BENCH_FLOW])
    server = LiveServer(c).start()
    c.dispatcher.stop()  # part 2 drains by itself
    print(f"database: {engine.dialect.name}")
    try:
        with server.client() as http:
            ana = teams.user("ana@northwind.example")
            sam = teams.user("sam@northwind.example")
            http.post(
                "/api/messages",
                json=ts.installed_in_team(teams.service_url, user=sam, team_id=TEAM_ID, team_name="Northwind"),
            )
            for _ in range(5):  # warm up
                http.post("/api/messages", json=ts.message(teams.service_url, "help", user=ana))
            ms = []
            for _ in range(args.requests):
                body = ts.message(teams.service_url, "help", user=ana)
                t = time.perf_counter()
                r = http.post("/api/messages", json=body)
                ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200
            show("help -> card reply", ms)

            http.post("/api/messages", json=ts.message(teams.service_url, "ping", user=ana))
            c.dispatcher.drain()
            [card_post] = teams.sent(WINS)
            [ack] = ts.actions_of(ts.cards_in(card_post)[0])
            ms = []
            for _ in range(args.requests):
                press = ts.card_action(
                    teams.service_url,
                    user=ana,
                    verb=ack["verb"],
                    data=ack["data"],
                    reply_to=card_post["id"],
                    conversation=ts.channel_conversation(WINS),
                )
                t = time.perf_counter()
                r = http.post("/api/messages", json=press)
                ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and r.json()["type"].endswith("card.adaptive")
            show("button press -> updated card", ms)
            c.dispatcher.drain()

        msg = Message(
            text="Bench",
            blocks=[
                Section(text="*Bench* card for <person:1>"),
                Actions(buttons=[Button(label="Ack", action="test.ack", value="1")]),
            ],
        )
        with c.uow_factory() as uow:
            for i in range(args.deliveries):
                uow.outbox.add(key=f"bench:{i}", destination=channel("wins"), payload=msg.to_json(), at=c.deps.now())
            uow.commit()
        before = len(teams.sent(WINS))
        t = time.perf_counter()
        c.dispatcher.drain(max_passes=10_000)
        elapsed = time.perf_counter() - t
        delivered = len(teams.sent(WINS)) - before
        print(
            f"{'outbox -> Teams (proactive cards)':<34} {delivered} delivered in {elapsed:.2f} s = "
            f"{delivered / elapsed:,.0f} msg/s"
        )
    finally:
        server.stop()
        c.close()
        teams.stop()


if __name__ == "__main__":
    main()
