from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


class Repo:
    def __init__(self, session: Session):
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def insert_ignore(self, table: sa.Table, rows: Sequence[dict], returning: Any | None = None):
        """INSERT .. ON CONFLICT DO NOTHING for many rows in one statement.

        Returns the ``returning`` column of the rows actually inserted (when given)."""
        if not rows:
            return []
        ins = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        stmt = ins.values(list(rows)).on_conflict_do_nothing()
        if returning is not None:
            stmt = stmt.returning(returning)
            return [r[0] for r in self.session.execute(stmt)]
        self.session.execute(stmt)
        return []

    def upsert(self, table: sa.Table, rows: Sequence[dict], index: Iterable[str], update: Iterable[str]):
        """INSERT .. ON CONFLICT (index) DO UPDATE SET the ``update`` columns, in one statement."""
        if not rows:
            return
        ins = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
        stmt = ins.values(list(rows))
        cols = list(update)
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(index), set_={c: getattr(stmt.excluded, c) for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(index))
        self.session.execute(stmt)
