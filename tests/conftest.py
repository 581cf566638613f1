"""Shared fixtures.

The suite runs on SQLite by default and on PostgreSQL when ``DATABASE_URL`` points to one. The
schema is built once per run by the real Alembic migrations; each test starts from empty tables.
``server`` runs the real FastAPI app under uvicorn on a free loopback port; ``slack`` is a local
HTTP server speaking Slack's Web API (tests/slack_mock.py).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from bot.settings import Settings
from handlers.ports import FixedClock
from storage.db import make_engine, migrate, recreate
from tests.slack_mock import SlackMock

SIGNING_SECRET = "test-signing-secret"
WEBHOOK_SECRET = "test-webhook-secret"
BOT_TOKEN = "xoxb-test"

# People in the demo config and their Slack ids in the mock.
SLACK_USERS = {
    "maya@northwind.example": "U_MAYA",
    "ana@northwind.example": "U_ANA",
    "ben@northwind.example": "U_BEN",
    "chloe@northwind.example": "U_CHLOE",
    "jonas@northwind.example": "U_JONAS",
    "kira@northwind.example": "U_KIRA",
    "leo@northwind.example": "U_LEO",
    "sam@northwind.example": "U_SAM",
}
SLACK_CHANNELS = {"wins": "C_WINS", "company": "C_COMPANY", "sales": "C_SALES", "marketing": "C_MARKETING"}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        engine = make_engine(url)
        recreate(engine)
        engine.dispose()
        return url
    path = tmp_path_factory.mktemp("db") / "test.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def _clean(engine) -> None:
    import storage.models  # noqa: F401

    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(tables):
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
            conn.execute(sa.text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence(conn) else None


def _has_sqlite_sequence(conn) -> bool:
    return bool(conn.execute(sa.text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")).first())


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    _clean(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> FixedClock:
    """Monday 2026-11-23 15:00 UTC (10:00 in New York, 15:00 in London)."""
    return FixedClock(datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))


@pytest.fixture(scope="session")
def slack_server():
    mock = SlackMock(users=dict(SLACK_USERS))
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def slack(slack_server) -> SlackMock:
    slack_server.reset()
    for email, uid in SLACK_USERS.items():
        slack_server.add_user(email, uid)
    return slack_server


def make_settings(database_url: str, **over) -> Settings:
    values = dict(
        database_url=database_url,
        webhook_secret=WEBHOOK_SECRET,
        local_workspace=False,
        scheduler=False,
        delivery_channel_interval=0.0,
        delivery_retry_base=0.05,
        delivery_poll=0.05,
        log_level="INFO",
        demo_life=False,  # moving the clock runs only the jobs, unless a test asks for the company's life
    )
    values.update(over)
    return Settings(_env_file=None, **values)


def demo_config_with_slack():
    """The demo config with each channel mapped to a Slack channel id in the mock."""
    from bot.config import load_config

    cfg = load_config(None)
    for name, ch in cfg.channels.items():
        ch.slack = SLACK_CHANNELS.get(name, f"C_{name.upper()}")
    return cfg


def ladder_config(cfg=None):
    """A config whose ladder speaks step by step in real time (``delivery``: every kind real time,
    no quiet hours): for the tests of the ladder itself. The default policy folds warnings,
    non-urgent escalations and the channel step into digests (tests/test_policy.py)."""
    from bot.config import load_config

    cfg = cfg or load_config(None)
    cfg.delivery.warn = cfg.delivery.manager = "realtime"
    cfg.delivery.channel = "realtime"
    cfg.delivery.quiet_hours = False
    return cfg


@pytest.fixture
def make_container(engine, database_url, clock):
    """Build the app as ``python -m bot`` would, with test settings. Closed after the test."""
    from bot.app import build

    made = []

    def factory(*, slack_mock: SlackMock | None = None, config=None, **over):
        if slack_mock is not None:
            over.setdefault("slack_bot_token", BOT_TOKEN)
            over.setdefault("slack_signing_secret", SIGNING_SECRET)
            over.setdefault("slack_api_url", slack_mock.base_url)
            config = config or demo_config_with_slack()
        c = build(make_settings(database_url, **over), config=config, clock=over.pop("clock", clock), do_migrate=False)
        made.append(c)
        return c

    yield factory
    for c in made:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The real app served by uvicorn in a thread, on a loopback port."""

    def __init__(self, container, *, local: bool = False):
        import uvicorn

        from bot.server import create_api

        self.container = container
        self.api = create_api(container)
        if local:
            from bot.local.web import mount_local_workspace

            mount_local_workspace(self.api, container)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.api, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "LiveServer":
        self.container.dispatcher.start(poll=self.container.settings.delivery_poll)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.container.dispatcher.stop()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)


@pytest.fixture
def live_server():
    started = []

    def factory(container, **kw) -> LiveServer:
        s = LiveServer(container, **kw).start()
        started.append(s)
        return s

    yield factory
    for s in started:
        s.stop()


@pytest.fixture
def app(make_container, slack, live_server):
    """The real app on a loopback port, on Slack (the Web API stand-in ``slack``), the demo company.
    A test file that needs another configuration defines its own ``app``."""
    return live_server(make_container(slack_mock=slack))


def post_slack(http, payload: tuple[bytes, str]):
    """A request (a body and its content type, as ``tests/slack_requests.py`` makes them) posted to
    ``/slack/events`` signed as Slack signs it."""
    from tests import slack_requests as sr

    body, ctype = payload
    return http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))


ROOT = Path(__file__).resolve().parent.parent


# --- two lanes ------------------------------------------------------------------------------
# ``-m fast``: rules, renderers and storage, in process. ``-m full``: everything that serves the
# real app over HTTP, talks to a stand-in server, drives Chromium, starts a subprocess, fuzzes,
# injects faults or simulates a month. The README's test command runs both.
_FULL_FIXTURES = {"live_server", "slack_server", "slack", "page", "browser", "hubspot", "salesforce", "teams"}
_FULL_MODULES = {
    "test_fuzz",
    "test_delivery_chaos",
    "test_health_faults",
    "test_simulate",
    "test_migrations",
    "test_exposure",
    "test_local_safety",
    "test_ops",
    "test_import_cli",
    "test_readme",
    "test_local_demo",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        full = (
            module in _FULL_MODULES
            or module.endswith("_e2e")
            or module.startswith("test_browser")
            or bool(_FULL_FIXTURES & set(getattr(item, "fixturenames", ())))
            or item.get_closest_marker("full") is not None  # marked by hand: a long end-to-end story
        )
        item.add_marker(pytest.mark.full if full else pytest.mark.fast)
