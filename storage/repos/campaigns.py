from __future__ import annotations

from typing import Iterable

from sqlmodel import col, select

from storage.models import Campaign, CampaignTouch
from storage.repos.base import Repo


class CampaignsRepo(Repo):
    def get(self, campaign_id: int) -> Campaign | None:
        return self.session.get(Campaign, campaign_id)

    def by_crm_id(self, crm_id: str) -> Campaign | None:
        return self.session.exec(select(Campaign).where(Campaign.crm_id == crm_id)).first()

    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]:
        crm_ids = set(crm_ids)
        if not crm_ids:
            return {}
        rows = self.session.exec(select(Campaign.crm_id, Campaign.id).where(col(Campaign.crm_id).in_(crm_ids)))
        return {c: i for c, i in rows}

    def many(self, ids: Iterable[int]) -> dict[int, Campaign]:
        ids = list(set(ids))
        if not ids:
            return {}
        return {c.id: c for c in self.session.exec(select(Campaign).where(col(Campaign.id).in_(ids)))}

    def upsert_many(self, rows: list[dict]) -> None:
        self.upsert(Campaign.__table__, rows, ["crm_id"], [k for k in rows[0] if k != "crm_id"] if rows else [])

    def add(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        self.session.flush()
        return campaign

    def add_touches(self, rows: list[dict]) -> None:
        """Insert touches in one statement; a touch id seen before is ignored."""
        self.insert_ignore(CampaignTouch.__table__, rows)
