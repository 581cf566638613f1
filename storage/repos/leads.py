from __future__ import annotations

from typing import Iterable, Sequence

from sqlmodel import col, func, or_, select

from storage.models import Lead, LeadTouch
from storage.repos.base import Repo


class LeadsRepo(Repo):
    def get(self, lead_id: int) -> Lead | None:
        return self.session.get(Lead, lead_id)

    def get_for_update(self, lead_id: int) -> Lead | None:
        return self.session.exec(select(Lead).where(Lead.id == lead_id).with_for_update()).first()

    def by_crm_id(self, crm_id: str) -> Lead | None:
        return self.session.exec(select(Lead).where(Lead.crm_id == crm_id)).first()

    def find(self, ref: str, limit: int = 10) -> Sequence[Lead]:
        """Leads matching what a person typed: a CRM id or an email (case-insensitive)."""
        ref = ref.strip()
        return self.session.exec(
            select(Lead)
            .where(or_(Lead.crm_id == ref, func.lower(Lead.email) == ref.lower()))
            .order_by(Lead.id)
            .limit(limit)
        ).all()

    def ids_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, int]:
        crm_ids = set(crm_ids)
        if not crm_ids:
            return {}
        rows = self.session.exec(select(Lead.crm_id, Lead.id).where(col(Lead.crm_id).in_(crm_ids)))
        return {c: i for c, i in rows}

    def many_by_crm_id(self, crm_ids: Iterable[str]) -> dict[str, Lead]:
        crm_ids = set(crm_ids)
        if not crm_ids:
            return {}
        return {l.crm_id: l for l in self.session.exec(select(Lead).where(col(Lead.crm_id).in_(crm_ids)))}

    def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        self.session.flush()
        return lead

    def add_touch(self, touch: LeadTouch) -> LeadTouch:
        self.session.add(touch)
        self.session.flush()
        return touch

    def touches(self, lead_id: int) -> Sequence[LeadTouch]:
        return self.session.exec(
            select(LeadTouch).where(LeadTouch.lead_id == lead_id).order_by(LeadTouch.occurred_at)
        ).all()
