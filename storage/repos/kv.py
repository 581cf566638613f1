from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from storage.models import KeyValue
from storage.repos.base import Repo, table_of


class KeyValueRepo(Repo):
    def get(self, key: str, default: dict | None = None) -> dict | None:
        row = self.session.get(KeyValue, key)
        return dict(row.value) if row else default

    def get_for_update(self, key: str, default: dict) -> dict:
        """The value (``default`` when there is none yet, stored as such), locked until the
        transaction ends: for read-modify-write that two requests may do at once. On PostgreSQL
        the second waits for the first to commit and then reads its value; SQLite has one writer."""
        t = table_of(KeyValue)
        self.insert_ignore(t, [dict(key=key, value=default, updated_at=datetime.now(timezone.utc))])
        q = sa.select(t.c.value).where(t.c.key == key)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        return dict(self.session.execute(q).scalar_one())

    def set(self, key: str, value: dict) -> None:
        """Store the value (insert or update in one statement: two first writers never collide)."""
        self.session.flush()
        self.upsert(
            table_of(KeyValue),
            [dict(key=key, value=value, updated_at=datetime.now(timezone.utc))],
            ["key"],
            ["value", "updated_at"],
        )
        row = self.session.identity_map.get(self.session.identity_key(KeyValue, key))
        if row is not None:
            self.session.expire(row)  # read again, with the new value
