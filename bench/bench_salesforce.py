"""Salesforce backfill: ``salesforce import`` of 100,000 leads and 20,000 won opportunities (each
converted from a lead, with its contact) and 20,000 campaign members, from the local Salesforce
stand-in over HTTPS, signed in with the JWT bearer flow.

The stand-in runs in a child process, so the memory sampled (every second) is the bot's alone; it
should stay flat: the import holds one Bulk API results page (10,000 rows) at a time. Reports the
time per stage, events ingested, and the API requests used against the org's daily limit.

    .venv/bin/python bench/bench_salesforce.py                 # SQLite in a temporary file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/bench_salesforce.py
    .venv/bin/python bench/bench_salesforce.py --leads 10000 --opportunities 2000   # quicker

The PostgreSQL database is emptied first (``storage.db.recreate``): never point it at real data.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONSUMER_KEY = "3MVG9bench"
USERNAME = "integration@northwind.example"
REPS = ["ana", "ben", "chloe", "diego", "erin", "farid", "grace", "hugo", "ivy", "maya"]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def serve(conn, certificate: str, leads: int, opportunities: int, members: int, daily_max: int, now_iso: str):
    """The child: a seeded stand-in, answering until told to stop; then its counts."""
    from tests.salesforce_standin import SalesforceStandIn

    now = datetime.fromisoformat(now_iso)
    s = SalesforceStandIn(daily_max=daily_max, now=lambda: now).start()
    s.add_app(CONSUMER_KEY, certificate=certificate, users=(USERNAME,))
    t0 = time.perf_counter()
    users = [s.add_user(f"{r}@northwind.example", r.capitalize(), "Rep") for r in REPS]
    camps = [s.add("Campaign", Name=f"Campaign {i}", Type="Webinar", OwnerId=users[0]) for i in range(20)]
    base = now - timedelta(days=30)
    ids = [
        s.add(
            "Lead",
            at=base + timedelta(seconds=n),
            FirstName="Lead",
            LastName=str(n),
            Email=f"lead{n}@example.com",
            Company=f"Company {n % 5000}",
            Status="Qualified" if n % 50 == 0 else "Working",
            Rating="Warm",
            OwnerId=users[n % 10],
        )
        for n in range(leads)
    ]
    for n in range(members):
        s.add(
            "CampaignMember",
            at=base + timedelta(seconds=n),
            CampaignId=camps[n % 20],
            LeadId=ids[(n * 5) % len(ids)],
            Status="Responded" if n % 3 else "Sent",
        )
    for n in range(opportunities):
        lead = ids[(n * (len(ids) // max(opportunities, 1))) % len(ids)]
        contact = s.add(
            "Contact", at=base, FirstName="Lead", LastName=str(n), Email=f"lead{n}@example.com", OwnerId=users[n % 10]
        )
        opp = s.add(
            "Opportunity",
            at=base + timedelta(seconds=n),
            Name=f"Deal {n}",
            Amount=1000 + n,
            StageName="Closed Won",
            CloseDate=(now - timedelta(days=20)).date(),
            CampaignId=camps[n % 20],
            ContactId=contact,
            OwnerId=users[n % 10],
        )
        s.convert(lead, contact_id=contact, opportunity_id=opp, at=base + timedelta(seconds=n))
    conn.send({"url": s.url, "ca_file": str(s.ca_file), "seeded": time.perf_counter() - t0})
    conn.recv()  # "stats"
    conn.send(
        {
            "requests": len(s.requests),
            "used": s.used,
            "jobs": len(s.jobs),
            "token": len(s.calls("/services/oauth2/token")),
            "results": len(s.calls("/results")),
            "queries": len(s.calls("/query")),
        }
    )
    conn.recv()
    s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--opportunities", type=int, default=20_000)
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument(
        "--daily-max",
        type=int,
        default=15_000,
        help="the org's daily API requests (Developer Edition: 15,000; Enterprise: 100,000 and up)",
    )
    ap.add_argument("--progress", action="store_true", help="show the progress bars")
    args = ap.parse_args()

    from tests.salesforce_standin import make_key_pair

    private_key, certificate = make_key_pair()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=serve,
        args=(child, certificate, args.leads, args.opportunities, args.members, args.daily_max, now.isoformat()),
    )
    proc.start()
    info = parent.recv()
    os.environ["REQUESTS_CA_BUNDLE"] = info["ca_file"]

    from bot.app import build
    from bot.config import load_config
    from bot.settings import Settings
    from handlers.ports import FixedClock
    from storage.db import make_engine, recreate

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench_salesforce.db"
    engine = make_engine(url)
    recreate(engine)
    engine.dispose()
    print(
        f"stand-in (child process) seeded with {args.leads:,} leads, {args.opportunities:,} won opportunities, "
        f"{args.members:,} campaign members in {info['seeded']:.1f}s; database: {url.split('@')[-1]}"
    )

    settings = Settings(
        _env_file=None,
        database_url=url,
        salesforce_client_id=CONSUMER_KEY,
        salesforce_username=USERNAME,
        salesforce_private_key=private_key,
        salesforce_login_url=info["url"],
        local_workspace=False,
        scheduler=False,
        log_level="WARNING",
    )
    container = build(settings, config=load_config(None), clock=FixedClock(now), do_migrate=False)
    connector = container.extras["salesforce"]

    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    start = time.perf_counter()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - start, rss_mb()))
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stage_times: dict[str, float] = {}
    stages = connector.import_stages(now - timedelta(days=45))
    for stage in stages:
        inner = stage.pages

        def timed(cursor, inner=inner, name=stage.name):
            t = time.perf_counter()
            yield from inner(cursor)
            stage_times[name] = time.perf_counter() - t

        stage.pages = timed
    cpu0 = time.process_time()
    report = connector.run_import(stages, since=(now - timedelta(days=45)).date().isoformat(), progress=args.progress)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    stop.set()
    sampler.join()
    parent.send("stats")
    stats = parent.recv()
    parent.send("stop")
    proc.join(30)

    print(
        f"\nimport: {elapsed:.1f}s wall, {cpu:.1f}s CPU in the bot's process, {report.accepted:,} events ingested "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    for name, counts in report.stages.items():
        print(
            f"  {name:17} {counts['read']:>8,} read  {counts['accepted']:>8,} events  {stage_times.get(name, 0):6.1f}s"
        )
    print(
        f"API requests: {stats['used']:,} of the org's {args.daily_max:,} a day "
        f"({100 * stats['used'] / args.daily_max:.1f}%): {stats['jobs']} Bulk API 2.0 jobs, {stats['results']} "
        f"results pages, {stats['queries']} REST queries (counts, look-ups), plus {stats['token']} sign-in(s)"
    )
    peak = max(r for _, r in samples)
    print(f"RSS: start {samples[0][1]:.0f} MB, peak {peak:.0f} MB, end {samples[-1][1]:.0f} MB")
    step = max(1, len(samples) // 12)
    print("RSS over time: " + ", ".join(f"{t:.0f}s {r:.0f}MB" for t, r in samples[::step]))
    with container.uow_factory() as uow:
        from sqlmodel import func, select

        from storage.models import CampaignTouch, Deal, Lead

        print(
            f"database: {uow.session.exec(select(func.count()).select_from(Lead)).one():,} leads, "
            f"{uow.session.exec(select(func.count()).select_from(Deal)).one():,} deals, "
            f"{uow.session.exec(select(func.count()).select_from(CampaignTouch)).one():,} touches"
        )
    container.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
