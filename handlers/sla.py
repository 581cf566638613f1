"""The lead SLA's arithmetic: the shared definition of a qualified lead, the tiers, and the two
clocks, in business hours of the owner's timezone. Pure functions of a lead's column values and
the config: ``handlers.lifecycle`` decides when they apply.

- **First touch** (``sla.tiers.<tier>.hours``): from the handoff to the first sales follow-up
  (speed to lead).
- **Cadence** (``sla.tiers.<tier>.cadence_days``, default 3): after the first follow-up, a lead
  with no sales activity for that many business days is cooling. A follow-up satisfies the
  clock that is running and starts the cadence from itself; it never opens a new first-touch
  window.

Both climb the same ladder (``sla.ladder``): a warning at ``warn_at`` of the clock, the breach,
the manager ``manager_after_hours`` later, the sales channel ``channel_after_hours`` later.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from handlers.business_time import BusinessCalendar
from handlers.ports import Person

FIRST_TOUCH, CADENCE = "first_touch", "cadence"
STEPS = ("warn", "breach", "manager", "channel")  # ladder_step 1..4 names the last one fired


@lru_cache(maxsize=64)  # one per holiday region in use
def _calendar(start, end, weekdays, country, subdiv, dates) -> BusinessCalendar:
    return BusinessCalendar(start, end, weekdays, country, subdiv, dates)


def calendar(config, tz: str | None = None) -> BusinessCalendar:
    """The business calendar of someone working in timezone ``tz``: the config's hours and
    company days off, and the public holidays of ``holidays.by_timezone[tz]`` when given, else
    of ``holidays.country`` (built once each; it caches holidays per year)."""
    bh, hol = config.business_hours, config.business_hours.holidays
    region = hol.by_timezone.get(tz) if tz else None
    country, subdivision = (region.country, region.subdivision) if region else (hol.country, hol.subdivision)
    return _calendar(bh.start, bh.end, bh.weekdays, country, subdivision, tuple(hol.dates))


def meets_definition(lead: dict, config) -> bool:
    """The shared definition of a qualified lead, on a lead's column values."""
    q = config.qualified
    status = (lead.get("crm_status") or "").strip().lower()
    if status and status in {s.lower() for s in q.statuses}:
        return True
    score = lead.get("score")
    return (
        q.min_score is not None
        and score is not None
        and score >= q.min_score
        and all(lead.get(f) for f in q.required_fields)
    )


def tier_for(score: int | None, hint: str | None, config) -> str:
    """The CRM's tier when the config knows it, else the highest tier the score reaches, else
    the catch-all tier (the one without ``min_score``)."""
    tiers = config.sla.tiers
    if hint and hint.lower() in {t.lower() for t in tiers}:
        return next(t for t in tiers if t.lower() == hint.lower())
    ranked = sorted(((t.min_score, name) for name, t in tiers.items() if t.min_score is not None), reverse=True)
    for min_score, name in ranked:
        if score is not None and score >= min_score:
            return name
    catch_all = [name for name, t in tiers.items() if t.min_score is None]
    return catch_all[-1] if catch_all else ranked[-1][1]


def _tier(tier: str | None, config):
    tiers = config.sla.tiers
    return tiers.get(tier or "") or tiers[tier_for(None, None, config)]


def sla_hours(tier: str | None, config) -> float:
    """The first-touch SLA of a tier, in business hours."""
    return _tier(tier, config).hours


def business_day_hours(config) -> float:
    bh = config.business_hours
    return (datetime.combine(datetime.min, bh.end) - datetime.combine(datetime.min, bh.start)) / timedelta(hours=1)


def cadence_days(tier: str | None, config) -> float:
    return _tier(tier, config).cadence_days


def cadence_hours(tier: str | None, config) -> float:
    """The cadence of a tier in business hours: ``cadence_days`` working days."""
    return cadence_days(tier, config) * business_day_hours(config)


def clock_hours(lead: dict, config) -> float:
    """The length of the clock running on a lead (first touch, or the cadence)."""
    if lead.get("sla_clock") == CADENCE:
        return cadence_hours(lead.get("tier"), config)
    return sla_hours(lead.get("tier"), config)


def timezone_of(person: Person | None, config) -> str:
    """Where the clock runs: the owner's timezone, or the sales team's for an unowned lead."""
    return person.timezone if person and person.timezone else config.team_timezone("sales")


def new_window(lead: dict, *, start: datetime, tz: str, config, clock: str = FIRST_TOUCH) -> dict:
    """The SLA fields of a fresh window of ``clock`` from ``start``: due time, first alert,
    ladder reset."""
    cal, hours = calendar(config, tz), clock_hours({**lead, "sla_clock": clock}, config)
    return dict(
        sla_clock=clock,
        sla_started_at=start,
        sla_due_at=cal.add_business_hours(start, hours, tz),
        next_alert_at=cal.add_business_hours(start, hours * config.sla.ladder.warn_at, tz),
        ladder_step=0,
        sla_window=(lead.get("sla_window") or 0) + 1,
        snoozed_until=None,
    )


def qualification(lead: dict, *, at: datetime, tz: str, config) -> dict:
    """The fields that hand a lead to sales at ``at``: status, handoff time, tier (the CRM's tier
    hint in ``lead["tier"]`` if the config knows it, else by score), a new first-touch window."""
    tier = tier_for(lead.get("score"), lead.get("tier"), config)
    window = new_window({**lead, "tier": tier}, start=at, tz=tz, config=config)
    return dict(
        status="qualified",
        qualified_at=at,
        tier=tier,
        handoff_due_at=window["sla_due_at"],
        first_touch_at=None,
        **window,
    )


def stopped() -> dict:
    """The lead is no longer sales' to follow up: no due time, no more ladder steps."""
    return dict(sla_due_at=None, next_alert_at=None, snoozed_until=None)


def hours_left(config, now: datetime, due: datetime, tz: str) -> float:
    """Business hours until ``due``; negative once it has passed."""
    cal = calendar(config, tz)
    return cal.business_hours_between(now, due, tz) if due > now else -cal.business_hours_between(due, now, tz)


class StepTimes:
    """When each ladder step (1..4) of a lead's window is due, computed once each as needed."""

    def __init__(self, lead: dict, tz: str, config):
        self.lead, self.tz, self.config = lead, tz, config
        self.known = {2: lead["sla_due_at"]}
        if lead["snoozed_until"] is None and lead["next_alert_at"] is not None:
            self.known.setdefault(lead["ladder_step"] + 1, lead["next_alert_at"])  # stored when last moved

    def __getitem__(self, step: int) -> datetime:
        if step not in self.known:
            lead, ladder, cal = self.lead, self.config.sla.ladder, calendar(self.config, self.tz)
            if step == 1:
                hours = clock_hours(lead, self.config) * ladder.warn_at
                self.known[1] = cal.add_business_hours(lead["sla_started_at"], hours, self.tz)
            else:
                after = ladder.manager_after_hours if step == 3 else ladder.channel_after_hours
                self.known[step] = cal.add_business_hours(lead["sla_due_at"], after, self.tz)
        return self.known[step]
