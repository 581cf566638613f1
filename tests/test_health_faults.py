"""Health that tells the truth, and database calls that fail fast: the real server (``python -m
bot``) with a database that cannot take a write (SQLite's files cannot grow, another process
holds its write lock) or cannot be reached at all (PostgreSQL behind a partitioned network)."""

from __future__ import annotations

import json
import resource
import sqlite3
import time

import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.signing import HEADER, sign
from tests.chaos import WEBHOOK_SECRET, Replica, server_env, slack_users, write_config
from tests.netfaults import PartitionProxy
from tests.slack_mock import SlackMock

pytestmark = pytest.mark.slow


@pytest.fixture
def server(engine, database_url, tmp_path):
    """Start ``python -m bot`` on a database URL of the test's choosing."""
    started: list[Replica] = []
    with SlackMock(users=slack_users()) as slack:
        config = tmp_path / "config.yaml"
        write_config(config)

        def start(url: str = database_url, **env: str) -> Replica:
            r = Replica(f"server{len(started) + 1}", server_env(url, slack, config, **env), tmp_path).start()
            started.append(r)
            return r

        yield start
        for r in started:
            r.stop()


def health_within(r: Replica, status: int, seconds: float) -> float:
    """Poll /healthz until it answers ``status``; return how long that took (each answer counts)."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < seconds:
        try:
            resp = httpx.get(r.url + "/healthz", timeout=seconds)
            last = resp
            if resp.status_code == status:
                return time.monotonic() - started
        except httpx.HTTPError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(
        f"/healthz did not answer {status} within {seconds}s; last: {getattr(last, 'text', last)}\n{r.tail()}"
    )


def webhook(r: Replica, event_id: str, timeout: float = 60) -> httpx.Response:
    body = json.dumps(
        {
            "id": event_id,
            "type": "campaign.upserted",
            "occurred_at": "2026-11-23T10:00:00Z",
            "data": {"id": f"cmp-{event_id}", "name": "Spring webinar"},
        }
    ).encode()
    return httpx.post(
        r.url + "/webhooks/crm",
        content=body,
        timeout=timeout,
        headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)},
    )


def sqlite_only(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a SQLite file's failures")


def test_healthz_is_503_within_5s_once_sqlites_files_cannot_grow_and_200_again_after(server, database_url):
    sqlite_only(database_url)
    r = server()
    health_within(r, 200, 10)
    soft, hard = resource.prlimit(r.pid, resource.RLIMIT_FSIZE)
    resource.prlimit(r.pid, resource.RLIMIT_FSIZE, (0, hard))  # a full disk, for this process only
    try:
        assert health_within(r, 503, 5) < 5
        resp = httpx.get(r.url + "/healthz", timeout=10)
        assert resp.status_code == 503 and "cannot take a write" in resp.json()["database_error"]
    finally:
        resource.prlimit(r.pid, resource.RLIMIT_FSIZE, (soft, hard))
    health_within(r, 200, 10)


def test_healthz_is_503_within_5s_while_another_process_holds_sqlites_write_lock(server, database_url):
    sqlite_only(database_url)
    r = server()
    health_within(r, 200, 10)
    other = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a stuck writer elsewhere: nothing can be written
    try:
        assert health_within(r, 503, 5) < 5
        assert "did not take a write within" in httpx.get(r.url + "/healthz", timeout=10).json()["database_error"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    health_within(r, 200, 15)


def test_with_postgresql_cut_off_healthz_is_503_within_5s_and_requests_fail_fast(server, database_url):
    if not database_url.startswith("postgres"):
        pytest.skip("a network partition between the server and PostgreSQL")
    url = make_url(database_url)
    proxy = PartitionProxy((url.host or "127.0.0.1", url.port or 5432))
    try:
        r = server(url.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False))
        health_within(r, 200, 10)
        assert webhook(r, "before").status_code == 200
        proxy.partition()
        assert health_within(r, 503, 5) < 5
        started = time.monotonic()
        resp = webhook(r, "during")
        took = time.monotonic() - started
        print(f"partitioned: webhook answered {resp.status_code} in {took:.1f} s")
        assert resp.status_code == 500 and took < 10  # an error within seconds, not a 30 s hang
        proxy.heal()
        health_within(r, 200, 20)
        assert webhook(r, "after").status_code == 200
    finally:
        proxy.close()


def test_on_postgresql_a_call_never_answered_fails_at_its_deadline_while_the_watchdog_slept(database_url):
    """The deadline watchdog is woken only when a call's deadline is sooner than its next look (not
    once per statement): a call started while it sleeps towards an earlier deadline is still cut
    off at its own (2.5 s here), not left hanging: the proxy's end still acknowledges every byte,
    so no TCP timeout would ever notice."""
    if not database_url.startswith("postgres"):
        pytest.skip("a network partition between the process and PostgreSQL")
    import sqlalchemy as sa

    from storage.db import make_engine

    url = make_url(database_url)
    proxy = PartitionProxy((url.host or "127.0.0.1", url.port or 5432))
    # statement_timeout 0.5 s: each call's client-side deadline is 2.5 s after it starts.
    engine = make_engine(
        url.set(host=proxy.host, port=proxy.port).render_as_string(hide_password=False), statement_timeout=0.5
    )
    try:
        with engine.connect() as second:
            with engine.connect() as first:
                first.execute(sa.text("SELECT 1"))  # answered: the watchdog sleeps towards its deadline
            second.execute(sa.text("SELECT 1"))  # a later deadline: no wake-up
            proxy.partition()
            started = time.monotonic()
            with pytest.raises(sa.exc.DBAPIError):
                second.execute(sa.text("SELECT 2"))
            took = time.monotonic() - started
        assert 2.0 < took < 6.0, took  # its deadline, with room for a busy machine
    finally:
        engine.dispose()
        proxy.close()


def _backend_pid(factory) -> int:
    import sqlalchemy as sa

    with factory.read() as uow:
        return uow.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(database_url: str, pid: int) -> None:
    import sqlalchemy as sa

    from storage.db import make_engine

    admin = make_engine(database_url)
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()


def test_on_postgresql_a_pooled_connection_dropped_while_idle_is_replaced_before_the_work_starts(database_url):
    """The server dropped a pooled connection while it sat idle (a restart, a proxy's idle cut-off):
    the next unit of work pings it, finds it dead and runs on a new one; nobody sees an error."""
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL's pooled connections")
    from storage.db import make_engine, uow_factory

    engine = make_engine(database_url, ping_after_idle=0.0)  # idle for any time at all: pinged
    try:
        factory = uow_factory(engine)
        first = _backend_pid(factory)
        _terminate(database_url, first)
        assert _backend_pid(factory) != first  # the work ran, on a new connection
    finally:
        engine.dispose()


def test_on_postgresql_a_connection_used_within_the_idle_limit_goes_to_work_without_a_ping(database_url):
    """No round trip is spent pinging a connection used moments ago: one dropped within that time
    fails its unit of work once (as a ping-less pool would), and the next runs on a new connection."""
    if not database_url.startswith("postgres"):
        pytest.skip("PostgreSQL's pooled connections")
    import sqlalchemy as sa

    from storage.db import make_engine, uow_factory

    engine = make_engine(database_url, ping_after_idle=3600.0)  # never idle long enough to be pinged
    try:
        factory = uow_factory(engine)
        first = _backend_pid(factory)
        _terminate(database_url, first)
        with pytest.raises(sa.exc.DBAPIError) as failed:
            _backend_pid(factory)
        assert failed.value.connection_invalidated
        assert _backend_pid(factory) != first
    finally:
        engine.dispose()
