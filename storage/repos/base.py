from __future__ import annotations

import json
from operator import itemgetter
from datetime import datetime
from typing import Any, Callable, Iterable, Protocol, Sequence, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime


def table_of(model: type[SQLModel]) -> sa.Table:
    """The ``Table`` of a table model (``table=True``), for Core statements (bulk INSERT, upsert,
    UPDATE .. WHERE). SQLModel sets ``__table__`` at class creation but does not declare it, so
    type checkers do not know it: this is the one place that says what it is (an attribute read,
    no inspection at run time)."""
    # SQLAlchemy's declarative mapping sets it; SQLModel's class does not declare it.
    return model.__table__  # type: ignore[attr-defined]


class _Stored(Protocol):
    id: int | None


_S = TypeVar("_S", bound=_Stored)


def by_id(rows: Iterable[_S]) -> dict[int, _S]:
    """``{row.id: row}`` of rows read from the database. A table model's ``id`` is ``int | None``
    (None until the INSERT), but a row read back always has one: the cast says so once, here."""
    return cast("dict[int, _S]", {r.id: r for r in rows})


class Repo:
    def __init__(self, session: Session):
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def statement(self, name: str, build: Callable[[], _T]) -> _T:
        """The statement ``name`` for this session's dialect, built by ``build`` the first time
        only: building a statement often costs as much as running it, and a statement with bound
        parameters can be run again and again (see ``built_once``)."""
        return built_once((self.dialect, name), build)

    def one_of(self, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
        """``column IN (values)`` with the values as one bound parameter: ``IN (SELECT unnest(?))``
        on PostgreSQL, ``IN (SELECT value FROM json_each(?))`` on SQLite; both use the column's index.
        ``.in_(values)`` costs SQLAlchemy a coercion per value and an expansion into a parameter
        per value on every execution: ~0.7 ms (SQLite) to 5 ms (PostgreSQL) more per 500 values,
        measured on the webhook's id look-ups. Values are ints or strings."""
        return self._one_of(column, lambda type_: sa.bindparam(None, self.one_of_value(values), type_=type_))

    def one_of_param(self, column: Any, name: str) -> sa.ColumnElement[bool]:
        """``one_of`` with a named parameter, for a statement built once: pass the values as
        ``one_of_value(values)`` under ``name``."""
        return self._one_of(column, lambda type_: sa.bindparam(name, type_=type_))

    def one_of_value(self, values: Iterable[Any]) -> Any:
        """The values as ``one_of``'s parameter takes them: a list (PostgreSQL), JSON text (SQLite)."""
        return list(values) if self.dialect == "postgresql" else json.dumps(list(values))

    def _one_of(self, column: Any, param: Callable[[Any], sa.BindParameter]) -> sa.ColumnElement[bool]:
        expr = getattr(column, "expression", column)
        if self.dialect == "postgresql":
            # IN (SELECT unnest(array)), not = ANY(array): with a prepared statement's generic
            # plan (psycopg prepares a query run 5 times) on a table not yet analysed, ANY chose a
            # sequential scan comparing every row with every value (30 ms per 500 values at 3,000
            # leads); the subquery is planned as a join, by index or by hash.
            textual = isinstance(getattr(expr.type, "impl", expr.type), sa.String)
            element = sa.Text() if textual else expr.type  # text[]: a long value never truncated to match
            return expr.in_(sa.select(sa.func.unnest(param(postgresql.ARRAY(element)))))
        return expr.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(param(None))))

    def _expire_loaded(self, model: type, where: Callable[[Any], bool] = lambda obj: True) -> None:
        """Objects of ``model`` loaded in this unit of work (those ``where`` accepts) read their
        values again: for writes that went past the ORM (bulk UPDATE, upsert, executemany)."""
        for obj in list(self.session.identity_map.values()):
            if isinstance(obj, model) and where(obj):
                self.session.expire(obj)

    def ids_by(self, key: Any, values: Iterable[Any]) -> dict[Any, int]:
        """``{value: id}`` of the rows of ``key``'s table whose ``key`` is one of ``values``, in one
        query (absent values are left out)."""
        values = set(values)
        if not values:
            return {}
        expr = getattr(key, "expression", key)
        id_col = expr.table.c.id
        return {v: i for v, i in self.session.execute(sa.select(expr, id_col).where(self.one_of(expr, values)))}

    def _insert(
        self,
        table: sa.Table,
        *,
        index: Iterable[str] | None = None,
        update: Iterable[str] = (),
        returning: Any | None = None,
    ):
        """The INSERT .. ON CONFLICT statement, built once per shape: executed with a list of rows
        (executemany) it compiles once and is cached, where ``.values([...])`` compiled a new
        statement with a parameter per value on every call."""
        index = tuple(index) if index is not None else None
        update = tuple(update)
        key = (self.dialect, table.name, index, update, None if returning is None else str(returning))
        stmt = _STATEMENTS.get(key)
        if stmt is None:
            ins = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
            if update:
                stmt = ins.on_conflict_do_update(
                    index_elements=list(index or ()), set_={c: getattr(ins.excluded, c) for c in update}
                )
            elif index is not None:
                stmt = ins.on_conflict_do_nothing(index_elements=list(index))
            else:
                stmt = ins.on_conflict_do_nothing()
            if returning is not None:
                stmt = stmt.returning(returning)
            _STATEMENTS[key] = stmt
        return stmt

    def insert_ignore(self, table: sa.Table, rows: Sequence[dict], returning: Any | None = None):
        """INSERT .. ON CONFLICT DO NOTHING for many rows at once (every row has the same keys).

        Returns the ``returning`` column of the rows actually inserted (when given)."""
        if not rows:
            return []
        rows = list(rows)
        if returning is None and self.dialect == "sqlite" and self._sqlite_insert(table, rows) is not None:
            return []
        stmt = self._insert(table, returning=returning)
        if returning is not None:
            return [r[0] for r in self.session.execute(stmt, rows)]
        self.session.execute(stmt, rows)
        return []

    def _sqlite_insert(
        self,
        table: sa.Table,
        rows: list[dict],
        index: Iterable[str] | None = None,
        update: Iterable[str] = (),
        returning: str | None = None,
    ) -> int | list | None:
        """INSERT .. ON CONFLICT DO NOTHING (or DO UPDATE the ``update`` columns) as one driver-level
        executemany, each value through its column type's bind processor: SQLAlchemy's own
        executemany spends ~10 µs a row building parameters, several times the insert itself.
        Returns how many rows were inserted or updated; with ``returning`` (one row only: an
        executemany returns no rows), that column of the row if it was inserted: ``[value]`` or
        ``[]``. Only when the rows name every column that has a Python-side default (those are
        SQLAlchemy's to fill in); None otherwise, and the caller takes the usual path."""
        cols = list(rows[0])
        given = set(cols)
        if any(c.default is not None and c.name not in given for c in table.columns):
            return None
        dialect = self.session.get_bind().dialect
        quote = dialect.identifier_preparer.quote
        # Only the columns whose type converts values; None is passed through as NULL except for
        # JSON, which SQLAlchemy stores as the JSON text 'null'.
        convert = [
            (
                i,
                _sqlite_utc_text if isinstance(table.c[c].type, UTCDateTime) else proc,
                isinstance(table.c[c].type, sa.JSON),
            )
            for i, c in enumerate(cols)
            if (proc := table.c[c].type._cached_bind_processor(dialect)) is not None
        ]
        update = list(update)
        if update:
            conflict = f"ON CONFLICT ({', '.join(quote(c) for c in index or ())}) DO UPDATE SET " + ", ".join(
                f"{quote(c)} = excluded.{quote(c)}" for c in update
            )
        elif index is not None:
            conflict = f"ON CONFLICT ({', '.join(quote(c) for c in index)}) DO NOTHING"
        else:
            conflict = "ON CONFLICT DO NOTHING"
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
            f"VALUES ({', '.join('?' * len(cols))}) {conflict}"
        )
        get = itemgetter(*cols)
        params = []
        for r in rows:
            values = list(get(r)) if len(cols) > 1 else [r[cols[0]]]
            for i, proc, keep_none in convert:
                v = values[i]
                if v is not None or keep_none:
                    values[i] = proc(v)
            params.append(tuple(values))
        if returning is not None:
            assert len(params) == 1, "RETURNING needs one row"
            sql += f" RETURNING {quote(returning)}"
            return list(self.session.connection().exec_driver_sql(sql, params[0]).scalars())
        return self.session.connection().exec_driver_sql(sql, params).rowcount

    def insert_ignore_bulk(self, table: sa.Table, rows: Sequence[dict], returning: Any | None = None) -> list:
        """``insert_ignore`` for hundreds of rows at a time (every row has the same keys).

        On PostgreSQL the rows travel as one JSON document expanded by ``jsonb_to_recordset``:
        one parameter instead of one per value, and no per-element escaping of text arrays
        (measured ~4x faster than multi-row VALUES for 1,000 outbox rows)."""
        if not rows:
            return []
        if self.dialect != "postgresql":
            return self.insert_ignore(table, rows, returning=returning)
        return self._pg_recordset_insert(table, rows, "ON CONFLICT DO NOTHING", returning=returning)

    def insert_unseen(self, table: sa.Table, rows: Sequence[dict], key: str, where: Sequence[Any] = ()) -> set:
        """Insert the rows whose ``key`` (a unique column, alone or with the ``where`` conditions)
        is not stored yet; returns the keys inserted. SQLite has one writer, holding the lock
        since the unit of work's BEGIN IMMEDIATE, so "which are stored, then insert the rest"
        cannot race there, and a plain executemany is several times cheaper than INSERT ..
        RETURNING; elsewhere ON CONFLICT DO NOTHING RETURNING keeps each key once."""
        rows = list(rows)
        if not rows:
            return set()
        column = table.c[key]
        if self.dialect != "sqlite":
            return set(self.insert_ignore_bulk(table, rows, returning=column))
        if len(rows) == 1:  # the common case (a message, an event): one statement, not two
            inserted = self._sqlite_insert(table, rows, returning=key)
            if isinstance(inserted, list):
                return set(inserted)
        stored = set(
            self.session.execute(sa.select(column).where(*where, self.one_of(column, [r[key] for r in rows]))).scalars()
        )
        fresh = [r for r in rows if r[key] not in stored]
        self.insert_ignore(table, fresh)
        return {r[key] for r in fresh}

    def _pg_recordset_insert(
        self, table: sa.Table, rows: Sequence[dict], conflict: str, returning: Any | None = None
    ) -> list:
        """INSERT .. SELECT FROM jsonb_to_recordset(one JSON document of the rows) .. ``conflict``:
        one statement, where an executemany is a statement per row."""
        dialect = self.session.get_bind().dialect
        quote = dialect.identifier_preparer.quote
        names = [quote(n) for n in rows[0]]
        shape = ", ".join(f"{quote(n)} {table.c[n].type.compile(dialect=dialect)}" for n in rows[0])
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(names)}) "
            f"SELECT {', '.join(names)} FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({shape}) {conflict}"
        )
        if returning is not None:
            sql += f" RETURNING {quote(returning.name)}"
        document = json.dumps(list(rows), default=_json_default)
        result = self.session.execute(sa.text(sql), {"rows": document})
        return [r[0] for r in result] if returning is not None else []

    def upsert(self, table: sa.Table, rows: Sequence[dict], index: Iterable[str], update: Iterable[str]):
        """INSERT .. ON CONFLICT (index) DO UPDATE SET the ``update`` columns, for many rows at once
        (every row has the same keys). Two rows with the same ``index`` values: the later wins."""
        if not rows:
            return
        index, update = list(index), list(update)
        key = itemgetter(*index)
        rows = list({key(r): r for r in rows}.values())  # one statement may not update a row twice
        if self.dialect == "sqlite" and self._sqlite_insert(table, rows, index=index, update=update) is not None:
            return
        if (
            self.dialect == "postgresql"
            and update
            and not any(c.default is not None and c.name not in rows[0] for c in table.columns)
        ):
            # One statement for the batch (PostgreSQL's executemany is a statement per row:
            # 500 lead rows took ~14 ms that way, ~5 ms this way).
            quote = self.session.get_bind().dialect.identifier_preparer.quote
            conflict = f"ON CONFLICT ({', '.join(quote(c) for c in index)}) DO UPDATE SET " + ", ".join(
                f"{quote(c)} = excluded.{quote(c)}" for c in update
            )
            self._pg_recordset_insert(table, rows, conflict)
            return
        self.session.execute(self._insert(table, index=index, update=update), rows)


_STATEMENTS: dict[tuple, Any] = {}
_T = TypeVar("_T")


def built_once(key: tuple, build: Callable[[], _T]) -> _T:
    """``build()``'s statement, made on the first call for ``key`` and kept for the life of the
    process (the keys are a fixed, small set: a dialect and a statement's name or shape)."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _sqlite_utc_text(value: datetime) -> str:
    """What SQLModel's ``UTCDateTime`` and SQLite's ``DATETIME`` bind processors make of an aware
    datetime (``2026-11-23 15:00:00.000000``, in UTC), in one step: a third of their time."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("timestamps must be timezone-aware")
    if offset:
        value = value - offset
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a bulk insert")
