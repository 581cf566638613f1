"""The product against bare bolt, side by side, in one run: acknowledgements, CPU, delivery, start-up.

Run:  python bench/compare.py [--n 500] [--rounds 4] [--replicas 1] [--backlog 320] [--channels 20]
      DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench python bench/compare.py --replicas 2

Three kinds of server run as subprocesses on this machine, each behind its own port:
- ``bare bolt, process_before_response``: ``bench/bare_bolt.py`` (a sync bolt App on FastAPI whose
  listener only acks) on bolt's fast path;
- ``bare bolt, default``: the same with bolt's default (an ack polled for every 10 ms);
- ``the product``: ``python -m bot`` as deployed (Slack over HTTP, scheduler on, INFO logs, its
  dispatcher pacing posts at one a second per channel), on SQLite or ``DATABASE_URL``'s PostgreSQL
  (its ``public`` schema is dropped and created again), ``--replicas`` processes sharing it.
All talk to one local Slack stand-in (``tests/slack_mock.py``) that answers 429 to a channel
posting faster than one message a second sustained (a token bucket with bursts of two), as Slack
limits a channel.

Before the timed part, ``--backlog`` messages for ``--channels`` channels are queued in the
product's outbox: they are delivered while the commands are measured. Signed slash commands
(``--n`` of each) then go to the product and to its reference, alternately, over ``--rounds``
rounds: ``help`` against the fast path; ``bounce <lead> not_ready`` and ``touch <lead>`` (real
writes: the lead, the bounce, the marketing post) against bolt's default. A ratio is the median of
the per-round ratios of p50s, printed with the range of the rounds' ratios (the noise the median
hides). CPU per request is the server process's user+system time over its requests of a round
(background work, the dispatcher's included, counts). Delivery is read from
the stand-in: each channel's posts per second from its first post to its last, and every 429.
Cold start is the median of three starts to the first ``200`` on ``/healthz`` (an existing,
migrated database; the product's modules compiled to bytecode beforehand, as pip compiles an
installed package's); idle RSS is read after start-up, before any traffic, and again once the run
is over and the backlog delivered.
A fourth server, ``bare bolt + SQLModel`` (``bench/bare_bolt.py`` with ``FLOOR_DATABASE_URL``: the
same app importing SQLModel and the product's tables and answering ``/healthz`` after a ``SELECT 1``),
is started for the cold-start and RSS rows only: the floor the core stack (slack-bolt, FastAPI,
SQLModel) sets before any of the product's own code runs.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.signing import HEADER, sign  # noqa: E402
from storage.db import make_engine, migrate, recreate, uow_factory  # noqa: E402
from tests import slack_requests as sr  # noqa: E402
from tests.chaos import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    free_port,
    slack_users,
    write_config,
)
from tests.slack_mock import SlackMock  # noqa: E402

GOALS = {"help": 2.0, "bounce": 1.0, "touch": 1.0, "cpu": 3.0, "cold": 1.5, "rss": 1.3}


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path):
        self.name, self.argv, self.workdir = name, argv, workdir
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"{name.replace(' ', '_').replace(',', '')}.log"

    def start(self, timeout: float = 90) -> float:
        """Start; the seconds until ``/healthz`` first answers 200."""
        started = time.perf_counter()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        with httpx.Client(timeout=5) as http:
            while time.perf_counter() - started < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
                try:
                    if http.get(self.url + "/healthz").status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def cpu(self) -> float:
        """User + system seconds of the process (all its threads)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="requests of each command to each server")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--backlog", type=int, default=320)
    ap.add_argument("--channels", type=int, default=20)
    ap.add_argument("--starts", type=int, default=3, help="cold starts of each server")
    args = ap.parse_args()
    # The product's own modules compiled to bytecode first, as an installed package's are (pip
    # compiles what it installs): with an editable install and PYTHONDONTWRITEBYTECODE set, as on
    # these machines, every start compiled all of them again (about 0.25 s of each cold start),
    # while the references' libraries come compiled from site-packages.
    for package in ("bot", "handlers", "storage"):
        compileall.compile_dir(ROOT / package, quiet=2)
    workdir = Path(tempfile.mkdtemp(prefix="compare-"))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bot.db"
    engine = make_engine(url)
    recreate(engine) if url.startswith("postgres") else migrate(engine)
    db = "PostgreSQL" if url.startswith("postgres") else "SQLite"

    with SlackMock(users=slack_users()) as slack:
        config = workdir / "config.yaml"
        write_config(config)
        _add_channels(config, args.channels)
        base, product_env = environments(url, config, slack)
        py = sys.executable
        fast = Server(
            "bare bolt, process_before_response",
            [py, str(ROOT / "bench/bare_bolt.py")],
            {**base, "PROCESS_BEFORE_RESPONSE": "true"},
            workdir,
        )
        default = Server("bare bolt, default", [py, str(ROOT / "bench/bare_bolt.py")], base, workdir)
        floor = Server(
            "bare bolt + SQLModel",
            [py, str(ROOT / "bench/bare_bolt.py")],
            {**base, "FLOOR_DATABASE_URL": url},
            workdir,
        )
        products = [Server(f"product {i + 1}", [py, "-m", "bot"], product_env, workdir) for i in range(args.replicas)]
        everyone = [fast, default, *products]
        try:
            # Cold starts, interleaved; idle RSS after the last one.
            cold: dict[str, list[float]] = {s.name: [] for s in everyone}
            cold[floor.name] = []
            for _ in range(args.starts):
                for s in (fast, default, floor, products[0]):
                    cold[s.name].append(s.start())
                    s.stop()
            rss = {}
            for s in (*everyone, floor):
                s.start()
            time.sleep(2)
            for s in (*everyone, floor):
                rss[s.name] = s.rss_mib()
            floor.stop()

            leads = _seed_leads(products[0], args.n)
            _queue_backlog(url, args.backlog, args.channels)
            slack.channel_rate_limit(1.0, burst=2)
            backlog_started = time.monotonic()

            results = _measure(args, fast, default, products, leads)
            _wait_backlog(url, deadline=backlog_started + args.backlog / args.channels * 1.5 + 60)
            delivery = _delivery(slack, args.channels)
            time.sleep(2)
            rss_after = {s.name: s.rss_mib() for s in everyone}
        finally:
            for s in (*everyone, floor):
                s.stop()
    _print(db, args, results, cold, rss, rss_after, delivery, fast, default, products)
    print(f"\nlogs: {workdir}")
    return 0


def environments(url: str, config: Path, slack: SlackMock) -> tuple[dict[str, str], dict[str, str]]:
    """The references' environment (this one without the product's settings, Slack's signing
    secret and the stand-in's URL) and the product's: served over HTTP as deployed, on ``url``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "DELIVERY_", "DB_", "SMARKETING_", "DATABASE_URL"))
    }
    base.update(SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.base_url, PYTHONUNBUFFERED="1")
    product = {
        **base,
        "DATABASE_URL": url,
        "SMARKETING_CONFIG": str(config),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HOST": "127.0.0.1",
        "LOCAL_WORKSPACE": "false",
    }
    return base, product


def _add_channels(config: Path, n: int) -> None:
    import yaml

    data = yaml.safe_load(config.read_text())
    for i in range(1, n + 1):
        data["channels"][f"load{i:02d}"] = {"title": f"#load{i:02d}", "slack": f"C_LOAD{i:02d}"}
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _seed_leads(product: Server, n: int) -> list[str]:
    """Leads owned by Ana (not qualified: no handoff DMs), one per bounce, through the webhook."""
    now = datetime.now(timezone.utc).isoformat()
    ids = [f"L-{i}" for i in range(n + 50)]
    with httpx.Client(timeout=60) as http:
        for start in range(0, len(ids), 500):
            events = [
                {
                    "id": f"seed-{c}",
                    "type": "lead.upserted",
                    "occurred_at": now,
                    "data": {
                        "id": c,
                        "email": f"{c.lower()}@prospect.example",
                        "name": f"Lead {c}",
                        "company": "Prospect",
                        "status": "MQL",
                        "score": 40,
                        "owner_email": "ana@northwind.example",
                    },
                }
                for c in ids[start : start + 500]
            ]
            body = json.dumps(events).encode()
            resp = http.post(
                product.url + "/webhooks/crm",
                content=body,
                headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)},
            )
            assert resp.status_code == 200, resp.text
    return ids


def _queue_backlog(url: str, n: int, channels: int) -> None:
    from handlers.messages import Message, Section

    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    with uow_factory(engine)() as uow:
        uow.outbox.add_many(
            [
                {
                    "key": f"backlog:{i}",
                    "destination": f"channel:load{i % channels + 1:02d}",
                    "payload": Message(text=f"Backlog {i}", blocks=[Section(text=f"Backlog message {i}")]).to_json(),
                }
                for i in range(n)
            ],
            at=now,
        )
        uow.commit()
    engine.dispose()


def _wait_backlog(url: str, deadline: float) -> None:
    import sqlalchemy as sa

    engine = make_engine(url)
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            left = conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE key LIKE 'backlog:%' AND status IN ('pending', 'sending')")
            ).scalar_one()
        if not left:
            break
        time.sleep(0.5)
    engine.dispose()


def _measure(args, fast: Server, default: Server, products: list[Server], leads: list[str]) -> dict:
    """Per command, per round: latencies and CPU of the product(s) and of the reference."""
    per = args.n // args.rounds
    plans = [
        ("help", fast, lambda i: "help"),
        ("bounce", default, lambda i: f"bounce {leads[i]} not_ready too early"),
        ("touch", default, lambda i: f"touch {leads[-1 - i % 50]} called"),
    ]
    out: dict = {name: [] for name, _, _ in plans}
    # An idle connection is dropped by the client after 2 s, before uvicorn closes it (5 s): a
    # request sent on a connection the server is closing fails with "Server disconnected".
    limits = httpx.Limits(keepalive_expiry=2.0)
    clients = {s.name: httpx.Client(base_url=s.url, timeout=30, limits=limits) for s in [fast, default, *products]}
    try:
        for _name, ref, _text in plans:  # warm-up
            for s in (ref, *products):
                for _ in range(5):
                    _command(clients[s.name], "help")
        used = 0
        for _r in range(args.rounds):
            for name, ref, text in plans:
                lat = {"product": [], "reference": []}
                cpu0 = {s.name: s.cpu() for s in (ref, *products)}
                for i in range(per):
                    k = used + i if name == "bounce" else i
                    product = products[i % len(products)]
                    for who, server in (
                        (("reference", ref), ("product", product))
                        if i % 2
                        else (("product", product), ("reference", ref))
                    ):
                        took, resp = _command(clients[server.name], text(k))
                        assert resp.status_code == 200, (server.name, resp.status_code, resp.text[:300])
                        lat[who].append(took)
                cpu = {s.name: s.cpu() - cpu0[s.name] for s in (ref, *products)}
                out[name].append(
                    {
                        "product": lat["product"],
                        "reference": lat["reference"],
                        "cpu_product": sum(cpu[p.name] for p in products) / per,
                        "cpu_reference": cpu[ref.name] / per,
                    }
                )
            used += per
    finally:
        for c in clients.values():
            c.close()
    return out


def _command(http: httpx.Client, text: str) -> tuple[float, httpx.Response]:
    body, ctype = sr.slash_command(text, user_id="U_ANA")
    headers = sr.signed_headers(SIGNING_SECRET, body, ctype)
    started = time.perf_counter()
    resp = http.post("/slack/events", content=body, headers=headers)
    return (time.perf_counter() - started) * 1000, resp


def _delivery(slack: SlackMock, channels: int) -> dict:
    rates, counts = [], []
    for i in range(1, channels + 1):
        times = slack.post_times.get(f"C_LOAD{i:02d}", [])
        counts.append(len(times))
        if len(times) > 1:
            rates.append((len(times) - 1) / (times[-1] - times[0]))
    gaps = [
        b - a
        for i in range(1, channels + 1)
        for a, b in zip(slack.post_times.get(f"C_LOAD{i:02d}", []), slack.post_times.get(f"C_LOAD{i:02d}", [])[1:])
    ]
    return {"rates": rates, "counts": counts, "limited": dict(slack.rate_limited), "gaps": gaps or [0.0]}


def _spread(values: list[float], fmt: str) -> str:
    """`` (rounds a-b)``: how far the rounds' ratios ranged; this machine's noise, next to the median."""
    return f" (rounds {min(values):{fmt}}-{max(values):{fmt}})" if len(values) > 1 else ""


def _print(db, args, results, cold, rss, rss_after, delivery, fast, default, products) -> None:
    print(
        f"\n{db}, {args.replicas} product replica(s), {args.n} signed slash commands of each kind per server, "
        f"{args.rounds} interleaved rounds, {args.backlog} messages for {args.channels} channels being delivered\n"
    )
    print("| | product p50 / p99 | reference p50 / p99 | ratio | goal |")
    print("|---|---|---|---|---|")
    refs = {"help": "bare bolt, process_before_response", "bounce": "bare bolt, default", "touch": "bare bolt, default"}
    for name, rounds in results.items():
        prod = [x for r in rounds for x in r["product"]]
        ref = [x for r in rounds for x in r["reference"]]
        ratios = [statistics.median(r["product"]) / statistics.median(r["reference"]) for r in rounds]
        print(
            f"| `{name}` | {pct(prod, 0.5):.1f} / {pct(prod, 0.99):.1f} ms | {refs[name]}: {pct(ref, 0.5):.1f} / "
            f"{pct(ref, 0.99):.1f} ms | {statistics.median(ratios):.2f}x{_spread(ratios, '.2f')} | <= {GOALS[name]:g}x |"
        )
    for name, rounds in results.items():
        cp = statistics.median(r["cpu_product"] for r in rounds) * 1000
        cr = statistics.median(r["cpu_reference"] for r in rounds) * 1000
        ratios = [r["cpu_product"] / r["cpu_reference"] if r["cpu_reference"] else float("inf") for r in rounds]
        print(
            f"| server CPU per `{name}` | {cp:.1f} ms | {cr:.1f} ms | {statistics.median(ratios):.1f}x"
            f"{_spread(ratios, '.1f')} | <= {GOALS['cpu']:g}x |"
        )
    rates = delivery["rates"]
    limited = sum(delivery["limited"].values())
    print(
        f"| delivery, {args.backlog} messages over {args.channels} channels | median {statistics.median(rates):.3f}, "
        f"min {min(rates):.3f}, max {max(rates):.3f} msg/s/channel ({sum(delivery['counts'])} posted); "
        f"gaps min {min(delivery['gaps']):.3f} s, p50 {pct(delivery['gaps'], 0.5):.3f} s | Slack's limit, "
        f"1 msg/s/channel | {statistics.median(rates):.2f}; {limited} x 429 | >= 0.95, <= 1, 0 x 429 |"
    )
    cp, cf = statistics.median(cold[products[0].name]), statistics.median(cold[fast.name])
    print(
        f"| cold start to `/healthz` | {cp:.2f} s | bare bolt + FastAPI: {cf:.2f} s | {cp / cf:.2f}x | "
        f"<= {GOALS['cold']:g}x |"
    )
    cs = statistics.median(cold["bare bolt + SQLModel"])
    print(
        f"| cold start: the core stack's floor | bare bolt + SQLModel + the tables, `SELECT 1`: {cs:.2f} s | "
        f"bare bolt + FastAPI: {cf:.2f} s | {cs / cf:.2f}x | (what the product cannot go below) |"
    )
    rp, rf = rss[products[0].name], rss[fast.name]
    print(
        f"| idle RSS after start | {rp:.0f} MiB | bare bolt + FastAPI: {rf:.0f} MiB | {rp / rf:.2f}x | "
        f"<= {GOALS['rss']:g}x |"
    )
    rs = rss["bare bolt + SQLModel"]
    print(
        f"| idle RSS: the core stack's floor | bare bolt + SQLModel + the tables: {rs:.0f} MiB | "
        f"bare bolt + FastAPI: {rf:.0f} MiB | {rs / rf:.2f}x | (what the product cannot go below) |"
    )
    rp, rf = rss_after[products[0].name], rss_after[fast.name]
    print(
        f"| idle RSS after the run | {rp:.0f} MiB | bare bolt + FastAPI: {rf:.0f} MiB | {rp / rf:.2f}x | "
        f"<= {GOALS['rss']:g}x |"
    )


if __name__ == "__main__":
    sys.exit(main())
