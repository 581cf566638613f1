"""Engine, migrations and the unit of work."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # WAL lets the page and the dispatcher read while a request writes; NORMAL is
            # durable across application crashes, which is what the outbox needs.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a unit
        # of work is one real transaction (BEGIN IMMEDIATE takes the write lock up front and
        # avoids deadlock-style SQLITE_BUSY between two writers).
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (``alembic upgrade head``)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _migrate_lock, engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def recreate(engine: Engine) -> None:
    """An empty database at the newest revision, for tests and benchmarks: on PostgreSQL the
    ``public`` schema is dropped and created again (everything in it is lost); a SQLite caller
    starts from a new file. Never point it at a database you care about."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    migrate(engine)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - health check reports, never raises
        log.exception("database ping failed")
        return False


class UnitOfWork:
    """One transaction with the repositories over it. Rolls back unless ``commit()`` is called.

    >>> with uow_factory() as uow:
    ...     uow.leads.get(1)
    ...     uow.commit()
    """

    def __init__(self, engine: Engine):
        self.engine = engine
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        from storage import repos

        self.session = Session(self.engine, expire_on_commit=False)
        s = self.session
        self.people = repos.PeopleRepo(s)
        self.campaigns = repos.CampaignsRepo(s)
        self.leads = repos.LeadsRepo(s)
        self.deals = repos.DealsRepo(s)
        self.schedule = repos.ScheduleRepo(s)
        self.bounces = repos.BouncesRepo(s)
        self.alerts = repos.AlertsRepo(s)
        self.outbox = repos.OutboxRepo(s)
        self.inbound = repos.InboundRepo(s)
        self.kv = repos.KeyValueRepo(s)
        self.teams = repos.TeamsRepo(s)
        self.scoreboard = repos.ScoreboardRepo(s)
        self.review = repos.ReviewRepo(s)
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        try:
            # Detach first: objects read in this unit of work stay readable afterwards (a
            # rollback would expire them), while anything not committed is thrown away.
            self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()


UowFactory = Callable[[], UnitOfWork]


def uow_factory(engine: Engine) -> UowFactory:
    return lambda: UnitOfWork(engine)
