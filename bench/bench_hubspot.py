"""HubSpot backfill: ``hubspot import`` of 100,000 contacts and 20,000 won deals from the local
HubSpot stand-in, at its rate limits (default: HubSpot's Free/Starter 100 requests per 10 s, and 5
searches a second).

Reports the time, requests per second against each limit, events ingested, and the process's
resident memory sampled every second (it should stay flat: the import holds one page at a time).

    .venv/bin/python bench/bench_hubspot.py                    # SQLite in a temporary file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench .venv/bin/python bench/bench_hubspot.py
    .venv/bin/python bench/bench_hubspot.py --contacts 10000 --deals 2000   # quicker

The PostgreSQL database is emptied first (``storage.db.recreate``): never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hubspot_standin import HubSpotStandIn  # noqa: E402

TOKEN = "pat-bench"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contacts", type=int, default=100_000)
    ap.add_argument("--deals", type=int, default=20_000)
    ap.add_argument("--burst", type=int, default=100, help="requests per 10 s (HubSpot Free/Starter: 100)")
    ap.add_argument("--search", type=int, default=5, help="searches per second")
    ap.add_argument("--progress", action="store_true", help="show the progress bars")
    args = ap.parse_args()

    from bot.app import build
    from bot.config import load_config
    from bot.settings import Settings
    from handlers.ports import FixedClock
    from storage.db import make_engine, recreate

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench_hubspot.db"
    engine = make_engine(url)
    recreate(engine)
    engine.dispose()

    now = datetime.now(timezone.utc).replace(microsecond=0)
    since = now - timedelta(days=45)
    standin = HubSpotStandIn(burst=args.burst, burst_seconds=10.0, search_per_second=args.search).start()
    standin.add_token(TOKEN)
    owners = []
    for i, email in enumerate(["ana", "ben", "chloe", "diego", "erin", "farid", "grace", "hugo", "ivy", "maya"]):
        owners.append(str(100 + i))
        standin.add_owner(str(100 + i), f"{email}@northwind.example", email.capitalize(), "Rep")
    for i in range(20):
        standin.add_campaign(f"cmp-{i}", f"Campaign {i}", owner_id="100")
    t0 = time.perf_counter()
    base_ms = int((now - timedelta(days=30)).timestamp() * 1000)
    contact_ids = []
    for n in range(args.contacts):
        contact_ids.append(
            standin.add_contact(
                {
                    "email": f"lead{n}@example.com",
                    "firstname": "Lead",
                    "lastname": str(n),
                    "company": f"Company {n % 5000}",
                    "lifecyclestage": "salesqualifiedlead" if n % 50 == 0 else "lead",
                    "hubspot_owner_id": owners[n % 10],
                    "hubspotscore": str(n % 100),
                    "hs_analytics_first_touch_converting_campaign": f"cmp-{n % 20}",
                    "first_conversion_date": datetime.fromtimestamp(
                        (base_ms - 86_400_000) / 1000, timezone.utc
                    ).isoformat(),
                    "hs_analytics_last_touch_converting_campaign": f"cmp-{(n + 3) % 20}",
                    "recent_conversion_date": datetime.fromtimestamp(base_ms / 1000, timezone.utc).isoformat(),
                },
                at_ms=base_ms + n,
                notify=False,
            )
        )
    for n in range(args.deals):
        standin.add_deal(
            {
                "dealname": f"Deal {n}",
                "amount": str(1000 + n),
                "dealstage": "closedwon",
                "hubspot_owner_id": owners[n % 10],
                "closedate": (now - timedelta(days=40) + timedelta(minutes=n)).isoformat(),
            },
            contact=contact_ids[n * (len(contact_ids) // max(args.deals, 1)) % len(contact_ids)],
            at_ms=base_ms + n,
            notify=False,
        )
    print(
        f"stand-in seeded with {args.contacts:,} contacts and {args.deals:,} deals in "
        f"{time.perf_counter() - t0:.1f}s; database: {url.split('@')[-1]}"
    )

    settings = Settings(
        _env_file=None,
        database_url=url,
        hubspot_access_token=TOKEN,
        hubspot_api_url=standin.url,
        hubspot_burst_limit=args.burst,
        hubspot_search_limit=args.search,
        local_workspace=False,
        scheduler=False,
        log_level="WARNING",
    )
    container = build(settings, config=load_config(None), clock=FixedClock(now), do_migrate=False)
    connector = container.extras["hubspot"]

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
    stages = connector.import_stages(since)
    for stage in stages:  # time each stage (the stages run in order)
        inner = stage.pages

        def timed(cursor, inner=inner, name=stage.name):
            t = time.perf_counter()
            yield from inner(cursor)
            stage_times[name] = time.perf_counter() - t

        stage.pages = timed
    report = connector.run_import(stages, since=since.date().isoformat(), progress=args.progress)
    elapsed = time.perf_counter() - start
    stop.set()
    sampler.join()

    search_calls = len(standin.calls("/search"))
    burst_calls = len(standin.requests) - search_calls
    print(f"\nimport: {elapsed:.1f}s, {report.accepted:,} events ingested")
    for name, counts in report.stages.items():
        print(
            f"  {name:9} {counts['read']:>8,} read  {counts['accepted']:>8,} events  {stage_times.get(name, 0):6.1f}s"
        )
    print(
        f"requests: {len(standin.requests):,} ({search_calls:,} searches, {burst_calls:,} others); "
        f"429s: {standin.rate_limited}; waited for the limits: {connector.api.limiter.waited:.1f}s"
    )
    print(
        f"searches: {search_calls / max(stage_times.get('contacts', 0) + stage_times.get('deals', 0), 1e-9):.2f}/s "
        f"during contacts+deals (limit {args.search}/s); others: {burst_calls / elapsed:.2f}/s overall, "
        f"{(burst_calls - 0) / elapsed * 10:.0f} per 10 s (limit {args.burst} per 10 s)"
    )
    peak = max(r for _, r in samples)
    print(f"RSS: start {samples[0][1]:.0f} MB, peak {peak:.0f} MB, end {samples[-1][1]:.0f} MB")
    step = max(1, len(samples) // 12)
    print("RSS over time: " + ", ".join(f"{t:.0f}s {r:.0f}MB" for t, r in samples[::step]))
    with container.uow_factory() as uow:
        from sqlmodel import func, select

        from storage.models import Deal, Lead

        print(
            f"database: {uow.session.exec(select(func.count()).select_from(Lead)).one():,} leads, "
            f"{uow.session.exec(select(func.count()).select_from(Deal)).one():,} deals"
        )
    container.close()
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
