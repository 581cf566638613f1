"""Engine, migrations and the unit of work."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
_migrate_lock = threading.Lock()


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# A PostgreSQL connection is pinged before use only when it has sat idle this long (seconds).
PING_AFTER_IDLE = 1.0


def make_engine(
    url: str,
    *,
    echo: bool = False,
    connect_timeout: float = 3.0,
    statement_timeout: float = 10.0,
    ping_after_idle: float = PING_AFTER_IDLE,
) -> Engine:
    """The engine, with timeouts so that a database that cannot answer fails calls fast instead
    of hanging them: PostgreSQL gets ``connect_timeout``, TCP keepalives and a user timeout (a
    partitioned server is noticed in seconds), a server-side ``statement_timeout`` and, for what
    the kernel cannot notice, a client-side deadline on every call (``_Deadlines``); SQLite waits
    at most ``statement_timeout`` for another writer's lock. ``statement_timeout=0``: no limit."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        busy = statement_timeout or 30.0
        engine = sa.create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            # WAL lets the page and the dispatcher read while a request writes; NORMAL is
            # durable across application crashes, which is what the outbox needs.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy * 1000)}")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so that a unit
        # of work is one real transaction (BEGIN IMMEDIATE takes the write lock up front and
        # avoids deadlock-style SQLITE_BUSY between two writers).
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            # A unit of work that only reads (``UowFactory.read``), or that reads before it
            # knows whether it will write (``UowFactory.run``), does not take the write lock:
            # in WAL mode it neither waits for writers nor holds them up.
            options = conn.get_execution_options()
            conn.exec_driver_sql("BEGIN" if options.get("deferred") else "BEGIN IMMEDIATE")
            if options.get("readonly"):
                # A read-only unit of work that tries to write fails (SQLITE_READONLY) rather than
                # taking the write lock; the connection is writable again when it goes back.
                conn.exec_driver_sql("PRAGMA query_only=ON")
                conn.connection.info["query_only"] = True

        @event.listens_for(engine, "checkin")
        def _writable_again(dbapi_conn, record):  # pragma: no cover - trivial
            if record is not None and record.info.pop("query_only", False):
                dbapi_conn.execute("PRAGMA query_only=OFF")

        return engine
    connect_args: dict = {
        "connect_timeout": max(2, round(connect_timeout)),  # libpq: whole seconds, at least 2
        # A server that stops answering (a partition: no reset ever arrives) is noticed by the
        # kernel: unacknowledged data for longer than tcp_user_timeout, or an idle connection
        # whose keepalive probes go unanswered, fail the connection.
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
        "tcp_user_timeout": int(max(statement_timeout, 5) * 1000),
    }
    if statement_timeout:
        # Added to the URL's own ``options`` (a search_path, say), which connect_args would replace.
        given = sa.engine.make_url(url).query.get("options")
        given = given[-1] if isinstance(given, tuple) else given
        mine = f"-c statement_timeout={int(statement_timeout * 1000)}"
        connect_args["options"] = f"{given} {mine}" if given else mine
    engine = sa.create_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=10,
        pool_timeout=max(connect_timeout, 1.0) + 2.0,
        connect_args=connect_args,
    )

    _ping_when_idle(engine, ping_after_idle)

    _Deadlines.install(
        engine, statement=statement_timeout + 2.0 if statement_timeout else None, ping=max(connect_timeout, 1.0)
    )
    return engine


def _ping_when_idle(engine: Engine, after: float) -> None:
    """Ping a pooled connection before use only when it has been idle for ``after`` seconds.

    ``pool_pre_ping`` pings at every checkout: a round trip per unit of work, about a tenth of a
    command's. A connection used less than a second ago is alive unless the server went away in
    that second, and then a new connection would fail too. One idle for longer (a restarted
    server, a proxy's idle cut-off) is pinged; a dead one is replaced before the work starts
    (the pool retries a checkout refused with ``DisconnectionError``). The ping has the
    deadline of every call (``_Deadlines``)."""

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn, record):  # pragma: no cover - trivial
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_conn, record):  # pragma: no cover - trivial
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # noqa: BLE001 - any failure: this connection is not usable
            raise sa.exc.DisconnectionError(f"a pooled connection failed its ping: {e}") from e


class _Deadlines:
    """Client-side deadlines on PostgreSQL calls: a call still waiting for the server past its
    deadline has its socket shut down, so it fails (and SQLAlchemy discards the connection)
    instead of hanging. The server's ``statement_timeout`` ends slow statements; this is for a
    server that cannot answer at all (a partition, a stalled proxy), which no server setting
    and, behind a proxy, no TCP timeout notices. One watchdog thread serves every engine."""

    _busy: dict[int, tuple[float, int]] = {}  # id(dbapi connection) -> (deadline, socket fd)
    _cond = threading.Condition()
    _thread: threading.Thread | None = None
    # When the watchdog wakes next (None: it waits for work). A call whose deadline is later needs
    # no wake-up: every deadline is as long as the last, so the watchdog is woken once per quiet
    # spell, not once per statement (which cost a thread switch per statement).
    _wake_at: float | None = None

    @classmethod
    def install(cls, engine: Engine, *, statement: float | None, ping: float) -> None:
        dialect = engine.dialect

        def guarded(method: Callable, seconds: float | None, conn_of: Callable) -> Callable:
            def call(target, *args, **kwargs):
                context = kwargs.get("context", args[-1] if args else None)
                options = getattr(context, "execution_options", None) or {}
                if seconds is None or options.get("no_deadline"):
                    return method(target, *args, **kwargs)
                conn = conn_of(target)
                cls._start(conn, seconds)
                try:
                    return method(target, *args, **kwargs)
                finally:
                    cls._end(conn)

            return call

        on_cursor = lambda cursor: cursor.connection  # noqa: E731
        on_conn = lambda conn: conn  # noqa: E731
        # The dialect object is this engine's own; these are the calls that wait for the server.
        for name, seconds, conn_of in (
            ("do_execute", statement, on_cursor),
            ("do_executemany", statement, on_cursor),
            ("do_execute_no_params", statement, on_cursor),
            ("do_commit", statement, on_conn),
            ("do_rollback", ping + 2.0, on_conn),
            ("do_ping", ping, on_conn),
        ):
            setattr(dialect, name, guarded(getattr(dialect, name), seconds, conn_of))

    @classmethod
    def _start(cls, conn, seconds: float) -> None:
        try:
            fd = conn.pgconn.socket
        except Exception:  # noqa: BLE001 - a closed connection fails on its own
            return
        deadline = time.monotonic() + seconds
        with cls._cond:
            cls._busy[id(conn)] = (deadline, fd)
            if cls._thread is None:
                cls._thread = threading.Thread(target=cls._watch, name="db-deadlines", daemon=True)
                cls._thread.start()
            if cls._wake_at is None or deadline < cls._wake_at:
                cls._wake_at = deadline  # the watchdog sets its own when it has looked
                cls._cond.notify()

    @classmethod
    def _end(cls, conn) -> None:
        with cls._cond:
            cls._busy.pop(id(conn), None)

    @classmethod
    def _watch(cls) -> None:
        while True:
            with cls._cond:
                if not cls._busy:
                    cls._wake_at = None
                    cls._cond.wait()
                    continue
                now = time.monotonic()
                for key, (deadline, fd) in list(cls._busy.items()):
                    if deadline <= now:
                        del cls._busy[key]
                        log.error("database call still unanswered at its deadline: closing its connection")
                        try:
                            sock = socket.socket(fileno=os.dup(fd))
                            try:
                                sock.shutdown(socket.SHUT_RDWR)
                            finally:
                                sock.close()
                        except OSError:
                            pass
                wait = min(deadline for deadline, _ in cls._busy.values()) - now if cls._busy else None
                cls._wake_at = None if wait is None else now + max(wait, 0.05)
                cls._cond.wait(None if wait is None else max(wait, 0.05))


def _heads() -> set[str]:
    """The newest revisions in ``migrations/versions``, read from the files (without Alembic)."""
    import ast

    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
            value = getattr(node, "value", None)
            if not isinstance(target, ast.Name) or value is None:
                continue
            try:
                found = ast.literal_eval(value)
            except ValueError:
                continue
            if target.id == "revision" and isinstance(found, str):
                revisions.add(found)
            elif target.id == "down_revision" and found:
                parents.update([found] if isinstance(found, str) else found)
    return revisions - parents


def at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision already (a restart's usual case): then
    ``migrate`` need not load Alembic, which costs a start-up a third of a second and ~15 MiB."""
    try:
        with engine.connect() as conn:
            stored = {r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
    except sa.exc.DBAPIError:
        return False  # no schema yet
    heads = _heads()
    return bool(heads) and stored == heads


def alembic_config():
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, *, thorough: bool = False) -> None:
    """Bring the schema to the newest revision (``alembic upgrade head``), then check that the
    database really has the models' schema (``storage.schema``): ``SchemaMismatch`` when not,
    saying what differs and what to do. ``thorough`` adds Alembic's full comparison. A database
    already at the newest revision (a restart's usual case) is only checked: Alembic is not
    loaded, which saves a start-up a third of a second and ~15 MiB."""
    from storage.schema import SchemaMismatch, current_revision, quick_differences, thorough_differences

    where = engine.url.render_as_string(hide_password=True)
    if not thorough and at_head(engine):
        with engine.connect() as conn:
            differences = quick_differences(conn)
            if differences:
                raise SchemaMismatch(where, differences, current_revision(conn))
        return
    from alembic import command
    from alembic.util.exc import CommandError

    cfg = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with _migrate_lock, engine.connect() as conn:
        # A schema change on a big table may take longer than any request should.
        conn = conn.execution_options(no_deadline=True)
        if sqlite:
            # SQLite alters a table by rebuilding it (batch mode): with foreign keys on, dropping the
            # old copy of a table that others point at fails. Off for the migration (it can only be
            # switched outside a transaction), every reference checked before it commits.
            _driver_sql(conn, "PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                if not sqlite:
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                cfg.attributes["connection"] = conn
                try:
                    command.upgrade(cfg, "head")
                except CommandError as e:  # a revision this version does not know: made by a newer one
                    raise SchemaMismatch(where, [f"Alembic: {e}"], current_revision(conn)) from None
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaMismatch(
                            where,
                            [f"table {r[0]}: row {r[1]} points at a missing {r[2]} row" for r in broken[:20]],
                            current_revision(conn),
                        )
                differences = (thorough_differences if thorough else quick_differences)(conn)
                if differences:
                    raise SchemaMismatch(where, differences, current_revision(conn))
        finally:
            if sqlite:
                _driver_sql(conn, "PRAGMA foreign_keys=ON")


def _driver_sql(conn: sa.Connection, sql: str) -> None:
    """Run ``sql`` on the driver's connection itself, past SQLAlchemy (which would begin a
    transaction first). Only an invalidated connection has no driver connection."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        raise RuntimeError(f"no database connection to run {sql!r} on (it was invalidated)")
    dbapi.execute(sql)


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


HEALTH_KEY = "health.write_probe"


def write_probe(engine: Engine, at) -> None:
    """Write one small row and commit it; raises when the database cannot take a write (a
    read-only or full disk, a lost connection). What the outbox needs to work, checked for real."""
    with UnitOfWork(engine) as uow:
        uow.kv.set(HEALTH_KEY, {"at": at.isoformat()})
        uow.commit()


# How a read-only unit of work's connection is set up. SQLite: a deferred ``BEGIN`` and ``PRAGMA
# query_only`` (the ``begin`` listener). PostgreSQL: psycopg opens the transaction with ``BEGIN READ
# ONLY`` (the server refuses any write), with no statement of its own: ``SET TRANSACTION READ ONLY``
# after the ``BEGIN`` cost a round trip per read-only unit of work. The pool resets the connection
# when it comes back.
_READ_ONLY: dict[str, dict] = {
    "sqlite": dict(deferred=True, readonly=True),
    "postgresql": dict(readonly=True, postgresql_readonly=True),
}


class UnitOfWork:
    """One transaction with the repositories over it. Rolls back unless ``commit()`` is called.

    >>> with uow_factory() as uow:
    ...     uow.leads.get(1)
    ...     uow.commit()
    """

    def __init__(
        self,
        engine: Engine,
        on_enqueue: Callable[[], None] | None = None,
        on_people_change: Callable[[], None] | None = None,
        *,
        readonly: bool = False,
    ):
        self.readonly = readonly
        self.engine = (
            engine.execution_options(**_READ_ONLY.get(engine.dialect.name, {"readonly": True})) if readonly else engine
        )
        self.session: Session | None = None
        self._on_people_change = on_people_change
        self.commits = 0  # how many times commit() was called
        self._on_enqueue = on_enqueue
        self._deferred = False

    def __enter__(self) -> "UnitOfWork":
        from storage import repos

        self.session = Session(self.engine, expire_on_commit=False)
        s = self.session
        if self.readonly:
            s.info["readonly"] = True
        self.people = repos.PeopleRepo(s)
        self.campaigns = repos.CampaignsRepo(s)
        self.leads = repos.LeadsRepo(s)
        self.deals = repos.DealsRepo(s)
        self.schedule = repos.ScheduleRepo(s)
        self.bounces = repos.BouncesRepo(s)
        self.alerts = repos.AlertsRepo(s)
        self.away = repos.AwayRepo(s)
        self.outbox = repos.OutboxRepo(s)
        self.inbound = repos.InboundRepo(s)
        self.kv = repos.KeyValueRepo(s)
        self.teams = repos.TeamsRepo(s)
        self.changes = repos.ConnectorChangesRepo(s)
        self.scoreboard = repos.ScoreboardRepo(s)
        self.review = repos.ReviewRepo(s)
        self.directory = repos.DirectoryRepo(s)
        self.prefs = repos.PrefsRepo(s)
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
        """Commit; when the transaction queued outbox messages, tell the dispatcher (``on_enqueue``).
        After ``defer_commits()`` the work is only flushed, and committed by ``commit_now()``."""
        assert self.session is not None
        if self.readonly:
            raise ReadOnlyError("commit() in a read-only unit of work: open a writing one (uow_factory()) to write")
        self.commits += 1
        if self._deferred:
            self.session.flush()
            return
        self.commit_now()

    def defer_commits(self) -> None:
        """From now on ``commit()`` keeps the work in this one transaction, for the caller to
        commit with what it adds (an inbound event's id, its reply): all of it, or none."""
        self._deferred = True

    def commit_now(self) -> None:
        assert self.session is not None
        if self.readonly:
            raise ReadOnlyError("commit() in a read-only unit of work: open a writing one (uow_factory()) to write")
        self.session.commit()
        if self.session.info.pop("enqueued", False) and self._on_enqueue is not None:
            self._on_enqueue()
        if self.session.info.pop("people_changed", False) and self._on_people_change is not None:
            self._on_people_change()

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
        self.session.info.pop("enqueued", None)


class ReadOnlyError(RuntimeError):
    """A read-only unit of work (``UowFactory.read()``) was asked to write: a bug in the caller,
    which must open a writing one. Raised before anything reaches the database; a write sent
    to it directly is refused there (SQLite's ``query_only``, PostgreSQL's read-only transaction)."""


@event.listens_for(Session, "before_flush")
def _note_people_changes(session, _context, _instances) -> None:
    """Someone was added, linked to a platform or changed: whoever keeps people in memory reads
    them again after the commit (``UowFactory(on_people_change=...)``)."""
    from storage.models import Person

    if session.info.get("readonly"):
        changed = sorted(
            {type(o).__name__ for o in (*session.new, *session.deleted)}
            | {type(o).__name__ for o in session.dirty if session.is_modified(o)}
        )
        if changed:
            raise ReadOnlyError(
                f"a read-only unit of work tried to write ({', '.join(changed)}): "
                "open a writing one (uow_factory()) to write"
            )
    if any(isinstance(o, Person) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["people_changed"] = True


@event.listens_for(Session, "do_orm_execute")
def _refuse_writes_when_read_only(state) -> None:
    if state.session.info.get("readonly") and (state.is_insert or state.is_update or state.is_delete):
        raise ReadOnlyError(
            f"a read-only unit of work tried to write ({state.statement.table}): "
            "open a writing one (uow_factory()) to write"
        )


class UowFactory:
    """Makes units of work. Calling it gives one that writes (on SQLite it holds the write lock
    from its first statement); ``read()`` one that only reads; ``run(fn)`` runs ``fn(uow)``
    reading without the write lock until it writes, and again, in turn, if another writer got
    in first (SQLite), so that reads never queue behind writers."""

    def __init__(
        self,
        engine: Engine,
        on_enqueue: Callable[[], None] | None = None,
        on_people_change: Callable[[], None] | None = None,
    ):
        self.engine = engine
        self.on_enqueue = on_enqueue
        self.on_people_change = on_people_change
        self._deferred = engine.execution_options(deferred=True)

    def __call__(self, *, readonly: bool = False) -> UnitOfWork:
        if readonly:
            return self.read()
        return UnitOfWork(self.engine, self.on_enqueue, self.on_people_change)

    def read(self) -> UnitOfWork:
        """A unit of work that only reads: no write lock on SQLite (a plain ``BEGIN`` in WAL
        mode neither waits for writers nor holds them up), ``READ ONLY`` on PostgreSQL; any
        write in it raises ``ReadOnlyError`` (or the database's own refusal)."""
        return UnitOfWork(self.engine, readonly=True)

    reader = read

    def run(self, fn: Callable[[UnitOfWork], T]) -> T:
        if self.engine.dialect.name != "sqlite":
            with self() as uow:
                return fn(uow)
        uow = UnitOfWork(self._deferred, self.on_enqueue, self.on_people_change)
        try:
            with uow:
                return fn(uow)
        except sa.exc.OperationalError as e:
            # Our reads were overtaken by another writer's commit (SQLite cannot then upgrade to
            # a write): nothing of ours was committed, so the work is done again, holding the lock.
            if uow.commits or not _is_busy(e):
                raise
        with self() as uow:
            return fn(uow)


def read_uow(factory: Callable[[], UnitOfWork]) -> UnitOfWork:
    """A unit of work for reading only, from a ``UowFactory`` (any factory: a plain one writes)."""
    read = getattr(factory, "read", None)
    return read() if read is not None else factory()


def _is_busy(e: sa.exc.OperationalError) -> bool:
    code = getattr(e.orig, "sqlite_errorcode", None)
    return code in (5, 517) or "database is locked" in str(e.orig)  # SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT


def uow_factory(
    engine: Engine, on_enqueue: Callable[[], None] | None = None, on_people_change: Callable[[], None] | None = None
) -> UowFactory:
    return UowFactory(engine, on_enqueue, on_people_change)
