"""Benchmark: CRM events through ``POST /webhooks/crm`` against raw SQLAlchemy Core inserts.

Sends N events (campaigns, leads, campaign touches, won deals, in the interleaved time order a
CRM would send them) in signed batches through the real HTTP server — uvicorn serving
``bot.server.create_api`` in a subprocess, so the client does not share its interpreter — and
reports events per second. Beside it, in the same run and into the same database, the raw rate:
the very rows the webhook run stored for the events (one campaign, lead, touch or deal row per
event, every column), deleted and inserted again with SQLAlchemy Core ``executemany`` in batches
of the same size, one transaction per batch. Target: the webhook at least a fifth of the raw rate.

Run by hand (not part of the test suite)::

    /work/venv/bin/python bench/bench_webhook.py                      # SQLite and PostgreSQL
    /work/venv/bin/python bench/bench_webhook.py --only sqlite --events 20000 --deal-share 0.06
    /work/venv/bin/python bench/bench_webhook.py --pg postgresql://postgres@127.0.0.1:5432/bench_wins

Each database is emptied first (SQLite: a new file; PostgreSQL: the ``public`` schema is dropped
and re-created), so never point ``--pg`` at a database you care about. The outbox dispatcher and
the scheduler do not run: this measures ingest. Each database gets ``--rounds`` rounds (default 2)
and the best webhook and raw figures are compared, since other work on the machine only slows a
run down. Exits 1 when a database misses the target.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.signing import HEADER, sign  # noqa: E402
from storage.db import make_engine, recreate  # noqa: E402

SECRET = "bench-webhook-secret"
SALES = ["ana", "ben", "chloe", "diego", "erin", "farid", "grace", "hugo", "ivy"]
MARKETERS = ["kira", "leo", "mia", "noah", "olivia", "pablo", "quinn", "rosa"]
KINDS = ["webinar", "ebook", "event", "paid", "email"]
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/bench_wins"


# --- the events ---------------------------------------------------------------------------------


def make_events(n: int, seed: int = 7, deal_share: float = 0.02) -> list[dict]:
    """A month of a B2B CRM's activity, in time order so the types interleave as on the wire:
    campaigns (0.2%), leads (33%), campaign touches (about two per lead) and won deals
    (``deal_share``, default 2%: one lead in 16 closing won within the month, a generous
    funnel; raise it to stress the wins flow). About a fifth of the leads meet the qualified
    definition and are handed to sales by the cooling flow."""
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=28)
    n_campaigns = max(1, n // 500)
    n_leads = int(n * 0.33)
    n_deals = int(n * deal_share)
    n_touches = n - n_campaigns - n_leads - n_deals
    timeline: list[tuple[datetime, dict]] = []

    def iso(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    camp_at = []
    for i in range(n_campaigns):
        at = start + timedelta(seconds=3000 * i // n_campaigns)  # all within the first hour
        camp_at.append(at)
        timeline.append(
            (
                at,
                {
                    "type": "campaign.upserted",
                    "data": {
                        "id": f"cmp-{i}",
                        "name": f"{rnd.choice(['Spring', 'Data', 'Ops', 'Scale'])} {KINDS[i % 5]} {i}",
                        "kind": KINDS[i % 5],
                        "owner_email": f"{rnd.choice(MARKETERS)}@northwind.example",
                    },
                },
            )
        )
    lead_at = []
    for i in range(n_leads):
        at = start + timedelta(seconds=rnd.uniform(3600, 27 * 86400))
        lead_at.append(at)
        timeline.append(
            (
                at,
                {
                    "type": "lead.upserted",
                    "data": {
                        "id": f"L-{i}",
                        "email": f"lead{i}@customer{i % 997}.example",
                        "name": f"Lead {i}",
                        "company": f"Customer {i % 997}",
                        "title": "VP Operations",
                        "status": "MQL",
                        "score": rnd.randint(10, 99),
                        "owner_email": f"{rnd.choice(SALES)}@northwind.example",
                        "source_campaign_id": f"cmp-{rnd.randrange(n_campaigns)}",
                    },
                },
            )
        )
    for _ in range(n_touches):
        lead = rnd.randrange(n_leads)
        at = lead_at[lead] + timedelta(seconds=rnd.uniform(60, 86400))
        timeline.append(
            (
                min(at, now),
                {
                    "type": "campaign.touch",
                    "data": {
                        "campaign_id": f"cmp-{rnd.randrange(n_campaigns)}",
                        "lead_id": f"L-{lead}",
                        "kind": rnd.choice(["open", "click", "attend", "download"]),
                        "touched_at": iso(min(at, now)),
                    },
                },
            )
        )
    for i in range(n_deals):
        lead = rnd.randrange(n_leads)
        at = min(lead_at[lead] + timedelta(seconds=rnd.uniform(86400, 3 * 86400)), now)
        amount = round(rnd.lognormvariate(9.3, 1.0), 2)  # median ~$11k; some under $2k, some over $50k
        timeline.append(
            (
                at,
                {
                    "type": "deal.closed_won",
                    "data": {
                        "id": f"D-{i}",
                        "name": f"Customer {lead % 997} deal {i}",
                        "amount": amount,
                        "currency": "USD" if rnd.random() < 0.9 else "EUR",
                        "owner_email": f"{rnd.choice(SALES)}@northwind.example",
                        "lead_id": f"L-{lead}",
                        "closed_at": iso(at),
                    },
                },
            )
        )
    timeline.sort(key=lambda x: x[0])
    return [{"id": f"ev-{i}", "occurred_at": iso(at), **ev} for i, (at, ev) in enumerate(timeline)]


# --- raw: the same rows with SQLAlchemy Core ----------------------------------------------------

DATA_TABLES = ["campaign", "lead", "campaigntouch", "deal"]  # one row per event; in foreign-key order


def stored_rows(engine) -> list[tuple[str, list[dict]]]:
    """Every row the webhook run stored for the events (all columns, ids included)."""
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401

    meta = SQLModel.metadata.tables
    with engine.connect() as conn:
        return [
            (name, [dict(r) for r in conn.execute(sa.select(meta[name]).order_by(meta[name].c.id)).mappings()])
            for name in DATA_TABLES
        ]


def raw_insert(engine, tables: list[tuple[str, list[dict]]], batch: int) -> tuple[int, float]:
    """Delete the rows, then insert the very same rows again with Core ``executemany``, ``batch``
    rows per transaction; only the inserts are timed."""
    from sqlmodel import SQLModel

    meta = SQLModel.metadata.tables
    with engine.begin() as conn:
        for name in reversed(DATA_TABLES):
            conn.execute(meta[name].delete())
    n = 0
    started = time.perf_counter()
    for name, rows in tables:
        table = meta[name]
        for i in range(0, len(rows), batch):
            with engine.begin() as conn:
                conn.execute(table.insert(), rows[i : i + batch])
            n += len(rows[i : i + batch])
    return n, time.perf_counter() - started


# --- the webhook ----------------------------------------------------------------------------------


def serve(url: str, port: int) -> None:
    """The server subprocess: the real app (``bot.server.create_api``) without the dispatcher
    and scheduler, so only ingest is measured."""
    import uvicorn

    from bot.app import build
    from bot.server import create_api
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,
        database_url=url,
        webhook_secret=SECRET,
        local_workspace=False,
        scheduler=False,
        log_level="WARNING",
    )
    container = build(settings)
    uvicorn.run(create_api(container), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook_run(url: str, events: list[dict], batch: int, concurrency: int = 1) -> tuple[int, float, list[float]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "serve", "--url", url, "--port", str(port)], cwd=ROOT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        bodies = [json.dumps(events[i : i + batch]).encode() for i in range(0, len(events), batch)]
        latencies: list[float] = []
        accepted: list[int] = []
        todo = iter(bodies)
        lock = threading.Lock()

        def client() -> None:  # each sends the next batch when its previous one is answered
            with httpx.Client(base_url=base, timeout=120) as http:
                while True:
                    with lock:
                        body = next(todo, None)
                    if body is None:
                        return
                    t0 = time.perf_counter()
                    resp = http.post(
                        "/webhooks/crm",
                        content=body,
                        headers={"Content-Type": "application/json", HEADER: sign(SECRET, body)},
                    )
                    latencies.append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        raise RuntimeError(f"batch refused: {resp.status_code} {resp.text[:2000]}")
                    accepted.append(resp.json()["accepted"])

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(accepted), time.perf_counter() - started, latencies
    finally:
        proc.terminate()
        proc.wait(10)


def fresh(url: str):
    """An empty, migrated database with the demo config's people."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    engine = make_engine(url)
    recreate(engine)
    from bot.config import load_config
    from handlers.core import sync_people
    from storage.db import uow_factory

    with uow_factory(engine)() as uow:
        sync_people(uow, load_config(None))
        uow.commit()
    return engine


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()
            for t in ("campaign", "lead", "campaigntouch", "deal", "outbox", "processedinbound")
        }


def bench(label: str, url: str, events: list[dict], batch: int, rounds: int, concurrency: int = 1) -> dict:
    """``rounds`` rounds of: a fresh database, the webhook run, then the raw inserts of the rows it
    stored (three times). Other work on the machine only ever slows a run down, so the best
    of each is the figure compared."""
    web_best = raw_best = float("inf")
    for n in range(1, rounds + 1):
        fresh(url).dispose()
        accepted, web_s, lat = webhook_run(url, events, batch, concurrency)
        engine = make_engine(url)
        stored = counts(engine)
        tables = stored_rows(engine)
        raws = [raw_insert(engine, tables, batch) for _ in range(3)]
        engine.dispose()
        rows = raws[0][0]
        raw_s = min(r[1] for r in raws)
        web_best, raw_best = min(web_best, web_s), min(raw_best, raw_s)
        lat.sort()
        assert accepted == len(events) and rows == len(events), (accepted, rows, stored)
        print(
            f"{label:10s} round {n}: webhook {len(events) / web_s:8,.0f} events/s (batch p50 "
            f"{lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms) | raw Core insert "
            f"{rows / raw_s:9,.0f} rows/s | stored {stored}",
            flush=True,
        )
    web, raw = len(events) / web_best, len(events) / raw_best
    print(
        f"{label:10s} best: webhook {web:8,.0f} events/s, raw {raw:9,.0f} rows/s: {web / raw:.2f} of the raw rate "
        f"(target 0.20)",
        flush=True,
    )
    return dict(db=label, events=len(events), webhook_per_s=web, raw_per_s=raw, ratio=web / raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    p_serve = sub.add_parser("serve")
    p_serve.add_argument("--url", required=True)
    p_serve.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--only", choices=["sqlite", "pg"])
    parser.add_argument("--sqlite", help="SQLite file (default: a temporary one)")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--rounds", type=int, default=2, help="repeat and keep the best (default 2)")
    parser.add_argument("--deal-share", type=float, default=0.02, help="share of won deals (default 0.02)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once, as a CRM sending webhooks in parallel (default 1)",
    )
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        serve(args.url, args.port)
        return 0
    events = make_events(args.events, deal_share=args.deal_share)
    mix: dict[str, int] = {}
    for e in events:
        mix[e["type"]] = mix.get(e["type"], 0) + 1
    print(
        f"{len(events):,} events in batches of {args.batch}, {args.concurrency} request(s) at a time: {mix}", flush=True
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "sqlite"):
            path = args.sqlite or os.path.join(tmp, "bench.db")
            results.append(bench("SQLite", f"sqlite:///{path}", events, args.batch, args.rounds, args.concurrency))
        if args.only in (None, "pg"):
            results.append(bench("PostgreSQL", args.pg, events, args.batch, args.rounds, args.concurrency))
    return 0 if all(r["ratio"] >= 0.2 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
