"""The demo company keeps living: what its people do while simulated time moves.

Each step (``CompanyLife.step(container, start, end)``) plays what happened between ``start`` and
``end`` through the product's own paths, as the people and the CRM would have:

- marketing hands ``new_leads_per_day`` new leads to sales each working day (CRM events), now and
  then one without an owner, which a rep claims from ``#sales`` a while later;
- each rep has a follow-up round once a working day (mostly in the morning, sometimes late in the
  afternoon, rarely skipped): every open lead of theirs not followed up that day gets a
  ``/smarketing touch``; a lead new to them is followed up soon after it arrives, mostly within the
  hour, sometimes only at the next round;
- a deal closes most working days (``deal.closed_won`` on one of the demo leads);
- a rep bounces a lead back to marketing every few days, and a marketer acknowledges it later.

Every decision comes from a random generator seeded by ``seed`` and the thing decided about (the
rep and the day, the lead), so a run is the same every time, whatever the step size.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.commands import run_action, run_command
from handlers.messages import Actions, Message
from handlers.ports import Actor
from handlers.registry import MessageRef

log = logging.getLogger(__name__)

NOTES = [
    "Intro call booked",
    "Left a voicemail, sent a recap email",
    "Discovery call done",
    "Sent pricing and a case study",
    "Demo booked for next week",
    "Emailed, waiting on an answer",
]


@dataclass
class LifeStats:
    """What the company did in a step (and, summed, in a whole run)."""

    leads: int = 0
    follow_ups: int = 0
    claims: int = 0
    deals: int = 0
    bounces: int = 0
    acknowledged: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # what the product refused, by command

    def add(self, other: "LifeStats") -> None:
        for name in ("leads", "follow_ups", "claims", "deals", "bounces", "acknowledged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.refused.items():
            self.refused[k] = self.refused.get(k, 0) + v


class CompanyLife:
    def __init__(
        self,
        seed: int = 7,
        *,
        new_leads_per_day: int = 3,
        unowned_share: float = 0.1,
        late_share: float = 0.2,
        skip_share: float = 0.05,
        deal_share: float = 0.8,
        bounce_every_days: float = 2.0,
    ):
        self.seed = seed
        self.new_leads_per_day = new_leads_per_day
        self.unowned_share = unowned_share
        self.late_share = late_share
        self.skip_share = skip_share
        self.deal_share = deal_share
        self.bounce_every_days = bounce_every_days

    # -- deterministic choices ----------------------------------------------------------------
    def _rng(self, *what) -> random.Random:
        return random.Random(f"{self.seed}:" + ":".join(str(w) for w in what))

    def _round_time(self, person_key: str, day: date) -> time | None:
        """When this rep follows up their leads on ``day`` (local time), or None (skipped)."""
        rng = self._rng("round", person_key, day.isoformat())
        roll = rng.random()
        if roll < self.skip_share:
            return None
        if roll < self.skip_share + self.late_share:
            return time(15, rng.randrange(0, 60, 5))  # late: mid-afternoon
        return time(9, 30) if rng.random() < 0.3 else time(rng.choice([9, 10, 11]), rng.randrange(0, 60, 5))

    def _first_response(self, lead_id: int) -> timedelta | None:
        """How long a rep takes to get to a lead new to them (None: at the next round)."""
        roll = self._rng("first", lead_id).random()
        if roll < 0.7:
            return timedelta(minutes=10 + int(roll * 60))
        if roll < 0.9:
            return timedelta(minutes=60 + int(roll * 60))
        return None

    # -- one step -------------------------------------------------------------------------------
    def step(self, container, start: datetime, end: datetime) -> LifeStats:
        stats = LifeStats()
        config = container.config
        sales_tz = ZoneInfo(config.team_timezone("sales"))
        for day in _days(start, end, sales_tz):
            if day.weekday() >= 5:
                continue
            self._crm_day(container, day, start, end, sales_tz, stats)
        for person in _reps(container):
            self._rep(container, person, start, end, stats)
        self._claims(container, start, end, stats)
        self._acknowledge(container, start, end, stats)
        return stats

    def _crm_day(self, container, day: date, start: datetime, end: datetime, tz: ZoneInfo, stats: LifeStats) -> None:
        from bot.local import demo_data

        rng = self._rng("crm", day.isoformat())
        for _i in range(self.new_leads_per_day):
            at = datetime.combine(day, time(9, 0), tz) + timedelta(minutes=rng.randrange(0, 7 * 60, 5))
            unowned = rng.random() < self.unowned_share
            if start < at <= end:
                events = demo_data.lead_events(container)
                if unowned:
                    events[-1]["data"]["owner_email"] = None
                demo_data.feed(container, events)
                stats.leads += 1
        deal_at = datetime.combine(day, time(11, 0), tz) + timedelta(minutes=rng.randrange(0, 5 * 60, 5))
        if rng.random() < self.deal_share and start < deal_at <= end:
            demo_data.feed(container, [demo_data.deal_event(container)])
            stats.deals += 1

    def _rep(self, container, person, start: datetime, end: datetime, stats: LifeStats) -> None:
        tz = ZoneInfo(person.timezone)
        actor = Actor(person.id, "local")
        now = end
        with container.uow_factory() as uow:
            leads, _ = uow.leads.qualified_for_owner(person.id, limit=500)
        if not leads:
            return
        today = now.astimezone(tz).date()
        round_at = self._round_time(person.key, today) if today.weekday() < 5 else None
        round_now = round_at is not None and start < datetime.combine(today, round_at, tz) <= end
        in_hours = today.weekday() < 5 and time(9, 0) <= now.astimezone(tz).time() < time(17, 0)
        day_start = datetime.combine(today, time(0, 0), tz)
        # About one bounce per rep every ``bounce_every_days`` working days, at a round.
        bounce_today = (
            round_now
            and self.bounce_every_days > 0
            and self._rng("bounce", person.key, today.isoformat()).random()
            < 1 / self.bounce_every_days / max(len(_reps(container)), 1)
        )
        for lead in leads:
            if lead.last_touch_at is not None and lead.last_touch_at >= day_start:
                continue  # already followed up today
            new_to_them = lead.first_touch_at is None and lead.qualified_at is not None
            delay = self._first_response(lead.id) if new_to_them else None
            quick = in_hours and delay is not None and lead.qualified_at + delay <= now
            if not (round_now or quick):
                continue
            if bounce_today and not new_to_them:
                bounce_today = False
                if self._say(
                    container, actor, f"bounce {lead.crm_id} not_ready Not buying this quarter", stats, "bounce"
                ):
                    stats.bounces += 1
                continue
            note = self._rng("note", lead.id, today.isoformat()).choice(NOTES)
            if self._say(container, actor, f"touch {lead.crm_id} {note}", stats, "touch"):
                stats.follow_ups += 1

    def _claims(self, container, start: datetime, end: datetime, stats: LifeStats) -> None:
        """Someone in sales claims an unowned lead from ``#sales`` about an hour after it shows."""
        sales = container.config.team_channel("sales")
        if not sales:
            return
        with container.uow_factory() as uow:
            rows = uow.outbox.for_destination(f"channel:{sales}", limit=100)
            shown = {r.key: uow.outbox.current_payload(r.key) or r.payload for r in rows}
        reps = _reps(container)
        for row in rows:
            buttons = [
                b
                for block in Message.from_json(shown[row.key]).blocks
                if isinstance(block, Actions)
                for b in block.buttons
                if b.action == "cooling.claim"
            ]
            if not buttons or row.sent_at is None or row.sent_at + timedelta(minutes=50) > end:
                continue
            who = reps[self._rng("claim", row.key).randrange(len(reps))]
            ref = MessageRef(outbox_key=row.key, platform="local", channel=row.destination, ts=str(row.id))
            reply = run_action(
                container.registry,
                container.uow_factory,
                container.deps,
                Actor(who.id, "local"),
                buttons[0].action,
                buttons[0].value,
                ref,
            )
            container.wake()
            if reply is not None and "is yours." in (reply.text or ""):
                stats.claims += 1

    def _acknowledge(self, container, start: datetime, end: datetime, stats: LifeStats) -> None:
        """A marketer acknowledges a bounced lead in ``#marketing`` a few hours after it arrives."""
        marketing = container.config.team_channel("marketing")
        if not marketing:
            return
        with container.uow_factory() as uow:
            rows = uow.outbox.for_destination(f"channel:{marketing}", limit=50)
            shown = {r.key: uow.outbox.current_payload(r.key) or r.payload for r in rows}
            marketers = [p for p in uow.people.team("marketing")]
        if not marketers:
            return
        for row in rows:
            buttons = [
                b
                for block in Message.from_json(shown[row.key]).blocks
                if isinstance(block, Actions)
                for b in block.buttons
                if b.action == "bounce.ack"
            ]
            if not buttons or row.sent_at is None or row.sent_at + timedelta(hours=3) > end:
                continue
            who = marketers[self._rng("ack", row.key).randrange(len(marketers))]
            ref = MessageRef(outbox_key=row.key, platform="local", channel=row.destination, ts=str(row.id))
            run_action(
                container.registry,
                container.uow_factory,
                container.deps,
                Actor(who.id, "local"),
                buttons[0].action,
                buttons[0].value,
                ref,
            )
            container.wake()
            stats.acknowledged += 1

    @staticmethod
    def _say(container, actor: Actor, text: str, stats: LifeStats, what: str) -> bool:
        reply = run_command(container.registry, container.uow_factory, container.deps, actor, text)
        container.wake()
        answer = (reply.text or (reply.message.text if reply.message else "")) if reply else ""
        ok = (
            reply is not None
            and (reply.form is None)
            and not answer.startswith(("Only ", "No lead", "Several leads", "I don't know", "That "))
        )
        if not ok:
            stats.refused[what] = stats.refused.get(what, 0) + 1
            log.debug("life: %r refused: %s", text, answer)
        return ok


def _reps(container) -> list:
    with container.uow_factory() as uow:
        people = uow.people.team("sales")
    return sorted((p for p in people if p.role in ("rep", "sdr")), key=lambda p: p.id)


def _days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
