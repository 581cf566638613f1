from __future__ import annotations

from sqlmodel import select

from storage.models import Deal
from storage.repos.base import Repo


class DealsRepo(Repo):
    def get(self, deal_id: int) -> Deal | None:
        return self.session.get(Deal, deal_id)

    def by_crm_id(self, crm_id: str) -> Deal | None:
        return self.session.exec(select(Deal).where(Deal.crm_id == crm_id)).first()

    def add(self, deal: Deal) -> Deal:
        self.session.add(deal)
        self.session.flush()
        return deal
