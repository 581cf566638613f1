"""Delivery under faults, crashes and replicas, end to end.

The real server (``python -m bot``) runs as one or more subprocesses against one database and the
local Slack stand-in (``tests/slack_mock.py``), which fails a share of every kind of call (500,
429 with ``Retry-After``, connections reset before and after Slack acted). Signed CRM events go
in through the webhook; meanwhile the server is ``kill -9``-ed mid-delivery — while the stand-in
holds one of its posts (released afterwards, so Slack acts after its caller died, or reset,
undone), or at a random moment — and started again. At the end every message the outbox holds
must be in Slack exactly once, and each channel's messages in the order they were queued.

Used by ``tests/test_delivery_chaos.py`` (a CI-sized run) and ``bench/bench_delivery_chaos.py``
(2,000 events, two replicas on PostgreSQL).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml

from bot.signing import HEADER, sign
from tests.slack_mock import SlackMock

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_SECRET = "chaos-webhook-secret"
SIGNING_SECRET = "chaos-signing-secret"
BOT_TOKEN = "xoxb-test"
SALES_KEYS = ("maya", "ana", "ben", "chloe", "diego", "erin", "farid", "grace", "hugo", "ivy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_people() -> list[dict]:
    return yaml.safe_load((ROOT / "bot" / "demo_config.yaml").read_text())["people"]


def slack_users() -> dict[str, str]:
    """Every demo person is in the stand-in's Slack, as ``U_<KEY>``."""
    return {p["email"]: f"U_{p['key'].upper()}" for p in demo_people()}


def write_config(path: Path) -> dict[str, str]:
    """The demo config with each channel mapped to a stand-in channel id; returns name -> id."""
    data = yaml.safe_load((ROOT / "bot" / "demo_config.yaml").read_text())
    for name, ch in data["channels"].items():
        ch["slack"] = f"C_{name.upper()}"
    # The replicas run on the wall clock: no quiet hours (a run at night would hold posts until morning).
    data.setdefault("delivery", {})["quiet_hours"] = False
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return {name: ch["slack"] for name, ch in data["channels"].items()}


def server_env(database_url: str, slack: SlackMock, config: Path, **over: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "DELIVERY_", "DB_", "SMARKETING_", "DATABASE_URL", "WEBHOOK_"))
    }
    env.update(
        DATABASE_URL=database_url,
        SMARKETING_CONFIG=str(config),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        HOST="127.0.0.1",
        LOCAL_WORKSPACE="false",
        SCHEDULER="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # Short waits so that a crash is recovered from in seconds: a claim's lease, retries.
        DELIVERY_LEASE="3",
        DELIVERY_RETRY_BASE="0.2",
        DELIVERY_RETRY_MAX="2",
        DELIVERY_POLL="0.1",
        DELIVERY_CHANNEL_INTERVAL="0",
    )
    env.update(over)
    return env


class Replica:
    """One ``python -m bot`` process."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path):
        self.name = name
        self.port = free_port()
        self.env = {**env, "PORT": str(self.port)}
        self.workdir = workdir
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Replica":
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code in (200, 503):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """``kill -9``: no clean-up of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def owns(self, client: tuple[str, int] | None) -> bool:
        """Whether this process holds the connection whose local end is ``client``."""
        if client is None or not self.alive:
            return False
        inodes = _socket_inodes(client[1])
        try:
            fds = os.listdir(f"/proc/{self.pid}/fd")
        except OSError:
            return False
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
        return False

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _socket_inodes(local_port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == local_port:
                found.add(cols[9])
    return found


def make_events(n: int, seed: int) -> tuple[list[dict], int]:
    """``n`` CRM events — won deals (a #wins post each, and a #company copy from $50,000) and
    qualified leads (a DM to the owner) — and the number of posts they must cause."""
    rnd = random.Random(seed)
    people = {p["key"]: p for p in demo_people()}
    now = datetime.now(timezone.utc).isoformat()
    events, posts = [], 0
    for i in range(n):
        if rnd.random() < 0.85:
            amount = 2000 + rnd.randrange(56000)
            events.append(
                {
                    "id": f"chaos-{seed}-{i}",
                    "type": "deal.closed_won",
                    "occurred_at": now,
                    "data": {
                        "id": f"deal-{seed}-{i}",
                        "name": f"Deal {i}",
                        "amount": str(amount),
                        "currency": "USD",
                        "owner_email": people[rnd.choice(SALES_KEYS)]["email"],
                        "closed_at": now,
                    },
                }
            )
            posts += 2 if amount >= 50000 else 1
        else:
            owner = people[rnd.choice(SALES_KEYS)]
            events.append(
                {
                    "id": f"chaos-{seed}-{i}",
                    "type": "lead.qualified",
                    "occurred_at": now,
                    "data": {
                        "id": f"lead-{seed}-{i}",
                        "email": f"lead{i}@prospect.example",
                        "name": f"Lead {i}",
                        "company": f"Prospect {i}",
                        "status": "SQL",
                        "score": 85,
                        "owner_email": owner["email"],
                    },
                }
            )
            posts += 1
    return events, posts


@dataclass
class Report:
    database: str
    replicas: int
    events: int
    expected_posts: int
    queued_posts: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: dict[str, int] = field(default_factory=dict)
    out_of_order: dict[str, int] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    missing_reactions: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.doubled
            and not self.out_of_order
            and not self.unknown
            and self.queued_posts == self.expected_posts == self.delivered
        )

    def summary(self) -> str:
        faults = sum(self.faults.values())
        return (
            f"{self.database}, {self.replicas} replica(s): {self.events} events -> {self.expected_posts} posts "
            f"expected, {self.queued_posts} queued, {self.delivered} in Slack; lost {len(self.lost)}, "
            f"doubled {len(self.doubled)}, channels out of order {len(self.out_of_order)}, "
            f"unknown {len(self.unknown)}; {len(self.kills)} x kill -9 ({', '.join(self.kills)}); "
            f"{faults} of {self.calls} Slack calls failed ({self.faults}); outbox {self.statuses}; "
            f"reactions missing {self.missing_reactions}; {self.seconds:.0f} s"
        )


class ChaosRun:
    """One run: see the module docstring. ``database_url`` must hold an empty, migrated schema."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        replicas: int = 1,
        events: int = 150,
        kills: int = 3,
        fault_rate: float = 0.2,
        seed: int = 1,
        batch: int = 25,
        deadline: float = 240,
        env: dict[str, str] | None = None,
        log=print,
    ):
        self.database_url = database_url
        self.workdir = workdir
        self.replicas_n = replicas
        self.n_events = events
        self.n_kills = kills
        self.fault_rate = fault_rate
        self.seed = seed
        self.batch = batch
        self.deadline = deadline
        self.extra_env = env or {}
        self.log = log
        self.rnd = random.Random(seed)

    def run(self) -> Report:
        started = time.monotonic()
        events, expected = make_events(self.n_events, self.seed)
        config = self.workdir / "chaos.yaml"
        self.channels = write_config(config)
        report = Report(
            "postgresql" if self.database_url.startswith("postgres") else "sqlite",
            self.replicas_n,
            len(events),
            expected,
        )
        with SlackMock(users=slack_users()) as slack:
            env = server_env(self.database_url, slack, config, **self.extra_env)
            replicas = [Replica(f"replica{i + 1}", env, self.workdir) for i in range(self.replicas_n)]
            try:
                for r in replicas:
                    r.start()
                self.log(f"{time.monotonic() - started:6.1f}s started")
                slack.faults(self.fault_rate, seed=self.seed)
                slices = _split(events, self.n_kills + 1)
                for i, part in enumerate(slices):
                    self._send(replicas, part)
                    self.log(f"{time.monotonic() - started:6.1f}s sent {len(part)} events")
                    if i < self.n_kills:
                        report.kills.append(self._kill(slack, replicas, i))
                        self.log(f"{time.monotonic() - started:6.1f}s restarted")
                self._wait_delivered(replicas)
                self.log(f"{time.monotonic() - started:6.1f}s all delivered")
                slack.faults(0)
                report.faults = dict(slack.fault_counts)
                report.calls = len(slack.calls())
            finally:
                for r in replicas:
                    r.stop()
            self._check(slack, report)
        report.seconds = time.monotonic() - started
        return report

    # -- driving --------------------------------------------------------------------------
    def _send(self, replicas: list[Replica], events: list[dict]) -> None:
        """Post the events in signed batches, each to a live replica; a batch without a 200 (the
        process died under it) is sent again: repeated ids are accepted and ignored."""
        for start in range(0, len(events), self.batch):
            body = json.dumps(events[start : start + self.batch]).encode()
            for _attempt in range(50):
                live = [r for r in replicas if r.alive]
                target = self.rnd.choice(live)
                try:
                    resp = httpx.post(
                        target.url + "/webhooks/crm",
                        content=body,
                        timeout=30,
                        headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)},
                    )
                    if resp.status_code == 200:
                        break
                    self.log(f"webhook answered {resp.status_code}: {resp.text[:200]}")
                except httpx.HTTPError as e:
                    self.log(f"webhook to {target.name} failed ({type(e).__name__}); sending again")
                time.sleep(0.2)
            else:
                raise RuntimeError("the webhook never accepted a batch")

    def _kill(self, slack: SlackMock, replicas: list[Replica], i: int) -> str:
        """A ``kill -9`` mid-delivery: while the stand-in holds a post (then lets it act, or
        resets it), or at a random moment. The replica is started again at once."""
        mode = ("held-act", "held-reset", "random")[i % 3]
        victim = self.rnd.choice(replicas)
        if mode.startswith("held"):
            before = len(slack.held_clients)
            arrived, release = slack.hold_next("chat.postMessage", act=mode == "held-act")
            if arrived.wait(60):
                client = slack.held_clients[before] if len(slack.held_clients) > before else None
                victim = next((r for r in replicas if r.owns(client)), victim)
                victim.kill()
                release.set()  # Slack goes on with (or drops) a call whose caller is gone
            else:
                release.set()
                mode = "random"
        if mode == "random":
            time.sleep(self.rnd.uniform(0.05, 0.4))
            victim.kill()
        self.log(f"kill -9 {victim.name} ({mode})")
        victim.start()
        return mode

    def _wait_delivered(self, replicas: list[Replica]) -> None:
        engine = _engine(self.database_url)
        try:
            deadline = time.monotonic() + self.deadline
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    open_rows = conn.execute(
                        sa.text("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
                    ).scalar_one()
                if not open_rows:
                    return
                time.sleep(0.25)
            raise AssertionError(
                f"{open_rows} messages still undelivered after {self.deadline}s:\n"
                + "\n".join(r.tail(20) for r in replicas)
            )
        finally:
            engine.dispose()

    # -- the verdict ----------------------------------------------------------------------
    def _check(self, slack: SlackMock, report: Report) -> None:
        engine = _engine(self.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, key, destination, status FROM outbox WHERE op = 'post'")).all()
        finally:
            engine.dispose()
        report.statuses = dict(Counter(r.status for r in rows))
        report.queued_posts = len(rows)
        ids = {r.key: r.id for r in rows}
        report.lost = sorted(r.key for r in rows if r.status != "sent")
        posted: dict[str, list[dict]] = defaultdict(list)
        by_channel: dict[str, list[dict]] = defaultdict(list)
        for m in slack.messages():
            key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
            if key is None:
                continue
            posted[key].append(m)
            by_channel[m["channel"]].append(m)
        report.delivered = len(posted)
        report.lost += sorted(k for k in ids if k not in posted and k not in report.lost)
        report.doubled = {k: len(v) for k, v in posted.items() if len(v) > 1}
        report.unknown = sorted(k for k in posted if k not in ids)
        for channel, messages in by_channel.items():
            order = [
                ids[(m["metadata"]["event_payload"])["key"]]
                for m in sorted(messages, key=lambda m: _ts(m["ts"]))
                if m["metadata"]["event_payload"]["key"] in ids
            ]
            backwards = sum(1 for a, b in zip(order, order[1:]) if b < a)
            if backwards:
                report.out_of_order[channel] = backwards
        report.missing_reactions = sum(
            1
            for k, ms in posted.items()
            if k.endswith(":post") and not any(r.get("name") == "tada" for m in ms for r in m.get("reactions", []))
        )


def _split(items: list, parts: int) -> list[list]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _ts(ts: str) -> tuple[int, int]:
    whole, _, frac = ts.partition(".")
    return int(whole), int(frac or 0)


def _engine(url: str):
    from storage.db import make_engine

    return make_engine(url)
