"""What hostile requests cost the running server: oversized and malformed bodies on every endpoint.

Run: python bench/bench_exposure.py [--mib 64]   (DATABASE_URL selects the database; SQLite temp file otherwise)

Starts ``python -m bot`` (Slack over HTTP, Teams, the CRM webhook) as its own process, then sends
it, unsigned, a ``--mib`` MiB body streamed without Content-Length and one that declares its
length, on ``/slack/events``, ``/api/messages`` and ``/webhooks/crm``; then 1,000-deep JSON, signed,
to the webhook and to Slack. Reports each answer's status and time and the server's RSS before and
after (read from /proc). Before the byte limit on Slack, one 64 MiB body took it from 164 to 551 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.signing import sign  # noqa: E402
from tests import slack_requests as sr  # noqa: E402

SIGNING_SECRET, WEBHOOK_SECRET = "bench-signing-secret", "bench-webhook-secret"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def declared(port: int, path: str, size: int) -> tuple[int, float]:
    """Headers declaring ``size`` bytes, then the body as fast as the server takes it: (status, ms)."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        s.settimeout(0.05)
        chunk, sent, answer = b"x" * 65536, 0, b""
        while sent < size and not answer:
            try:
                sent += s.send(chunk)
            except (BlockingIOError, socket.timeout):
                pass
            except OSError:
                break
            try:
                answer = s.recv(200)
            except (BlockingIOError, socket.timeout):
                pass
        s.settimeout(10)
        answer = answer or s.recv(200)
    return int(answer.split()[1]), (time.perf_counter() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    args = ap.parse_args()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env.update(
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db",
        PORT=str(port),
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",
        TEAMS_CLIENT_ID="bench-app",
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOCAL_WORKSPACE="false",
        SCHEDULER="false",
        LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(300):
                try:
                    if http.get("/healthz").status_code in (200, 503):
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            print(f"server RSS at start: {rss_mb(proc.pid):.0f} MB")
            chunk = b"x" * (1024 * 1024)
            for path in ("/slack/events", "/api/messages", "/webhooks/crm"):
                t0 = time.perf_counter()
                try:
                    streamed = http.post(
                        path, content=(chunk for _ in range(args.mib)), headers={"Content-Type": "application/json"}
                    ).status_code
                except httpx.TransportError:  # the server answered and closed before taking it all
                    streamed = "closed"
                t1 = time.perf_counter()
                status, ms = declared(port, path, args.mib * 1024 * 1024)
                print(
                    f"{path}: {args.mib} MiB streamed -> {streamed} in {(t1 - t0) * 1000:.0f} ms; "
                    f"declared -> {status} in {ms:.0f} ms; server RSS {rss_mb(proc.pid):.0f} MB"
                )
            deep = ("[" * 1000 + "]" * 1000).encode()
            crm = http.post(
                "/webhooks/crm",
                content=deep,
                headers={"Content-Type": "application/json", "X-Smarketing-Signature": sign(WEBHOOK_SECRET, deep)},
            )
            slack = http.post("/slack/events", content=deep, headers=sr.signed_headers(SIGNING_SECRET, deep, sr.JSON))
            print(
                f"1,000-deep JSON, signed: webhook {crm.status_code} {json.loads(crm.text)['error']!r}; "
                f"slack {slack.status_code} {json.loads(slack.text)['error']!r}"
            )
            print(f"server RSS at end: {rss_mb(proc.pid):.0f} MB")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
