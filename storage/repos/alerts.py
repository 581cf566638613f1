from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from storage.models import Outbox
from storage.repos.base import Repo, table_of


@dataclass(frozen=True)
class LadderStep:
    """One cooling-ladder step that fired for a lead in an SLA window."""

    key: str
    lead_id: int
    window: int
    step: str
    created_at: datetime


LADDER = ("warn", "breach", "manager", "channel")


class AlertsRepo(Repo):
    """The cooling ladder's steps, read from the outbox.

    A ladder step is the post queued under ``cooling:{lead}:{window}:{step}``: the outbox's
    unique key is what makes it fire once per window, so no table of its own is kept (one
    insert and three index entries fewer per alert)."""

    def for_lead(self, lead_id: int) -> list[LadderStep]:
        """A lead's ladder steps, oldest first (the handoff DM is not one)."""
        t = table_of(Outbox)
        prefix = f"cooling:{int(lead_id)}:"
        rows = self.session.execute(
            sa.select(t.c.key, t.c.created_at)
            .where(t.c.key.startswith(prefix, autoescape=True), t.c.op == "post")
            .order_by(t.c.id)
        )
        steps = []
        for key, created_at in rows:
            window, _, step = key[len(prefix) :].partition(":")
            if step in LADDER or step.startswith("snooze") and step[6:].isdigit():
                steps.append(LadderStep(key=key, lead_id=lead_id, window=int(window), step=step, created_at=created_at))
        return steps
