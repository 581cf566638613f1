"""Safe to upgrade (issue 12, item 9).

- The migrations make exactly the models' schema (Alembic's full comparison finds nothing), on
  SQLite and PostgreSQL.
- A database filled at any released revision (each in ``storage/migrations/versions``, oldest
  first) is upgraded to head with its rows intact: later revisions are exercised as they are added.
- A database whose schema differs from the models while it claims to be at head (what a
  pre-release build made) is refused on start and by ``python -m bot migrate``, with a message
  that names the differences and says what to do, and is left as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import alembic_config, make_engine, migrate
from storage.schema import SchemaMismatch, quick_differences, thorough_differences
from tests.conftest import ROOT

SCRATCH_SCHEMA = "smarketing_upgrade_check"


def revisions() -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_the_first_release_is_revision_0001_and_it_is_never_regenerated():
    assert revisions()[0] == "0001"
    assert not (ROOT / "storage" / "migrations" / "regen_initial.py").exists()


def test_the_migrations_make_exactly_the_models_schema(engine):
    """``engine`` is the suite's database, built by running every migration."""
    with engine.connect() as conn:
        assert thorough_differences(conn) == []


@pytest.fixture
def scratch(database_url, tmp_path) -> Iterator[tuple[str, sa.Engine]]:
    """An empty database of the suite's kind (a new SQLite file, or a schema of its own on
    PostgreSQL, chosen by search_path): (its URL, an engine on it)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/scratch.db"
        engine = make_engine(url)
        yield url, engine
        engine.dispose()
        return
    admin = make_engine(database_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
    sep = "&" if "?" in database_url else "?"
    url = f"{database_url}{sep}options=-csearch_path%3D{SCRATCH_SCHEMA}"
    engine = make_engine(url)
    yield url, engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
    admin.dispose()


def upgrade_to(engine: sa.Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# --- rows in every table -------------------------------------------------------------------------


def _value(column: sa.Column, col_type, n: int, fks: dict[str, str]):
    """A value of the column's type for row ``n`` (1 or 2), distinct between rows."""
    if column.name in fks:
        return n  # row n of the referenced table, inserted before this one
    t = col_type.impl if isinstance(col_type, sa.TypeDecorator) else col_type
    if isinstance(t, sa.Boolean):
        return n == 1
    if isinstance(t, sa.Integer):
        return n
    if isinstance(t, sa.DateTime):
        return datetime(2026, 1, 10 + n, 9, 30, tzinfo=timezone.utc)
    if isinstance(t, sa.Date):
        return date(2026, 1, 10 + n)
    if isinstance(t, sa.Time):
        return time(8, 15 * n)
    if isinstance(t, sa.Numeric):
        return Decimal(f"{n}.50")
    if isinstance(t, sa.JSON):
        return {"row": n, "tags": ["a", "b"], "nested": {"ok": True}}
    if isinstance(t, sa.LargeBinary):
        return bytes([0, 255, n]) * 4
    if isinstance(t, sa.String):
        text = f"{column.name}-{n}-ä"
        return text[: t.length] if t.length else text
    raise AssertionError(f"no sample value for {column.table.name}.{column.name} ({col_type!r}): add one here")


def fill_every_table(conn) -> dict[str, list[dict]]:
    """Two rows in every table the database has (as it is at its revision), written with the
    models' column types where the models still have the column. Returns what was written."""
    reflected = sa.MetaData()
    reflected.reflect(conn)
    written: dict[str, list[dict]] = {}
    for table in reflected.sorted_tables:
        if table.name == "alembic_version":
            continue
        model = SQLModel.metadata.tables.get(table.name)
        columns = []
        for col in table.columns:
            typed = model.c[col.name].type if model is not None and col.name in model.c else col.type
            columns.append(sa.Column(col.name, typed))
        target = sa.Table(table.name, sa.MetaData(), *columns)
        fks = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys}
        rows = [{c.name: _value(table.c[c.name], c.type, n, fks) for c in columns} for n in (1, 2)]
        conn.execute(sa.insert(target), rows)
        written[table.name] = rows
    return written


def read_back(conn, written: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The rows again, read with the models' types, by id, in the columns the models still have."""
    out = {}
    for name, rows in written.items():
        table = SQLModel.metadata.tables[name]
        cols = [table.c[k] for k in rows[0] if k in table.c]
        got = conn.execute(sa.select(*cols).order_by(*table.primary_key.columns)).mappings().all()
        out[name] = [dict(r) for r in got]
    return out


@pytest.mark.parametrize("revision", revisions())
def test_a_database_filled_at_a_released_revision_is_upgraded_to_head_with_its_rows_intact(scratch, revision):
    _, engine = scratch
    upgrade_to(engine, revision)
    with engine.begin() as conn:
        written = fill_every_table(conn)
    assert set(written) >= {"person", "lead", "deal", "outbox"}  # every table, as it was then
    migrate(engine)  # to head, with the start-up schema check
    with engine.connect() as conn:
        after = read_back(conn, written)
        assert thorough_differences(conn) == []
    for name, rows in written.items():
        expected = [{k: v for k, v in row.items() if k in SQLModel.metadata.tables[name].c} for row in rows]
        assert after[name] == expected, name


# --- a database made by a pre-release build ------------------------------------------------------


def make_prerelease(engine: sa.Engine) -> None:
    """What a pre-release build's 0001 made: the lead table without ``handoff_due_at`` and its
    open-leads index, stamped as 0001 all the same."""
    upgrade_to(engine, "head")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_lead_open"))
        # (and a later revision's index over the column, which a pre-release build lacked too)
        conn.execute(sa.text("DROP INDEX IF EXISTS ix_lead_scoreboard"))
        conn.execute(sa.text("ALTER TABLE lead DROP COLUMN handoff_due_at"))


def run_bot(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env.update(DATABASE_URL=url, PORT="0", LOCAL_WORKSPACE="false", SCHEDULER="false")
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_start_up_refuses_a_database_made_by_a_pre_release_build_and_says_what_to_do(scratch):
    url, engine = scratch
    make_prerelease(engine)
    with pytest.raises(SchemaMismatch) as err:
        migrate(engine)
    text = str(err.value)
    assert "table lead: column handoff_due_at is missing" in text
    assert "table lead: index ix_lead_open is missing" in text
    assert "pre-release build" in text and "Back it up" in text and "new database" in text
    with engine.connect() as conn:  # left as it was
        assert "table lead: column handoff_due_at is missing" in quick_differences(conn)

    served = run_bot(url)  # `python -m bot`: refused before serving
    assert served.returncode == 2, served.stderr[-2000:]
    assert "column handoff_due_at is missing" in served.stderr and "Back it up" in served.stderr
    migrated = run_bot(url, "migrate")
    assert migrated.returncode == 2
    assert "column handoff_due_at is missing" in migrated.stderr and "index ix_lead_open" in migrated.stderr


def test_migrate_reports_a_database_that_matches(scratch):
    url, _ = scratch
    done = run_bot(url, "migrate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"revision {revisions()[-1]}" in done.stdout and "schema matches" in done.stdout


def test_the_start_up_check_is_cheap(engine):
    import time

    with engine.connect() as conn:
        quick_differences(conn)  # warm
        started = time.perf_counter()
        for _ in range(5):
            assert quick_differences(conn) == []
        per_check = (time.perf_counter() - started) / 5
    assert per_check < 0.25, per_check
