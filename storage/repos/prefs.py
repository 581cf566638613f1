from __future__ import annotations

from typing import Iterable

from sqlmodel import select

from storage.models import DeliveryPref
from storage.repos.base import Repo


class PrefsRepo(Repo):
    """Each person's delivery preferences (``DeliveryPref``); no row: the config's defaults."""

    def get(self, person_id: int) -> DeliveryPref | None:
        return self.session.get(DeliveryPref, person_id)

    def many(self, person_ids: Iterable[int]) -> dict[int, DeliveryPref]:
        """The preferences of these people who have any, by person id, in one query."""
        ids = list(set(person_ids))
        if not ids:
            return {}
        rows = self.session.exec(select(DeliveryPref).where(self.one_of(DeliveryPref.person_id, ids)))
        return {p.person_id: p for p in rows}

    def get_or_blank(self, person_id: int) -> DeliveryPref:
        """Their preferences, or a blank set (not stored: ``save`` stores it) when they have none."""
        return self.get(person_id) or DeliveryPref(person_id=person_id, muted=[])

    def save(self, pref: DeliveryPref) -> DeliveryPref:
        self.session.add(pref)
        self.session.flush()
        return pref

    def remove(self, person_id: int) -> bool:
        """Back to the config's defaults. False when they had none of their own."""
        pref = self.get(person_id)
        if pref is None:
            return False
        self.session.delete(pref)
        self.session.flush()
        return True
