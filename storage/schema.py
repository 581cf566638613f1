"""Does the database's schema match the models? Checked on every start, after migrating.

Alembic records only a revision id. A database made by a pre-release build (whose first revision
was regenerated in place) says it is at ``0001`` yet lacks columns, and the first query that
needs one fails with ``no such column`` in the middle of the night. So after ``upgrade head``
the tables, columns (and their nullability), indexes and unique constraints the models declare
are compared with the database's catalog: a few catalog queries, a few ms on both databases
(``quick``). ``python -m bot migrate`` runs Alembic's full comparison too (types, defaults and
the rest: ``thorough``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables

ALEMBIC_TABLE = "alembic_version"


class SchemaMismatch(Exception):
    """The database does not match this version's schema; ``str(e)`` says how and what to do."""

    def __init__(self, where: str, differences: list[str], revision: str | None):
        self.differences = differences
        self.revision = revision
        shown = "\n".join(f"  - {d}" for d in differences[:40])
        more = f"\n  … and {len(differences) - 40} more" if len(differences) > 40 else ""
        super().__init__(
            f"The database {where} is marked as migrated to revision {revision or '(none)'}, but its schema is not "
            f"the one this version of Smarketing Bot expects:\n{shown}{more}\n"
            "This is a database made by a pre-release build, whose first revision was different from the released "
            "one (or one changed by hand). Back it up, then start from a new database — a new SQLite file "
            "(DATABASE_URL=sqlite:///./new.db) or an empty PostgreSQL database: the bot creates the tables on "
            "start — and have your CRM send its events again. `python -m bot migrate` lists every difference."
        )


def _expected() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for table in SQLModel.metadata.sorted_tables:
        uniques = {
            tuple(c.name for c in con.columns) for con in table.constraints if isinstance(con, sa.UniqueConstraint)
        }
        uniques |= {(c.name,) for c in table.columns if c.unique}
        out[table.name] = {
            "columns": {c.name: bool(c.nullable) for c in table.columns},
            "indexes": {ix.name: (tuple(c.name for c in ix.columns), bool(ix.unique)) for ix in table.indexes},
            "uniques": uniques,
        }
    return out


def quick_differences(conn: Connection) -> list[str]:
    """Tables, columns, nullability, indexes and unique constraints: what the models declare and
    the database lacks, or has besides."""
    insp = sa.inspect(conn)
    expected = _expected()
    actual_tables = set(insp.get_table_names()) - {ALEMBIC_TABLE}
    found: list[str] = []
    for name in sorted(set(expected) - actual_tables):
        found.append(f"table {name} is missing")
    for name in sorted(actual_tables - set(expected)):
        found.append(f"table {name} is not in this version's schema")
    tables = sorted(set(expected) & actual_tables)
    if not tables:
        return found
    columns = {key[1]: cols for key, cols in insp.get_multi_columns(filter_names=tables).items()}
    indexes = {key[1]: ixs for key, ixs in insp.get_multi_indexes(filter_names=tables).items()}
    uniques = {key[1]: cons for key, cons in insp.get_multi_unique_constraints(filter_names=tables).items()}
    for name in tables:
        want = expected[name]
        have_cols = {c["name"]: bool(c["nullable"]) for c in columns.get(name, [])}
        for col in sorted(set(want["columns"]) - set(have_cols)):
            found.append(f"table {name}: column {col} is missing")
        for col in sorted(set(have_cols) - set(want["columns"])):
            found.append(f"table {name}: column {col} is not in this version's schema")
        for col in sorted(set(want["columns"]) & set(have_cols)):
            if want["columns"][col] != have_cols[col]:
                found.append(
                    f"table {name}: column {col} is {'NULL' if have_cols[col] else 'NOT NULL'}, "
                    f"expected {'NULL' if want['columns'][col] else 'NOT NULL'}"
                )
        have_ix = {
            ix_name: (tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in indexes.get(name, [])
            if (ix_name := ix.get("name"))
        }
        # an expression index reports None for its expression's column name
        have_uq: set[tuple[str | None, ...]] = {tuple(u["column_names"]) for u in uniques.get(name, [])}
        # A unique index and a unique constraint are the same promise; databases report them apart.
        have_uq |= {cols for cols, unique in have_ix.values() if unique}
        for ix in sorted(set(want["indexes"]) - set(have_ix)):
            found.append(f"table {name}: index {ix} is missing")
        for ix in sorted(set(have_ix) - set(want["indexes"])):
            if not (have_ix[ix][1] and have_ix[ix][0] in want["uniques"]):
                found.append(f"table {name}: index {ix} is not in this version's schema")
        for ix in sorted(set(want["indexes"]) & set(have_ix)):
            if want["indexes"][ix] != have_ix[ix]:
                found.append(
                    f"table {name}: index {ix} is on {have_ix[ix][0]}"
                    f"{' (unique)' if have_ix[ix][1] else ''}, expected {want['indexes'][ix][0]}"
                    f"{' (unique)' if want['indexes'][ix][1] else ''}"
                )
        for cols in sorted(want["uniques"] - have_uq):
            found.append(f"table {name}: the unique constraint on {', '.join(cols)} is missing")
    return found


def thorough_differences(conn: Connection) -> list[str]:
    """Alembic's own comparison (``alembic check``): types, server defaults, indexes and their
    conditions as far as Alembic compares them, foreign keys; plus ``quick_differences``."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    found = [describe(d) for d in compare_metadata(context, SQLModel.metadata)]
    return found + [d for d in quick_differences(conn) if d not in found]


def describe(diff) -> str:
    """One of Alembic's diff tuples (or lists of them) as a sentence."""
    if isinstance(diff, list):
        return "; ".join(describe(d) for d in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"table {diff[1].name} is missing"
    if kind == "remove_table":
        return f"table {diff[1].name} is not in this version's schema"
    if kind == "add_column":
        return f"table {diff[2]}: column {diff[3].name} is missing"
    if kind == "remove_column":
        return f"table {diff[2]}: column {diff[3].name} is not in this version's schema"
    if kind in ("add_index", "remove_index"):
        ix = diff[1]
        state = "is missing" if kind == "add_index" else "is not in this version's schema"
        return f"table {ix.table.name}: index {ix.name} {state}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        con = diff[1]
        state = "is missing" if kind.startswith("add") else "is not in this version's schema"
        return f"table {con.table.name}: constraint {con.name or tuple(c.name for c in con.columns)} {state}"
    if kind.startswith("modify_"):
        _, _, table, column, _, before, after = diff
        return f"table {table}: column {column} has {kind[7:]} {before!r}, expected {after!r}"
    return f"{kind}: {diff[1:]}"


def current_revision(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()
