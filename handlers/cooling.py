"""Cooling leads: no qualified lead goes cold without someone knowing.

- **The shared definition** (``qualified:`` in the config): a CRM status in ``statuses``, or a
  score at or above ``min_score`` with the ``required_fields`` present; ``lead.qualified`` always
  qualifies. Becoming qualified is the handoff: ``qualified_at``, the tier, a new SLA window and
  a handoff DM to the owner (to the sales channel with *Claim* when there is none).
- **The clock**: an SLA per tier in business hours in the owner's timezone
  (``handlers.business_time``). Due times are computed when a lead changes and stored;
  ``next_alert_at`` is when the next ladder step is due, so the job finds due leads with one
  range scan of the partial index ``ix_lead_due``.
- **The ladder** (``sla.ladder``): warn the owner at ``warn_at`` of the SLA; at breach the owner
  gets *Log follow-up*, *Snooze* and *Bounce to marketing*; ``manager_after_hours`` later the
  manager; ``channel_after_hours`` later the sales channel. Each step once per window (the
  unique outbox key). An out-of-office owner is skipped straight to the manager.
- **What resets the clock**: a sales follow-up (``lead.touched``, ``/smarketing touch``, the
  button) starts a new window. An alert does not; a new owner does not; a snooze pauses the
  ladder until it ends and is counted.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache

from handlers import cooling_messages as views
from handlers.business_time import BusinessCalendar
from handlers.errors import Invalid, NotAllowed, NotFound
from handlers.events import Event
from handlers.messages import Message, Reply, mention
from handlers.ports import Actor, Deps, channel, dm
from handlers.registry import Flow, JobResult, MessageRef
from handlers.review_messages import reviewable  # *Add to review* on escalations (handlers/review.py)
from storage.models import Lead, Person

log = logging.getLogger(__name__)

STEPS = ("warn", "breach", "manager", "channel")  # ladder_step 1..4 names the last one fired
CHUNK = 500  # due leads per transaction
MAX_CHUNKS = 200  # per job run; the next tick carries on
PAGE = 15  # leads per page of `/smarketing leads`
NOTE_MAX = 3000
LEAD_FIELDS = ("email", "name", "company", "title", "score")


# --- the shared definition and the clock ------------------------------------------------------


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
    return (q.min_score is not None and score is not None and score >= q.min_score
            and all(lead.get(f) for f in q.required_fields))


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


def sla_hours(tier: str | None, config) -> float:
    tiers = config.sla.tiers
    return (tiers.get(tier or "") or tiers[tier_for(None, None, config)]).hours


def timezone_of(person: Person | None, config) -> str:
    """Where the clock runs: the owner's timezone, or the sales team's for an unowned lead."""
    return person.timezone if person and person.timezone else config.team_timezone("sales")


def new_window(lead: dict, *, start: datetime, tz: str, config) -> dict:
    """The SLA fields of a fresh window from ``start``: due time, first alert, ladder reset."""
    cal, hours = calendar(config, tz), sla_hours(lead.get("tier"), config)
    return dict(
        sla_started_at=start,
        sla_due_at=cal.add_business_hours(start, hours, tz),
        next_alert_at=cal.add_business_hours(start, hours * config.sla.ladder.warn_at, tz),
        ladder_step=0,
        sla_window=(lead.get("sla_window") or 0) + 1,
        snoozed_until=None,
    )


def qualification(lead: dict, *, at: datetime, tz: str, config) -> dict:
    """The fields that hand a lead to sales at ``at``: status, handoff time, tier (the CRM's tier
    hint in ``lead["tier"]`` if the config knows it, else by score), a new window."""
    tier = tier_for(lead.get("score"), lead.get("tier"), config)
    window = new_window({**lead, "tier": tier}, start=at, tz=tz, config=config)
    return dict(status="qualified", qualified_at=at, tier=tier, handoff_due_at=window["sla_due_at"],
                first_touch_at=None, **window)


def qualify_lead(uow, deps: Deps, lead: Lead, *, at: datetime, by_person_id: int | None = None,
                 note: str | None = None) -> None:
    """Put a lead (back) in sales: qualified, a new SLA window, and the handoff DM with its
    bounce history. The caller commits."""
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    for k, v in qualification(lead.model_dump(), at=at, tz=timezone_of(owner, deps.config),
                              config=deps.config).items():
        setattr(lead, k, v)
    lead.updated_at = deps.now()
    uow.leads.add(lead)
    _enqueue_handoffs(uow, deps, [lead.model_dump()], requalified_by=by_person_id, note=note,
                      people={owner.id: owner} if owner else {})


def stop_sla(lead: Lead) -> None:
    """The lead is no longer sales' to follow up: no due time, no more ladder steps."""
    lead.sla_due_at = None
    lead.next_alert_at = None
    lead.snoozed_until = None


def follow_up(uow, deps: Deps, lead: Lead, *, person_id: int | None, source: str, at: datetime,
              note: str | None = None) -> None:
    """Record a sales follow-up; a qualified lead's clock restarts. The caller commits."""
    uow.leads.add_touches([dict(lead_id=lead.id, person_id=person_id, source=source, note=note, occurred_at=at)])
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    _followed_up(lead, at=at, tz=timezone_of(owner, deps.config), config=deps.config)
    lead.updated_at = deps.now()
    uow.leads.add(lead)


def _followed_up(lead: Lead, *, at: datetime, tz: str, config) -> None:
    lead.touch_count = (lead.touch_count or 0) + 1
    lead.last_touch_at = max(lead.last_touch_at or at, at)
    if lead.status != "qualified" or not lead.qualified_at or at < lead.qualified_at:
        return  # not (yet) sales' lead: noted, but there is no clock to reset
    if lead.first_touch_at is None:
        lead.first_touch_at = at
    if lead.sla_started_at is None or at >= lead.sla_started_at:  # a late, older touch moves nothing
        for k, v in new_window(lead.model_dump(), start=at, tz=tz, config=config).items():
            setattr(lead, k, v)


# --- CRM events -------------------------------------------------------------------------------


def leads_upserted(uow, deps: Deps, events: list[Event]) -> None:
    """``lead.upserted``: create or update leads; those meeting the definition now (and not
    before) are handed to sales."""
    _upsert(uow, deps, events, force=False)


def leads_qualified(uow, deps: Deps, events: list[Event]) -> None:
    """``lead.qualified``: as ``lead.upserted``, and the lead is qualified whatever its data."""
    _upsert(uow, deps, events, force=True)


def _upsert(uow, deps: Deps, events: list[Event], *, force: bool) -> None:
    now, config = deps.now(), deps.config
    current = uow.leads.states_by_crm_id(e.data.id for e in events)
    owner_ids = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    owners = uow.people.many({*owner_ids.values(), *(r["owner_id"] for r in current.values() if r["owner_id"])})
    campaign_ids = uow.campaigns.ensure(e.data.source_campaign_id for e in events if e.data.source_campaign_id)
    rows: dict[str, dict] = {}
    handed: list[str] = []
    for e in events:  # in order: a later event for the same lead sees the earlier one's result
        d = e.data
        before = rows.get(d.id) or current.get(d.id)
        row = _merged(before, d, owner_ids, campaign_ids, now)
        met_before = before is not None and meets_definition(before, config)
        # A converted lead (its deal closed won) is handed to sales again only when the CRM says so.
        if row["status"] != "qualified" and (force or (row["status"] != "converted" and meets_definition(row, config)
                                                       and not met_before)):
            tz = timezone_of(owners.get(row["owner_id"]), config)
            row.update(qualification(row, at=min(e.occurred_at, now), tz=tz, config=config))
            handed.append(d.id)
        rows[d.id] = row
    ids = uow.leads.upsert_many(list(rows.values()), known={c: r["id"] for c, r in current.items()})
    handed = list(dict.fromkeys(handed))
    back = [ids[c] for c in handed if c in current and current[c]["status"] == "nurture"]
    if back:  # the CRM sent bounced leads back to sales
        from handlers.bounce import requalified_in_crm

        requalified_in_crm(uow, deps, back)
    _enqueue_handoffs(uow, deps, [{**rows[c], "id": ids[c]} for c in handed], people=owners)


def _merged(before: dict | None, d, owner_ids: dict[str, int], campaign_ids: dict[str, int], now: datetime) -> dict:
    """The lead's columns after this event: given fields replace, absent ones keep their value."""
    row = dict(before) if before else _new_row(d.id, now)
    row.pop("id", None)
    for f in LEAD_FIELDS:
        value = getattr(d, f)
        if value is not None:
            row[f] = value
    if d.status is not None:
        row["crm_status"] = d.status
    if d.tier is not None and row["status"] != "qualified":
        row["tier"] = d.tier  # a hint for the handoff; a running window keeps its tier
    if d.owner_email is not None:  # a new owner does not reset the clock
        if row["status"] == "qualified" and row.get("owner_id") is None and owner_ids.get(d.owner_email):
            row["claimed_at"] = now  # handed over unowned: the scoreboard's wait for an owner ends
        row["owner_email"], row["owner_id"] = d.owner_email, owner_ids.get(d.owner_email)
    if d.source_campaign_id:
        row["source_campaign_id"] = campaign_ids[d.source_campaign_id]
    if d.model_extra:
        row["attrs"] = {**(row.get("attrs") or {}), **d.model_extra}
        for f in ("region", "segment"):  # the agreement's targets count these (handlers/scoreboard.py)
            value = row["attrs"].get(f)
            row[f] = str(value).strip()[:100] or None if value is not None else None
    row["updated_at"] = now
    return row


def _new_row(crm_id: str, now: datetime) -> dict:
    return {**_NEW_ROW, "crm_id": crm_id, "attrs": {}, "created_at": now}


_NEW_ROW = {**{c.name: None for c in Lead.__table__.columns if c.name != "id"},
            **dict(status="new", sla_window=0, ladder_step=0, snooze_count=0, touch_count=0, bounce_count=0)}


def leads_touched(uow, deps: Deps, events: list[Event]) -> None:
    """``lead.touched``: a sales follow-up from the CRM; the clock restarts."""
    now, config = deps.now(), deps.config
    leads = uow.leads.many_by_crm_id((e.data.lead_id for e in events), for_update=True)  # no lost update
    by_ids = uow.people.ids_by_email(e.data.by_email for e in events if e.data.by_email)
    owners = uow.people.many(lead.owner_id for lead in leads.values() if lead.owner_id)
    touches = []
    for e in events:
        lead = leads.get(e.data.lead_id)
        if lead is None:
            log.info("lead.touched %s: no lead %r here; ignored", e.id, e.data.lead_id)
            continue
        at = min(e.occurred_at, now)
        touches.append(dict(lead_id=lead.id, person_id=by_ids.get(e.data.by_email or ""), source="crm",
                            note=e.data.note, occurred_at=at))
        _followed_up(lead, at=at, tz=timezone_of(owners.get(lead.owner_id), config), config=config)
        lead.updated_at = now
    uow.leads.add_touches(touches)  # the loaded leads are flushed together at commit


def _enqueue_handoffs(uow, deps: Deps, leads: list[dict], *, requalified_by: int | None = None,
                      note: str | None = None, people: dict[int, Person] | None = None) -> None:
    """The handoff DM of each lead (column dicts with ``id``); ``people`` may hold the owners
    already loaded."""
    if not leads:
        return
    config, now = deps.config, deps.now()
    owner_ids = {lead["owner_id"] for lead in leads if lead.get("owner_id")}
    if people is None or not owner_ids <= people.keys():
        people = uow.people.many(owner_ids)
    campaigns = uow.campaigns.briefs(lead["source_campaign_id"] for lead in leads if lead.get("source_campaign_id"))
    bounces = uow.bounces.for_leads(lead["id"] for lead in leads)
    sales = config.team_channel("sales")
    out = []
    for lead in leads:
        owner = people.get(lead.get("owner_id"))
        if owner is None and not sales:
            continue
        tz = timezone_of(owner, config)
        campaign = campaigns.get(lead.get("source_campaign_id"))
        history = [views.BounceLine(b.at, config.reason_label(b.reason) or b.reason, b.by_person_id, b.note)
                   for b in bounces.get(lead["id"], [])]
        payload = views.handoff(
            views.LeadCard.of(lead), owner_id=owner.id if owner else None, tier=lead["tier"],
            hours=sla_hours(lead["tier"], config), due=views.when(lead["sla_due_at"], tz),
            campaign=campaign.name if campaign else None, bounces=history, tz=tz,
            requalified_by=requalified_by, note=note,
        )
        out.append(dict(key=f"cooling:{lead['id']}:{lead['sla_window']}:handoff",
                        destination=dm(owner.id) if owner else channel(sales), payload=payload))
    uow.outbox.add_many(out, at=now)


# --- the ladder -------------------------------------------------------------------------------


def cooling_job(uow_factory, deps: Deps) -> JobResult:
    """Fire the ladder steps that are due, ``CHUNK`` leads per transaction."""
    leads = alerts = 0
    for _ in range(MAX_CHUNKS):
        with uow_factory() as uow:
            n, fired = process_due(uow, deps, limit=CHUNK)
            uow.commit()
        leads, alerts = leads + n, alerts + fired
        if n < CHUNK:
            break
    return JobResult("cooling", alerts, f"{leads} lead(s) due")


def process_due(uow, deps: Deps, *, limit: int) -> tuple[int, int]:
    """One chunk: find up to ``limit`` due leads (one indexed query), queue their alerts under
    unique keys, move each lead's ``next_alert_at`` on. Returns (leads, alerts queued)."""
    now = deps.now()
    due = uow.leads.due(now=now, limit=limit)
    if not due:
        return 0, 0
    messages = plan_alerts(uow, deps, due, now=now)
    uow.leads.update_ladders(due)
    fired = uow.outbox.add_many(messages, at=now)  # the unique key: each step once per window
    return len(due), len(fired)


def plan_alerts(uow, deps: Deps, due: list[dict], *, now: datetime) -> list[dict]:
    """The messages (for ``uow.outbox``, keyed ``cooling:{lead}:{window}:{step}``) the due
    leads' ladders fire now; each lead's ladder state in ``due`` is moved on as a side effect."""
    people = uow.people.many(lead["owner_id"] for lead in due if lead["owner_id"])
    people.update(uow.people.many(p.manager_id for p in people.values() if p.manager_id and p.manager_id not in people))
    messages = []
    for lead in due:
        for step, destination, payload in _advance(lead, people, now, deps.config):
            messages.append(dict(key=f"cooling:{lead['id']}:{lead['sla_window']}:{step}", destination=destination,
                                 payload=payload))
    return messages


class _StepTimes:
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
                hours = sla_hours(lead["tier"], self.config) * ladder.warn_at
                self.known[1] = cal.add_business_hours(lead["sla_started_at"], hours, self.tz)
            else:
                after = ladder.manager_after_hours if step == 3 else ladder.channel_after_hours
                self.known[step] = cal.add_business_hours(lead["sla_due_at"], after, self.tz)
        return self.known[step]


def _advance(lead: dict, people: dict[int, Person], now: datetime, config) -> list[tuple[str, str, dict]]:
    """Move the lead's ladder to ``now``: the steps that fire (step name, destination, message
    payload); ``ladder_step``, ``next_alert_at`` and ``snoozed_until`` updated in ``lead``."""
    owner = people.get(lead["owner_id"])
    manager = people.get(owner.manager_id) if owner and owner.manager_id else None
    tz = timezone_of(owner, config)
    if lead["sla_due_at"] is None or lead["sla_started_at"] is None:  # no clock: nothing to chase
        lead["next_alert_at"] = lead["snoozed_until"] = None
        return []
    times = _StepTimes(lead, tz, config)
    reminder = lead["snoozed_until"] is not None  # it is due, so the snooze has ended
    lead["snoozed_until"] = None
    first = step = lead["ladder_step"]
    while step < 4 and times[step + 1] <= now:
        step += 1
    away = bool(owner and owner.out_of_office_until and owner.out_of_office_until > now)
    if away and step < 3 and (step > first or reminder):
        step = 3 if manager else 4  # skip the owner: straight to the manager (or the channel)
    while step < 4 and times[step + 1] <= now:
        step += 1
    fired = list(STEPS[first:step])
    if "breach" in fired and "warn" in fired:
        fired.remove("warn")  # a warning after the breach says nothing new
    lead["ladder_step"] = step
    lead["next_alert_at"] = times[step + 1] if step < 4 else None
    if reminder and not away and owner and "breach" not in fired:
        fired.append(f"snooze{lead['snooze_count']}")
    return [out for name in fired for out in _messages(name, lead, owner, manager, away, now, tz, config)]


def _messages(step: str, lead: dict, owner: Person | None, manager: Person | None, away: bool,
              now: datetime, tz: str, config) -> list[tuple[str, str, dict]]:
    card, ladder, sales = views.LeadCard.of(lead), config.sla.ladder, config.team_channel("sales")
    due = views.when(lead["sla_due_at"], tz)
    if owner is None:  # nobody to DM: the channel, with a Claim button, once the SLA runs out
        if step == "breach" and sales:
            return [(step, channel(sales), views.unclaimed(card, due=due))]
        return []
    away_until = views.when(owner.out_of_office_until, tz) if away else None
    if step == "warn" and not away:
        left = views.time_left_text(_hours_left(config, now, lead["sla_due_at"], tz))
        return [(step, dm(owner.id), views.warning(card, left=left, due=due))]
    if (step == "breach" or step.startswith("snooze")) and not away:
        return [(step, dm(owner.id), views.breach(card, due=due, snooze_hours=ladder.snooze_hours,
                                                  reminder=step != "breach"))]
    if step == "manager" and manager:
        return [(step, dm(manager.id), reviewable(config, views.to_manager(
            card, owner_id=owner.id, due=due, snooze_count=lead["snooze_count"], snooze_hours=ladder.snooze_hours,
            away_until=away_until), f"{card.plain}: SLA breached"))]
    if step == "channel" and sales:
        return [(step, channel(sales), reviewable(config, views.to_channel(
            card, owner_id=owner.id, due=due, snooze_count=lead["snooze_count"], away_until=away_until),
            f"{card.plain}: SLA breached"))]
    return []


# --- buttons ----------------------------------------------------------------------------------


def follow_up_button(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Log follow-up*: the clock restarts and the message says who followed up, when."""
    lead, person, owner = _lead_and_actor(uow, actor, value)
    check_may_act(person, lead, owner)
    now = deps.now()
    follow_up(uow, deps, lead, person_id=person.id, source="button", at=now)
    tz = timezone_of(owner, deps.config)
    _update_source(uow, deps, source, f"✅ Followed up by {mention(person.id)} at {views.clock(now, tz)}",
                   suffix=f"followup{lead.touch_count}")
    uow.commit()
    return Reply.say(_followed_up_text(lead, tz))


def snooze_button(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Snooze 1 hour* / *Snooze until tomorrow*: the ladder pauses until then."""
    lead_id, _, length = value.partition(":")
    lead, person, owner = _lead_and_actor(uow, actor, lead_id)
    check_may_act(person, lead, owner)
    if lead.status != "qualified":
        raise Invalid(f"{views.LeadCard.of(lead).plain} is not waiting on sales any more ({lead.status}).")
    now, config = deps.now(), deps.config
    tz = timezone_of(owner, config)
    cal = calendar(config, tz)
    if length == "morning":
        until = cal.next_opening(now, tz)
    elif length == f"{config.sla.ladder.snooze_hours:g}h":
        until = cal.add_business_hours(now, config.sla.ladder.snooze_hours, tz)
    else:
        raise Invalid("That snooze button is out of date; use the ones on the latest alert.")
    lead.snoozed_until = lead.next_alert_at = until
    lead.snooze_count = (lead.snooze_count or 0) + 1
    lead.updated_at = now
    uow.leads.add(lead)
    line = f"💤 Snoozed until {views.when(until, tz)} by {mention(person.id)}"
    _update_source(uow, deps, source, line, suffix=f"snooze{lead.snooze_count}",
                   keep=(views.FOLLOW_UP, views.BOUNCE))
    uow.commit()
    return Reply.say(f"Snoozed until {views.when(until, tz)}. I'll remind you then.")


def claim_button(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Claim* on an unowned lead: anyone in sales; the first claim wins."""
    lead, person, _ = _lead_and_actor(uow, actor, value)
    if person.team != "sales" and not person.is_admin:
        raise NotAllowed("Only the sales team can claim leads.")
    label = views.LeadCard.of(lead).plain
    if lead.owner_id == person.id:
        return Reply.say(f"{label} is already yours.")
    if lead.status != "qualified":
        raise Invalid(f"{label} is not waiting on sales any more ({lead.status}).")
    now = deps.now()
    if lead.owner_id or not uow.leads.claim(lead.id, person_id=person.id, email=person.email, at=now):
        holder = uow.people.get(uow.leads.get(lead.id).owner_id)
        return Reply.say(f"Already claimed by {holder.name if holder else 'someone else'}.")
    tz = timezone_of(person, deps.config)
    _update_source(uow, deps, source, f"🙋 Claimed by {mention(person.id)} at {views.clock(now, tz)}",
                   suffix="claim")
    uow.commit()
    due = f" Follow up by {views.when(lead.sla_due_at, tz)}." if lead.sla_due_at and lead.sla_due_at > now else ""
    return Reply.say(f"{label} is yours.{due}")


def _update_source(uow, deps: Deps, source: MessageRef | None, line: str, *, suffix: str, keep=()) -> None:
    """Update the message the button was on, in place: its buttons go, a status line comes."""
    if source is None:
        return
    key = source.outbox_key  # the adapter found it (by metadata, or by the message's ts)
    target = uow.outbox.by_key(key) if key else None
    if target is None:
        return
    shown = uow.outbox.current_payload(target.key) or target.payload  # after earlier presses
    message = views.with_status(Message.from_json(shown), line, keep=keep)
    uow.outbox.add(key=f"{target.key}:{suffix}", destination=target.destination, payload=message.to_json(),
                   at=deps.now(), op="update", target_key=target.key)


# --- commands ---------------------------------------------------------------------------------


def touch_command(uow, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing touch <lead> [note]``: log a follow-up."""
    ref, _, note = args.strip().partition(" ")
    if not ref:
        raise Invalid("Usage: `/smarketing touch <lead> [note]`, where <lead> is its CRM id or email.")
    if len(note) > NOTE_MAX:
        raise Invalid(f"That note is {len(note)} characters; keep it under {NOTE_MAX}.")
    person = _person(uow, actor)
    lead = _find_one(uow, ref)
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    check_may_act(person, lead, owner)
    follow_up(uow, deps, lead, person_id=person.id, source="command", at=deps.now(), note=note.strip() or None)
    uow.commit()
    return Reply.say(_followed_up_text(lead, timezone_of(owner, deps.config)))


def leads_command(uow, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing leads [page]``: my qualified leads, most urgent first, with time left."""
    person = _person(uow, actor)
    page = int(args.strip()) if args.strip().isdigit() and int(args.strip()) > 0 else 1
    rows, total = uow.leads.qualified_for_owner(person.id, limit=PAGE, offset=(page - 1) * PAGE)
    pages = max(1, -(-total // PAGE))
    if page > pages:  # past the end: the last page
        page = pages
        rows, total = uow.leads.qualified_for_owner(person.id, limit=PAGE, offset=(page - 1) * PAGE)
    now, tz = deps.now(), timezone_of(person, deps.config)
    lines = []
    for lead in rows:
        due = lead.sla_due_at
        snoozed = views.when(lead.snoozed_until, tz) if lead.snoozed_until and lead.snoozed_until > now else None
        left = views.time_left_text(_hours_left(deps.config, now, due, tz)) if due else "no SLA running"
        lines.append(views.LeadLine(views.LeadCard.of(lead), left, views.when(due, tz) if due else None,
                                    bool(due and due <= now), snoozed))
    return Reply(message=views.my_leads(lines, page=page, pages=pages, total=total))


def _hours_left(config, now: datetime, due: datetime, tz: str) -> float:
    """Business hours until ``due``; negative once it has passed."""
    cal = calendar(config, tz)
    return cal.business_hours_between(now, due, tz) if due > now else -cal.business_hours_between(due, now, tz)


# --- who may do what --------------------------------------------------------------------------


def check_may_act(person: Person, lead: Lead, owner: Person | None) -> None:
    """Following up or snoozing: the owner, the owner's manager or an admin (anyone in sales
    while the lead has no owner)."""
    if person.is_admin or (owner and person.id in (owner.id, owner.manager_id)):
        return
    if owner is None and person.team == "sales":
        return
    if owner is None:
        raise NotAllowed("Only the sales team can follow up on this lead.")
    raise NotAllowed(f"Only {owner.name} (its owner), their manager or an admin can do that for this lead.")


def _person(uow, actor: Actor) -> Person:
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise NotAllowed("I don't know who you are yet: ask an admin to add your email to the Smarketing config.")
    return person


def _lead_and_actor(uow, actor: Actor, value: str) -> tuple[Lead, Person, Person | None]:
    person = _person(uow, actor)
    lead = uow.leads.get_for_update(int(value)) if value.strip().isdigit() else None
    if lead is None:
        raise NotFound("That lead is gone from Smarketing; the message is out of date.")
    return lead, person, uow.people.get(lead.owner_id) if lead.owner_id else None


def _find_one(uow, ref: str) -> Lead:
    leads = uow.leads.find(ref)
    if not leads:
        raise NotFound(f"No lead matches '{ref[:100]}' — use its CRM id or email.")
    if len(leads) > 1:
        listed = "\n".join(f"• `{lead.crm_id}` {views.LeadCard.of(lead).plain}" for lead in leads)
        raise NotFound(f"Several leads match '{ref[:100]}':\n{listed}\nUse the CRM id.")
    return uow.leads.get_for_update(leads[0].id)


def _followed_up_text(lead: Lead, tz: str) -> str:
    text = f"Logged your follow-up on {views.LeadCard.of(lead).plain}."
    if lead.status == "qualified" and lead.sla_due_at:
        text += f" The clock restarts: next follow-up due by {views.when(lead.sla_due_at, tz)}."
    return text


FLOW = Flow(
    name="cooling",
    commands={"touch": touch_command, "leads": leads_command},  # `sla`: handlers/scoreboard.py
    actions={"cooling.follow_up": follow_up_button, "cooling.snooze": snooze_button, "cooling.claim": claim_button},
    events={"lead.upserted": leads_upserted, "lead.qualified": leads_qualified, "lead.touched": leads_touched},
    jobs={"cooling": cooling_job},
    help=[
        ("touch <lead> [note]", "log a follow-up on a lead (restarts its SLA clock)"),
        ("leads [page]", "your qualified leads, most urgent first, with time left"),
    ],
)
