"""Benchmark: a 100,000-row leads CSV (HubSpot's contacts export shape) through the importer.

Writes the CSV (13 columns: ids, names, emails, companies, titles, lifecycle stages, scores,
owners by name, sources, dates, phones; 5% of the leads sales-qualified, so 5,000 hand-offs are
queued), then imports it into an empty database exactly as ``python -m bot import leads.csv``
does (streamed read, batches of 1,000 rows through ``validate_events`` and ``ingest_events``),
and reports the time (and the CPU time of the importing process, since the machine may be
shared), the rows per second, and the process's resident memory sampled every 50 ms
over the run: before the import, its peak, and its peak over a run of a fifth of the rows, so a
flat memory shows as the same peak for 20,000 and 100,000 rows. Target: under 30 s on SQLite.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/bench_import.py                        # SQLite, 100,000 rows
    .venv/bin/python bench/bench_import.py --pg postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/bench_import.py --rows 20000 --only sqlite

Each database is emptied first (SQLite: a new file; PostgreSQL: the ``public`` schema is dropped
and re-created), so never point ``--pg`` at a database you care about. Each measurement runs in a
fresh process, so one run's memory does not colour the next. Exits 1 when SQLite misses 30 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 30.0
OWNERS = [
    "Ana Torres",
    "Ben Okafor",
    "Chloe Martin",
    "Diego Alvarez",
    "Erin Walsh",
    "Farid Haddad",
    "Grace Kim",
    "Hugo Lefevre",
    "Ivy Chen",
    "",
]
FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Aisha",
    "Kenji",
    "Priya",
    "Tomás",
    "Ingrid",
    "Yusuf",
    "Chiara",
    "Lars",
]
LAST = [
    "Smith",
    "Johnson",
    "Nguyen",
    "Garcia",
    "Müller",
    "Rossi",
    "Kowalski",
    "Okafor",
    "Tanaka",
    "Silva",
    "Andersson",
    "Dubois",
    "O'Brien",
    "Haddad",
    "Kaur",
]
COMPANIES = ["Acme", "Bluebird", "Cobalt", "Driftwood", "Evergreen", "Foxglove", "Granite", "Harbor", "Ironwood"]
SECTORS = ["Logistics", "Health", "Bank", "Retail", "Energy", "Insurance", "Foods", "Robotics", "Media"]
TITLES = ["Head of Data", "VP Finance", "Director of Analytics", "CFO", "RevOps Manager", "Data Engineer"]
STAGES = ["Subscriber", "Lead", "Marketing Qualified Lead", "Opportunity", "Customer"]
SOURCES = ["Paid Search", "Organic Search", "Email Marketing", "Offline Sources", "Social Media"]
HEADER = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone Number",
    "Company Name",
    "Job Title",
    "Lifecycle Stage",
    "Lead Status",
    "HubSpot Score",
    "Contact owner",
    "Original Source",
    "Create Date",
]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = f"{rng.choice(COMPANIES)} {rng.choice(SECTORS)}"
            qualified = i % 20 == 0  # 5%: sales-qualified, handed off
            stage = "Sales Qualified Lead" if qualified else rng.choice(STAGES)
            score = rng.randint(85, 99) if qualified else rng.randint(0, 79)
            w.writerow(
                [
                    100000 + i,
                    first,
                    last,
                    f"{first}.{last}.{i}@{company.split()[0].lower()}.example".lower(),
                    f"+1 212 555 {i % 10000:04d}",
                    company,
                    rng.choice(TITLES),
                    stage,
                    rng.choice(["New", "Open", "In Progress", "Connected"]),
                    score,
                    rng.choice(OWNERS) if not qualified else rng.choice(OWNERS[:-1]),
                    rng.choice(SOURCES),
                    f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}",
                ]
            )


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(url: str, csv_path: str) -> dict:
    """One import in this process (called in a child): time, rows/s, RSS before/peak."""
    from bot.app import build
    from bot.imports.importer import Importer, Options
    from bot.settings import Settings
    from storage.db import make_engine, recreate

    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        engine = make_engine(url)
        recreate(engine)
        engine.dispose()
    settings = Settings(_env_file=None, database_url=url, local_workspace=False, scheduler=False, log_level="WARNING")
    container = build(settings)
    importer = Importer(registry=container.registry, uow_factory=container.uow_factory, deps=container.deps)
    errors: list = []
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(_rss_kb())
            stop.wait(0.05)

    before = _rss_kb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    report = importer.run(Path(csv_path), Options(), on_error=errors.append)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    sampler.join()
    with container.uow_factory() as uow:
        queued = uow.outbox.count_since(0)
    container.close()
    return {
        "rows": report.rows,
        "created": report.created,
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),
        "load": round(os.getloadavg()[0], 1),
        "rows_per_s": round(report.rows / elapsed),
        "rss_before_mb": round(before / 1024, 1),
        "rss_peak_mb": round(max(samples + [before]) / 1024, 1),
        "handoffs_queued": queued,
    }


def run_child(url: str, csv_path: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, csv_path], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"the import failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG"), help="PostgreSQL URL (emptied!); without it only SQLite runs"
    )
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        big, small = Path(tmp) / "leads.csv", Path(tmp) / "leads-small.csv"
        t = time.perf_counter()
        write_csv(big, args.rows)
        write_csv(small, max(1, args.rows // 5))
        print(f"wrote {args.rows:,} rows ({big.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s")
        targets = []
        if args.only != "postgresql":
            targets.append(("SQLite", f"sqlite:///{tmp}/bench.db"))
        if args.pg and args.only != "sqlite":
            targets.append(("PostgreSQL", args.pg))
        failed = False
        for name, url in targets:
            small_run = run_child(url, str(small))
            big_run = run_child(url, str(big))
            print(
                f"{name}: {big_run['rows']:,} rows in {big_run['seconds']} s ({big_run['rows_per_s']:,} rows/s; "
                f"{big_run['cpu_seconds']} s of CPU in this process, machine load {big_run['load']}), "
                f"{big_run['created']:,} leads created, {big_run['handoffs_queued']:,} hand-offs queued, "
                f"{big_run['errors']} errors; RSS {big_run['rss_before_mb']} MB before, peak "
                f"{big_run['rss_peak_mb']} MB (with {small_run['rows']:,} rows: {small_run['seconds']} s, "
                f"peak {small_run['rss_peak_mb']} MB)"
            )
            if name == "SQLite" and big_run["seconds"] >= TARGET_SECONDS and args.rows >= 100_000:
                print(f"  MISSED the target: {TARGET_SECONDS:.0f} s")
                failed = True
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
