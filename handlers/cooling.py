"""Cooling leads: no qualified lead goes cold without someone knowing.

This flow is the entry points: the CRM's lead events, the ``cooling`` job, the buttons and the
commands. The rules are elsewhere: the lifecycle (every transition, who may make it, and what
it tells people) in ``handlers.lifecycle``, the clocks' arithmetic in ``handlers.sla``.

- **The shared definition** (``qualified:`` in the config): a CRM status in ``statuses``, or a
  score at or above ``min_score`` with the ``required_fields`` present; ``lead.qualified`` always
  qualifies. Becoming qualified is the handoff.
- **Two clocks** in business hours of the owner's timezone: the first-touch SLA per tier, then
  the cadence (``cadence_days`` without sales activity). Due times are stored when a lead
  changes; ``next_alert_at`` is when the next ladder step is due, so the job finds due leads with
  one range scan of the partial index ``ix_lead_due``.
- **What satisfies the clock**: a sales follow-up (``lead.touched``, ``/smarketing touch``, the
  button). An alert does not; a snooze pauses the ladder; a new owner changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from handlers import cooling_messages as views
from handlers import lifecycle
from handlers.errors import Invalid, NotFound
from handlers.events import Event
from handlers.messages import Reply
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory
from handlers.registry import Flow, JobResult, MessageRef
from handlers.sla import (  # noqa: F401  (re-exported: the clock's names as they were here)
    STEPS,
    StepTimes,
    calendar,
    hours_left,
    meets_definition,
    new_window,
    qualification,
    sla_hours,
    tier_for,
    timezone_of,
)
from handlers.ports import Lead

log = logging.getLogger(__name__)

CHUNK = 500  # due leads per transaction
MAX_CHUNKS = 200  # per job run; the next tick carries on
PAGE = 15  # leads per page of `/smarketing leads`
MAX_PAGE = 100_000
NOTE_MAX = 3000
LEAD_FIELDS = ("email", "name", "company", "title", "score")


_StepTimes = StepTimes  # the benchmark's name for it


# --- CRM events -------------------------------------------------------------------------------


def leads_upserted(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    """``lead.upserted``: create or update leads; those meeting the definition now (and not
    before) are handed to sales."""
    _upsert(uow, deps, events, force=False)


def leads_qualified(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    """``lead.qualified``: as ``lead.upserted``, and the lead is qualified whatever its data."""
    _upsert(uow, deps, events, force=True)


def _upsert(uow: UnitOfWork, deps: Deps, events: list[Event], *, force: bool) -> None:
    now, config = deps.now(), deps.config
    current = uow.leads.states_by_crm_id(e.data.id for e in events)
    owner_ids = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    owners = uow.people.many({*owner_ids.values(), *(r["owner_id"] for r in current.values() if r["owner_id"])})
    campaign_ids = uow.campaigns.ensure(e.data.source_campaign_id for e in events if e.data.source_campaign_id)
    rows: dict[str, dict] = {}
    handed: list[str] = []
    moved: dict[str, int | None] = {}  # qualified leads given a new owner: their owner before
    for e in events:  # in order: a later event for the same lead sees the earlier one's result
        d = e.data
        before = rows.get(d.id) or current.get(d.id)
        row = _merged(before or _new_row(uow, d.id, now), d, owner_ids, campaign_ids, now)
        met_before = before is not None and meets_definition(before, config)
        # A converted lead (its deal closed won) is handed to sales again only when the CRM says so.
        if row["status"] != "qualified" and (
            force or (row["status"] != "converted" and meets_definition(row, config) and not met_before)
        ):
            tz = timezone_of(owners.get(row["owner_id"]), config)
            row.update(qualification(row, at=min(e.occurred_at, now), tz=tz, config=config))
            row["version"] = (row.get("version") or 0) + 1
            handed.append(d.id)
        elif before is not None and before["status"] == "qualified" and row["owner_id"] != before["owner_id"]:
            row["version"] = (row.get("version") or 0) + 1  # reassigned: the clock runs on
            moved.setdefault(d.id, before["owner_id"])
        rows[d.id] = row
    ids = uow.leads.upsert_many(list(rows.values()), known={c: r["id"] for c, r in current.items()})
    handed = list(dict.fromkeys(handed))
    back = {ids[c] for c in handed if c in current and current[c]["status"] == "nurture"}
    lifecycle.handed_off(uow, deps, [{**rows[c], "id": ids[c]} for c in handed], people=owners, requalified=back)
    moved = {c: o for c, o in moved.items() if c not in handed}
    lifecycle.reassigned_in_crm(
        uow, deps, [{**rows[c], "id": ids[c]} for c in moved], before={ids[c]: o for c, o in moved.items()}
    )
    # The CRM still names someone who has left: the lead goes to their manager's queue at once.
    gone = {
        owners[o].id: owners[o]
        for c in (*handed, *moved)
        if (o := rows[c]["owner_id"]) in owners and not owners[o].active
    }
    if gone:
        from handlers.directory import active_manager

        for person in gone.values():
            lifecycle.owner_left(uow, deps, person, active_manager(uow, person))


def _merged(before: dict, d, owner_ids: dict[str, int], campaign_ids: dict[str, int], now: datetime) -> dict:
    """The lead's columns after this event: given fields replace, absent ones keep their value."""
    row = dict(before)
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


def _new_row(uow: UnitOfWork, crm_id: str, now: datetime) -> dict:
    return {**uow.leads.blank_row(), **_NEW_ROW, "crm_id": crm_id, "attrs": {}, "created_at": now}


# A new lead's values where its columns' default (None) is not what it starts with.
_NEW_ROW = dict(
    status="new",
    sla_window=0,
    ladder_step=0,
    snooze_count=0,
    touch_count=0,
    bounce_count=0,
    sla_clock="first_touch",
    version=0,
)


def leads_touched(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    """``lead.touched``: a sales follow-up from the CRM; it satisfies the running clock."""
    now = deps.now()
    leads = uow.leads.many_by_crm_id((e.data.lead_id for e in events), for_update=True)  # no lost update
    by_ids = uow.people.ids_by_email(e.data.by_email for e in events if e.data.by_email)
    owners = uow.people.many(lead.owner_id for lead in leads.values() if lead.owner_id)
    touches, done = [], []
    for e in events:
        lead = leads.get(e.data.lead_id)
        if lead is None:
            log.info("lead.touched %s: no lead %r here; ignored", e.id, e.data.lead_id)
            continue
        at = min(e.occurred_at, now)
        by = by_ids.get(e.data.by_email or "")
        touches.append(dict(lead_id=lead.id, person_id=by, source="crm", note=e.data.note, occurred_at=at))
        done.append((lead, by, at))
    uow.leads.add_touches(touches)
    lifecycle.followed_up_in_crm(uow, deps, done, owners)  # the loaded leads are flushed together


# --- the ladder -------------------------------------------------------------------------------


def cooling_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
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


process_due = lifecycle.escalate_due
plan_alerts = lifecycle.plan_alerts


# --- buttons ----------------------------------------------------------------------------------


def follow_up_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Log follow-up*: the running clock is satisfied; every message about the lead says so."""
    got = lifecycle.pressed(uow, deps, actor, value)
    lifecycle.follow_up(uow, deps, got.person, got.lead, source="button")
    uow.commit()
    return Reply.say(_followed_up_text(got.lead, timezone_of(got.owner, deps.config)))


def snooze_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Snooze 1 hour* / *Snooze until tomorrow*: the ladder pauses until then."""
    got = lifecycle.pressed(uow, deps, actor, value)
    reply = lifecycle.snooze(uow, deps, got.person, got.lead, got.rest)
    uow.commit()
    return reply


def claim_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Claim* on an unowned lead: anyone in sales; the first claim wins."""
    got = lifecycle.pressed(uow, deps, actor, value)
    reply = lifecycle.claim(uow, deps, got.person, got.lead)
    uow.commit()
    return reply


# --- commands ---------------------------------------------------------------------------------


def touch_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing touch <lead> [note]``: log a follow-up."""
    ref, _, note = args.strip().partition(" ")
    if not ref:
        raise Invalid("Usage: `/smarketing touch <lead> [note]`, where <lead> is its CRM id or email.")
    if len(note) > NOTE_MAX:
        raise Invalid(f"That note is {len(note)} characters; keep it under {NOTE_MAX}.")
    if actor.person_id is None:
        lifecycle.person_of(uow, actor)  # someone unknown hears so, whatever they typed
    # The lead first: its owner, most often who acts, comes with it (one round trip less).
    lead = lifecycle.find_lead(uow, ref)
    person = lifecycle.person_of(uow, actor)
    lifecycle.follow_up(uow, deps, person, lead, source="command", note=note.strip() or None)
    uow.commit()
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    return Reply.say(_followed_up_text(lead, timezone_of(owner, deps.config)))


def reassign_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing reassign <lead> <person>``: a manager gives a lead to someone else."""
    words = args.split()
    if len(words) != 2:
        raise Invalid(
            "Usage: `/smarketing reassign <lead> <person>` — the lead's CRM id or email, then the "
            "new owner's key or email (e.g. `ben`)."
        )
    person = lifecycle.person_of(uow, actor)
    lead = lifecycle.find_lead(uow, words[0])
    new_owner = uow.people.by_key(words[1].lower()) or uow.people.by_email(words[1])
    if new_owner is None:
        raise NotFound(f"I don't know anyone called '{words[1][:60]}': use their key (like `ben`) or email.")
    reply = lifecycle.reassign(uow, deps, person, lead, new_owner)
    uow.commit()
    return reply


def leads_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing leads [page]``: my qualified leads, most urgent first, with time left."""
    person = lifecycle.person_of(uow, actor)
    words = args.split()
    # Past the last page means the last page; a page number is read no further than MAX_PAGE.
    page = min(int(words[0][:9]), MAX_PAGE) if words and words[0].isascii() and words[0].isdigit() else 1
    page = max(page, 1)
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
        left = views.time_left_text(hours_left(deps.config, now, due, tz)) if due else "no SLA running"
        lines.append(
            views.LeadLine(
                views.LeadCard.of(lead), left, views.when(due, tz) if due else None, bool(due and due <= now), snoozed
            )
        )
    return Reply(message=views.my_leads(lines, page=page, pages=pages, total=total))


def _followed_up_text(lead: Lead, tz: str) -> str:
    text = f"Logged your follow-up on {views.LeadCard.of(lead).plain}."
    if lead.status == "qualified" and lead.sla_due_at:
        text += f" Next follow-up due by {views.when(lead.sla_due_at, tz)}."
    return text


FLOW = Flow(
    name="cooling",
    commands={"touch": touch_command, "leads": leads_command, "reassign": reassign_command},  # `sla`: scoreboard
    read_only=frozenset({"leads"}),
    actions={"cooling.follow_up": follow_up_button, "cooling.snooze": snooze_button, "cooling.claim": claim_button},
    events={"lead.upserted": leads_upserted, "lead.qualified": leads_qualified, "lead.touched": leads_touched},
    jobs={"cooling": cooling_job},
    help=[
        ("touch <lead> [note]", "log a follow-up on a lead (it satisfies the running SLA clock)"),
        ("leads [page]", "your qualified leads, most urgent first, with time left"),
        ("reassign <lead> <person>", "give a lead to someone else in sales (managers and admins; its clock runs on)"),
    ],
)
