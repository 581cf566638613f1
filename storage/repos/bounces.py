from __future__ import annotations

from typing import Sequence

from sqlmodel import select

from storage.models import Bounce
from storage.repos.base import Repo


class BouncesRepo(Repo):
    def get(self, bounce_id: int) -> Bounce | None:
        return self.session.get(Bounce, bounce_id)

    def for_lead(self, lead_id: int) -> Sequence[Bounce]:
        return self.session.exec(select(Bounce).where(Bounce.lead_id == lead_id).order_by(Bounce.at)).all()

    def add(self, bounce: Bounce) -> Bounce:
        self.session.add(bounce)
        self.session.flush()
        return bounce
