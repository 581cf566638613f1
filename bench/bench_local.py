"""Benchmark: a local workspace channel with 10,000 messages opens in under a second.

Fills a fresh database with 10,000 delivered posts in #wins (celebration-sized messages with
fields, mentions and a reaction) and 2,000 more spread over other conversations, serves the real
app (FastAPI + the local workspace, uvicorn on loopback), and times what a browser does to open
the channel: ``GET /`` (the page) then ``GET /local/api/messages`` (its last 50 messages). Also
times "load older" deep in the history and one change-feed poll.

    python bench/bench_local.py                       # SQLite in a temporary directory
    python bench/bench_local.py --database-url postgresql://postgres@127.0.0.1:5432/bench_local
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build  # noqa: E402
from bot.local.web import mount_local_workspace  # noqa: E402
from bot.server import create_api  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.messages import Context, Header, Message, Section, mention  # noqa: E402

BUDGET = 1.0  # seconds, for the page and its first messages together


def celebration(i: int, owner: int, marketer: int) -> dict:
    return Message(
        text=f"Deal {i} closed won",
        reaction="tada",
        blocks=[
            Header(text=f"🎉 Customer {i}: Analytics Platform, annual — ${(i % 90 + 10) * 1000:,}"),
            Section(
                text=f"*Customer {i}* closed won. Congratulations {mention(owner)}!",
                fields=[
                    ("Amount", f"${(i % 90 + 10) * 1000:,}"),
                    ("Owner", mention(owner)),
                    ("Sourced by", f"Webinar *Forecasting with AI* ({mention(marketer)})"),
                    ("Time to close", f"{i % 60 + 5} days from first touch"),
                ],
            ),
            Context(text="November 2026: *$310,300* won of $250,000 target (124%)"),
        ],
    ).to_json()


def fill(container, n_channel: int, n_other: int) -> float:
    started = time.perf_counter()
    with container.uow_factory() as uow:
        people = [p.id for p in uow.people.all()]
        for i in range(n_channel):
            uow.outbox.add(
                key=f"bench:wins:{i}",
                destination="channel:wins",
                at=container.deps.now(),
                payload=celebration(i, people[i % 10], people[10 + i % 10]),
            )
        others = ["channel:sales", "channel:marketing", "channel:company"] + [f"dm:{p}" for p in people]
        for i in range(n_other):
            uow.outbox.add(
                key=f"bench:other:{i}",
                destination=others[i % len(others)],
                at=container.deps.now(),
                payload=Message(text=f"Other message {i}").to_json(),
            )
        uow.commit()
    container.dispatcher.batch = 500
    container.dispatcher.drain(max_passes=10_000)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(container):
    import uvicorn

    api = create_api(container)
    mount_local_workspace(api, container)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[max(0, int(len(xs) * 0.95) - 1)]
    return f"{name:<44} p50 {statistics.median(xs) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   max {xs[-1] * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        settings = Settings(
            _env_file=None,
            database_url=url,
            local_workspace=True,
            demo_data=False,
            scheduler=False,
            delivery_channel_interval=0,
            log_level="WARNING",
        )
        container = build(settings)
        with container.uow_factory() as uow:
            if uow.outbox.feed_cursor():
                print("the database is not empty; use a fresh one", file=sys.stderr)
                return 2
        setup = fill(container, args.messages, 2_000)
        server, thread, base = serve(container)
        try:
            with httpx.Client(base_url=base, timeout=30) as http:

                def open_channel():
                    page = http.get("/")
                    first = http.get("/local/api/messages", params={"conversation": "channel:wins"})
                    assert page.status_code == 200 and first.status_code == 200
                    assert len(first.json()["messages"]) == 50

                first_open = timed(open_channel, 1)  # cold: first request of the process
                opens = timed(open_channel, args.runs)
                middle = http.get("/local/api/messages", params={"conversation": "channel:wins"}).json()
                oldest = middle["messages"][0]["id"]
                deep = timed(
                    lambda: http.get(
                        "/local/api/messages", params={"conversation": "channel:wins", "before": oldest // 2}
                    ).raise_for_status(),
                    args.runs,
                )
                cursor = middle["cursor"]
                poll = timed(
                    lambda: http.get(
                        "/local/api/changes", params={"after": cursor, "conversation": "channel:wins"}
                    ).raise_for_status(),
                    args.runs,
                )
                page_bytes = len(http.get("/").content)
                first_bytes = len(http.get("/local/api/messages", params={"conversation": "channel:wins"}).content)
        finally:
            server.should_exit = True
            thread.join(5)
            container.close()

    dialect = url.split(":", 1)[0]
    print(
        f"local workspace, {args.messages:,} messages in #wins + 2,000 elsewhere, {dialect} "
        f"(setup {setup:.1f} s); {args.runs} runs each"
    )
    print(summary("open #wins: GET / + last 50 messages", opens))
    print(f"{'  (first, cold)':<44} {first_open[0] * 1000:7.1f} ms")
    print(summary("load older: 50 messages from the middle", deep))
    print(summary("change-feed poll (nothing new)", poll))
    print(f"page {page_bytes / 1024:.0f} KB, first 50 messages {first_bytes / 1024:.0f} KB")
    worst = max(max(opens), first_open[0])
    ok = worst < BUDGET
    print(f"{'PASS' if ok else 'FAIL'}: slowest open {worst * 1000:.0f} ms (budget {BUDGET * 1000:.0f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
