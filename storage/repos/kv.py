from __future__ import annotations

from datetime import datetime, timezone

from storage.models import KeyValue
from storage.repos.base import Repo


class KeyValueRepo(Repo):
    def get(self, key: str, default: dict | None = None) -> dict | None:
        row = self.session.get(KeyValue, key)
        return dict(row.value) if row else default

    def set(self, key: str, value: dict) -> None:
        row = self.session.get(KeyValue, key)
        now = datetime.now(timezone.utc)
        if row is None:
            self.session.add(KeyValue(key=key, value=value, updated_at=now))
        else:
            row.value = value
            row.updated_at = now
            self.session.add(row)
        self.session.flush()
