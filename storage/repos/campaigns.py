from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlmodel import col, func, or_, select

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

    def touches_for(self, *, lead_ids: Iterable[int], emails: Iterable[str], until: datetime) -> list[CampaignTouch]:
        """Touches of any of these leads or contact emails at or before ``until``, oldest first,
        in one query (attribution of a batch of deals)."""
        lead_ids, emails = set(lead_ids), {e.lower() for e in emails if e}
        conds = []
        if lead_ids:
            conds.append(col(CampaignTouch.lead_id).in_(lead_ids))
        if emails:
            conds.append(col(CampaignTouch.contact_email).in_(emails))
        if not conds:
            return []
        q = (select(CampaignTouch).where(or_(*conds), CampaignTouch.occurred_at <= until)
             .order_by(col(CampaignTouch.occurred_at), col(CampaignTouch.id)))
        return list(self.session.exec(q))

    def find(self, ref: str) -> Campaign | None:
        """The campaign a person named: its CRM id, else its name (case-insensitive)."""
        ref = ref.strip()
        if not ref:
            return None
        found = self.by_crm_id(ref)
        if found is None:
            found = self.session.exec(
                select(Campaign).where(func.lower(Campaign.name) == ref.lower()).order_by(col(Campaign.id))
            ).first()
        return found
