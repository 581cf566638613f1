"""One lead lifecycle: every transition of a lead, who may make it, and what it tells people.

The transitions: **hand off** (the lead meets the shared definition, or the CRM qualifies it),
**claim** (an unowned lead), **reassign** (a new owner; neither clock restarts), **follow up**,
**snooze**, **escalate** (the ladder, run by the ``cooling`` job), **bounce** (back to marketing),
**send back** (marketing returns it to sales), **re-qualify** (the CRM does), **convert** (its deal
closed won). The flows (``cooling``, ``bounce``, ``wins``, the CRM events) only parse and call
these; storage holds no rule of its own.

Each transition checks its one permission rule (``may``, one table), changes the lead, bumps
``lead.version``, records a ``LeadEvent`` (what, by whom, when, who owned the lead), and then,
through ``handlers.notify``, queues the new messages it causes and updates in place every
message that still follows the lead. Buttons carry the lead's version: a press on a message
from before the last transition does nothing and is told what happened instead ("Ana Torres
bounced this lead to marketing at 10:05"). Transitions the CRM should hear about are sent as
one neutral event each (``emit``, when ``outbound_webhook`` is configured).
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from handlers import bounce_messages
from handlers import cooling_messages as views
from handlers import notify, policy
from handlers.errors import Invalid, NotAllowed, NotFound, UserError
from handlers.messages import Reply
from handlers.review_messages import reviewable
from handlers.ports import Actor, Deps, UnitOfWork, channel, dm, row_id, webhook
from handlers.sla import (
    CADENCE,
    STEPS,
    StepTimes,
    cadence_days,
    calendar,
    hours_left,
    new_window,
    qualification,
    sla_hours,
    stopped,
    timezone_of,
)
from handlers.ports import Bounce, BounceFacts, Lead, Person

log = logging.getLogger(__name__)

WITH_SALES = "qualified"
TRANSITIONS = ("handoff", "claim", "reassign", "follow_up", "snooze", "bounce", "send_back", "requalify", "convert")


# --- who may do what: one rule per action ----------------------------------------------------

# action: (who may, besides an admin; what the refusal calls the action)
RULES = {
    "follow_up": ("owner", "follow up on this lead"),  # the owner or their manager; a sales manager if unowned
    "snooze": ("owner", "snooze this lead"),
    "bounce": ("owner", "bounce this lead back to marketing"),
    "reassign": ("manager", "reassign this lead"),  # the owner's manager; a sales manager if nobody owns it
    "claim": ("sales", "claim this lead"),  # anyone in sales, while nobody owns the lead
    "send_back": ("marketing", "send this lead back to sales"),
    "acknowledge": ("marketing", "acknowledge this bounce"),
}


def may(action: str, person: Person, lead: Lead | None, owner: Person | None) -> bool:
    """Whether ``person`` may make this transition of ``lead`` (owned by ``owner``)."""
    who, _ = RULES[action]
    if person.is_admin:
        return True
    if who == "sales":
        return person.team == "sales"
    if who == "marketing":
        return person.team == "marketing"
    sales_manager = person.team == "sales" and person.role == "manager"
    if owner is None:
        return sales_manager
    if who == "manager":
        return person.id == owner.manager_id
    return person.id in (owner.id, owner.manager_id)


def check(uow: UnitOfWork, action: str, person: Person, lead: Lead | None, owner: Person | None) -> None:
    """``may``, or ``NotAllowed`` saying who can."""
    if may(action, person, lead, owner):
        return
    who, verb = RULES[action]
    if who == "sales":
        raise NotAllowed("Only the sales team can claim leads.")
    if who == "marketing":
        raise NotAllowed("Only marketing (or an admin) can acknowledge a bounce or send the lead back to sales.")
    if owner is None:
        if person.team == "sales" and action != "reassign":
            raise NotAllowed("Nobody owns this lead yet: claim it first (its Claim button is in the sales channel).")
        raise NotAllowed(f"This lead has no owner, so only a sales manager or an admin can {verb}.")
    manager = uow.people.get(owner.manager_id) if owner.manager_id else None
    first = owner.name.split()[0]
    if who == "manager":
        whom = f"{manager.name} ({first}'s manager)" if manager else f"{first}'s manager"
        raise NotAllowed(f"Only {whom} or an admin can {verb}.")
    whom = f"{owner.name} (its owner), " + (f"{manager.name} ({first}'s manager)" if manager else "their manager")
    raise NotAllowed(f"Only {whom} or an admin can {verb}.")


def find_lead(uow: UnitOfWork, ref: str) -> Lead:
    """The one lead a person means by a CRM id or an email, locked for the command that acts on
    it (``touch``, ``bounce``, ``reassign``): one statement finds and locks it."""
    leads = uow.leads.find(ref, for_update=True)
    if not leads:
        raise NotFound(bounce_messages.no_lead_text(ref))
    if len(leads) > 1:
        raise NotFound(bounce_messages.several_leads_text(ref, leads))
    return leads[0]


def person_of(uow: UnitOfWork, actor: Actor) -> Person:
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise NotAllowed(
            "I don't know who you are yet: ask an admin to add you (with your work email) to the Smarketing config."
        )
    if not person.active:
        raise NotAllowed(
            "Your account is marked as having left the company (the CRM or the chat directory "
            "says so), so I can't act for you. Ask an admin if this is wrong."
        )
    return person


# --- plain words -----------------------------------------------------------------------------


def status_words(status: str) -> str:
    return views.STATUS_WORDS.get(status, "not with sales")


def last_event(uow: UnitOfWork, lead: Lead) -> dict | None:
    event = uow.leads.last_events([lead.id], TRANSITIONS).get(lead.id)
    return event.model_dump() if event else None


def what_happened(uow: UnitOfWork, deps: Deps, lead: Lead) -> str:
    """The lead's last transition in plain words, with names (for answers to one person)."""
    event = last_event(uow, lead)
    if event is None:
        return f"it is {status_words(lead.status)} now"
    ids = {i for i in (event.get("by_person_id"), (event.get("detail") or {}).get("to"), lead.owner_id) if i}
    people = uow.people.many(ids)
    tz = timezone_of(people.get(lead.owner_id) if lead.owner_id else None, deps.config)
    return notify.describe(event, people, tz, mentions=False)


def require_with_sales(uow: UnitOfWork, deps: Deps, lead: Lead, doing: str) -> None:
    """The lead is sales' to work, or ``Invalid`` saying where it is and why, in plain words."""
    if lead.status == WITH_SALES:
        return
    label = views.LeadCard.of(lead).plain
    if lead.status in ("new", "disqualified"):
        raise Invalid(f"{label} is {status_words(lead.status)}, so there is nothing to {doing}.")
    raise Invalid(
        f"{label} is {status_words(lead.status)} ({what_happened(uow, deps, lead)}), so there is nothing to {doing}."
    )


# --- a button press --------------------------------------------------------------------------


@dataclass
class Press:
    lead: Lead
    person: Person
    owner: Person | None
    rest: str  # what the button's value says after the lead (a snooze length)


def parse_ref(value: str) -> tuple[int | None, int | None, str]:
    """A button's value: ``<lead id>@<version>[:<more>]`` (older messages: without the version)."""
    head, _, rest = (value or "").strip().partition(":")
    lead_id, _, version = head.partition("@")
    return row_id(lead_id), (row_id(version) if version != "0" else 0), rest


class OutOfDate(UserError):
    """A button pressed on a message from before the lead's last transition."""


def pressed(uow: UnitOfWork, deps: Deps, actor: Actor, value: str) -> Press:
    """The lead a button names, locked, and who pressed it; ``OutOfDate`` when the lead has
    changed since the message was shown (nothing is done: the person is told what happened,
    and the message has been, or is being, updated in place)."""
    person = person_of(uow, actor)
    lead_id, version, rest = parse_ref(value)
    lead = uow.leads.get_for_update(lead_id) if lead_id else None
    if lead is None:
        raise NotFound("That lead is gone from Smarketing; the message is out of date.")
    if version is not None and version != lead.version:
        raise OutOfDate(
            f"{what_happened(uow, deps, lead)}. This message is out of date; it now shows where the lead stands."
        )
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    return Press(lead, person, owner, rest)


# --- recording a transition ------------------------------------------------------------------


def _event(lead, kind: str, by_id: int | None, at: datetime, **detail) -> dict:
    lead.version = (lead.version or 0) + 1
    return dict(
        lead_id=lead.id,
        version=lead.version,
        kind=kind,
        by_person_id=by_id,
        owner_id=lead.owner_id,
        at=at,
        detail={k: v for k, v in detail.items() if v is not None},
    )


def _done(uow: UnitOfWork, deps: Deps, lead: Lead, event: dict, settle) -> None:
    """Write the lead and its event; update every message still following it."""
    lead.updated_at = deps.now()
    uow.leads.add(lead)
    uow.leads.add_events([event])
    notify.refresh(uow, deps, [(lead, event)], settle=settle)


def emit(uow: UnitOfWork, deps: Deps, type_: str, *, key: str, lead, at: datetime, data: dict) -> None:
    """One neutral event for the CRM (``lead.bounced``, ``lead.requalified``, ``lead.followed_up``),
    queued for ``webhook:crm`` when a CRM writeback is configured (a connector such as HubSpot writes
    it, or the outbound webhook posts it). The caller commits."""
    if not deps.writes_to_crm():
        return
    payload = {
        "id": key,
        "type": type_,
        "occurred_at": at.isoformat(),
        "data": {"lead_id": lead.crm_id, "email": lead.email, **data},
    }
    uow.outbox.add(key=f"webhook:{key}", destination=webhook(), op="webhook", payload=payload, at=at)


def _email(uow: UnitOfWork, person_id: int | None) -> str | None:
    person = uow.people.get(person_id) if person_id else None
    return person.email if person else None


# --- hand off (and re-qualify, send back) ----------------------------------------------------


def handed_off(
    uow: UnitOfWork,
    deps: Deps,
    rows: list[dict],
    *,
    people: dict[int, Person] | None = None,
    requalified: AbstractSet[int] = frozenset(),
) -> None:
    """Leads (column dicts with ``id``, their qualification fields and bumped ``version`` already
    written) handed to sales by the CRM: their events, the end of anything still shown about
    them (a bounced lead's marketing post), and the handoff DM (or the Claim post)."""
    if not rows:
        return
    if requalified:
        uow.bounces.mark_requalified(lead_ids=requalified, at=deps.now())
    events = [
        dict(
            lead_id=r["id"],
            version=r["version"],
            kind="requalify" if r["id"] in requalified else "handoff",
            by_person_id=None,
            owner_id=r.get("owner_id"),
            at=r["qualified_at"],
            detail={},
        )
        for r in rows
    ]
    uow.leads.add_events(events)
    notify.refresh(uow, deps, [(SimpleNamespace(**r), e) for r, e in zip(rows, events)], settle=notify.ALL)
    _send_handoffs(uow, deps, rows, people=people)


def requalify(
    uow: UnitOfWork, deps: Deps, by: Person, lead: Lead, *, kind: str = "send_back", note: str | None = None
) -> None:
    """Put a lead back in sales (marketing's *Send back to sales*): qualified, a new first-touch
    window, the handoff DM with its bounce history. The caller commits."""
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    now = deps.now()
    for k, v in qualification(
        lead.model_dump(), at=now, tz=timezone_of(owner, deps.config), config=deps.config
    ).items():
        setattr(lead, k, v)
    event = _event(lead, kind, by.id if by else None, now)
    _done(uow, deps, lead, event, notify.ALL)
    _send_handoffs(
        uow,
        deps,
        [lead.model_dump()],
        requalified_by=by.id if by else None,
        note=note,
        people={owner.id: owner} if owner else {},
    )


def _send_handoffs(
    uow: UnitOfWork,
    deps: Deps,
    leads: list[dict],
    *,
    requalified_by: int | None = None,
    note: str | None = None,
    people: dict[int, Person] | None = None,
    reassigned: bool = False,
) -> None:
    """The handoff DM of each lead (column dicts), or the Claim post for a lead nobody owns."""
    config = deps.config
    owner_ids = {lead["owner_id"] for lead in leads if lead.get("owner_id")}
    if people is None or not owner_ids <= people.keys():
        people = {**(people or {}), **uow.people.many(owner_ids)}
    campaigns = uow.campaigns.briefs(lead["source_campaign_id"] for lead in leads if lead.get("source_campaign_id"))
    bounces = uow.bounces.for_leads(lead["id"] for lead in leads)
    sales = config.team_channel("sales") or ""
    out = []
    for lead in leads:
        owner = people.get(lead["owner_id"]) if lead.get("owner_id") else None
        if owner is None and not sales:
            continue
        tz = timezone_of(owner, config)
        campaign = campaigns.get(lead["source_campaign_id"]) if lead.get("source_campaign_id") else None
        history = [
            views.BounceLine(b.at, config.reason_label(b.reason) or b.reason, b.by_person_id, b.note)
            for b in bounces.get(lead["id"], [])
        ]
        payload = views.handoff(
            views.LeadCard.of(lead),
            owner_id=owner.id if owner else None,
            tier=lead["tier"],
            hours=sla_hours(lead["tier"], config),
            due=views.when(lead["sla_due_at"], tz),
            campaign=campaign.name if campaign else None,
            bounces=history,
            tz=tz,
            requalified_by=requalified_by,
            note=note,
            reassigned=reassigned,
        )
        step = f"reassign{lead['version']}" if reassigned else "handoff"
        out.append(
            dict(
                key=f"cooling:{lead['id']}:{lead['sla_window']}:{step}",
                payload=payload,
                destination=dm(owner.id) if owner else channel(sales),
                role="handoff" if owner else "claim",
                subject=lead["id"],
                version=lead["version"],
            )
        )
    notify.send_many(uow, deps, out)


# --- claim and reassign ----------------------------------------------------------------------


def claim(uow: UnitOfWork, deps: Deps, person: Person, lead: Lead) -> Reply:
    """*Claim*: an unowned lead becomes the person's; the first claim wins (the lead is locked)."""
    check(uow, "claim", person, lead, None)
    label = views.LeadCard.of(lead).plain
    if lead.owner_id == person.id:
        return Reply.say(f"{label} is already yours.")
    if lead.owner_id:
        holder = uow.people.get(lead.owner_id)
        return Reply.say(f"Already claimed by {holder.name if holder else 'someone else'}.")
    require_with_sales(uow, deps, lead, "claim")
    now = deps.now()
    lead.owner_id, lead.owner_email = person.id, person.email
    lead.claimed_at = now  # the end of its wait for an owner (the scoreboard)
    _done(uow, deps, lead, _event(lead, "claim", person.id, now), {"claim"})
    tz = timezone_of(person, deps.config)
    due = f" Follow up by {views.when(lead.sla_due_at, tz)}." if lead.sla_due_at and lead.sla_due_at > now else ""
    return Reply.say(f"{label} is yours.{due}")


def reassign(uow: UnitOfWork, deps: Deps, by: Person, lead: Lead, new_owner: Person) -> Reply:
    """A manager (or an admin) gives a lead to someone else; neither clock restarts."""
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    check(uow, "reassign", by, lead, owner)
    require_with_sales(uow, deps, lead, "reassign")
    label = views.LeadCard.of(lead).plain
    if new_owner.id == lead.owner_id:
        return Reply.say(f"{label} is already {new_owner.name}'s.")
    if new_owner.team != "sales":
        raise Invalid(f"{new_owner.name} is not in sales; give the lead to someone in the sales team.")
    lead.owner_id, lead.owner_email = new_owner.id, new_owner.email
    event = _event(lead, "reassign", by.id, deps.now(), to=new_owner.id, **{"from": owner.id if owner else None})
    _done(uow, deps, lead, event, notify.ALL)
    _send_handoffs(uow, deps, [lead.model_dump()], people={new_owner.id: new_owner}, reassigned=True)
    assert lead.sla_due_at is not None  # a lead with sales has its clock running (require_with_sales)
    return Reply.say(
        f"{label} is {new_owner.name}'s now; its clock runs on (due "
        f"{views.when(lead.sla_due_at, timezone_of(new_owner, deps.config))})."
    )


def owner_left(uow: UnitOfWork, deps: Deps, person: Person, manager: Person | None) -> list[Lead]:
    """The owner left (``handlers.directory.left``): each of their open leads goes to their
    manager's queue (reassigned, its clocks running on; the manager is told once, by the caller,
    not per lead), or with no manager to the sales channel's Claim post. Returns the leads."""
    leads, _ = uow.leads.qualified_for_owner(person.id, limit=10_000)
    leads = list(uow.leads.many_for_update([lead.id for lead in leads]).values())
    now = deps.now()
    for lead in leads:
        if manager is not None:
            lead.owner_id, lead.owner_email = manager.id, manager.email
        else:
            lead.owner_id = None
        event = _event(
            lead, "reassign", None, now, to=manager.id if manager else None, **{"from": person.id}, reason="left"
        )
        _done(uow, deps, lead, event, notify.ALL)
    if manager is None and leads:
        _send_handoffs(uow, deps, [lead.model_dump() for lead in leads], reassigned=True)
    return leads


def reassigned_in_crm(uow: UnitOfWork, deps: Deps, rows: list[dict], before: dict[int, int | None]) -> None:
    """The CRM gave qualified leads (column dicts, ``version`` bumped) new owners."""
    if not rows:
        return
    now = deps.now()
    events = [
        dict(
            lead_id=r["id"],
            version=r["version"],
            kind="reassign",
            by_person_id=None,
            owner_id=r.get("owner_id"),
            at=now,
            detail={"to": r.get("owner_id"), "from": before.get(r["id"])},
        )
        for r in rows
    ]
    uow.leads.add_events(events)
    notify.refresh(uow, deps, [(SimpleNamespace(**r), e) for r, e in zip(rows, events)], settle=notify.ALL)
    _send_handoffs(uow, deps, rows, reassigned=True)


# --- follow up and snooze --------------------------------------------------------------------


def follow_up(uow: UnitOfWork, deps: Deps, by: Person, lead: Lead, *, source: str, note: str | None = None) -> None:
    """A follow-up logged in chat (the button, ``/smarketing touch``): it satisfies the clock
    that runs, and the cadence runs from it. The caller commits."""
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    check(uow, "follow_up", by, lead, owner)
    require_with_sales(uow, deps, lead, "follow up on")
    at = deps.now()
    uow.leads.add_touches([dict(lead_id=lead.id, person_id=by.id, source=source, note=note, occurred_at=at)])
    event = _touched(lead, by.id, at, timezone_of(owner, deps.config), deps.config)
    if event is not None:
        _done(uow, deps, lead, event, notify.ALERTS)
    else:
        uow.leads.add(lead)
    emit(
        uow,
        deps,
        "lead.followed_up",
        key=f"lead:{lead.id}:followed_up:{lead.touch_count}",
        lead=lead,
        at=at,
        data={"by_email": by.email, "by_name": by.name, "note": note, "source": source, "status": lead.status},
    )


def followed_up_in_crm(
    uow, deps: Deps, touches: list[tuple[Lead, int | None, datetime]], owners: dict[int, Person]
) -> None:
    """``lead.touched`` events (lead, by person id, when), in order."""
    changed: dict[int, tuple[Lead, dict]] = {}
    events = []
    for lead, by_id, at in touches:
        event = _touched(
            lead, by_id, at, timezone_of(owners.get(lead.owner_id) if lead.owner_id else None, deps.config), deps.config
        )
        lead.updated_at = deps.now()
        if event is not None:
            events.append(event)
            changed[lead.id] = (lead, event)
    uow.leads.add_events(events)
    notify.refresh(uow, deps, changed.values(), settle=notify.ALERTS)


def _touched(lead: Lead, by_id: int | None, at: datetime, tz: str, config) -> dict | None:
    """Count a follow-up; while the lead is sales', it satisfies the running clock and starts
    the cadence from ``at``. Returns the transition's event (None: nothing to move)."""
    lead.touch_count = (lead.touch_count or 0) + 1
    lead.last_touch_at = max(lead.last_touch_at or at, at)
    if lead.status != WITH_SALES or not lead.qualified_at or at < lead.qualified_at:
        return None  # not (yet) sales' lead: noted, but there is no clock
    if lead.sla_started_at is not None and at < lead.sla_started_at:
        return None  # a late, older touch moves nothing
    if lead.first_touch_at is None:
        lead.first_touch_at = at
    for k, v in new_window(lead.model_dump(), start=at, tz=tz, config=config, clock=CADENCE).items():
        setattr(lead, k, v)
    return _event(lead, "follow_up", by_id, at)


def snooze(uow: UnitOfWork, deps: Deps, by: Person, lead: Lead, length: str) -> Reply:
    """*Snooze 1 hour* / *Snooze until tomorrow*: the ladder pauses until then (counted)."""
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    check(uow, "snooze", by, lead, owner)
    require_with_sales(uow, deps, lead, "snooze")
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
    _done(
        uow,
        deps,
        lead,
        _event(lead, "snooze", by.id, now, until=until.isoformat(), until_text=views.when(until, tz)),
        frozenset(),
    )
    return Reply.say(f"Snoozed until {views.when(until, tz)}. I'll remind you then.")


# --- escalate: the ladder --------------------------------------------------------------------


def escalate_due(uow: UnitOfWork, deps: Deps, *, limit: int) -> tuple[int, int]:
    """One chunk of the ``cooling`` job: find up to ``limit`` due leads (one indexed query),
    queue their ladder steps under unique keys, move each lead's ``next_alert_at`` on.
    Returns (leads, alerts queued)."""
    now = deps.now()
    due = uow.leads.due(now=now, limit=limit)
    if not due:
        return 0, 0
    messages = plan_alerts(uow, deps, due, now=now)
    uow.leads.update_ladders(due)
    posts = [m for m in messages if m.get("op") != "update"]
    fired = notify.send_many(uow, deps, posts)  # the unique key: each step once per window
    updates = [m for m in messages if m.get("op") == "update"]
    fired |= uow.outbox.add_many(updates, at=now) if updates else set()
    return len(due), len(fired)


def plan_alerts(uow: UnitOfWork, deps: Deps, due: list[dict], *, now: datetime) -> list[dict]:
    """The messages the due leads' ladders fire now (keyed ``cooling:{lead}:{window}:{step}``);
    each lead's ladder state in ``due`` is moved on as a side effect. A lead nobody owns has one
    Claim post: at breach it becomes the escalation, updated in place."""
    people = uow.people.many(lead["owner_id"] for lead in due if lead["owner_id"])
    people.update(uow.people.many(p.manager_id for p in people.values() if p.manager_id and p.manager_id not in people))
    claims: dict[int, Any] | None = None
    messages = []
    for lead in due:
        for step, role, destination, payload in _advance(lead, people, now, deps.config):
            key = f"cooling:{lead['id']}:{lead['sla_window']}:{step}"
            if role == "claim":
                if claims is None:
                    unowned = [d["id"] for d in due if not d["owner_id"]]
                    claims = {
                        int(r.subject.split(":")[1]): r
                        for r in uow.outbox.about(notify.subject_of(i) for i in unowned)
                        if r.role == "claim"
                    }
                post = claims.get(lead["id"])
                if post is not None:  # the same Claim post, now the escalation
                    messages.append(
                        dict(
                            key=f"{post.key}:breach{lead['sla_window']}",
                            op="update",
                            target_key=post.key,
                            destination=post.destination,
                            payload=payload,
                        )
                    )
                    continue
            messages.append(
                dict(
                    key=key,
                    destination=destination,
                    payload=payload,
                    role=role,
                    subject=lead["id"],
                    version=lead["version"],
                    urgent=policy.is_urgent(deps.config, role, lead.get("tier")),
                )
            )
    return messages


def _advance(lead: dict, people: dict[int, Person], now: datetime, config) -> list[tuple[str, str, str, dict]]:
    """Move the lead's ladder to ``now``: the steps that fire (step, role, destination, payload);
    ``ladder_step``, ``next_alert_at`` and ``snoozed_until`` updated in ``lead``."""
    owner = people.get(lead["owner_id"])
    manager = people.get(owner.manager_id) if owner and owner.manager_id else None
    tz = timezone_of(owner, config)
    if lead["sla_due_at"] is None or lead["sla_started_at"] is None:  # no clock: nothing to chase
        lead["next_alert_at"] = lead["snoozed_until"] = None
        return []
    times = StepTimes(lead, tz, config)
    reminder = lead["snoozed_until"] is not None  # it is due, so the snooze has ended
    lead["snoozed_until"] = None
    first = step = lead["ladder_step"]
    while step < 4 and times[step + 1] <= now:
        step += 1
    fired = list(STEPS[first:step])
    if "breach" in fired and "warn" in fired:
        fired.remove("warn")  # a warning after the breach says nothing new
    lead["ladder_step"] = step
    lead["next_alert_at"] = times[step + 1] if step < 4 else None
    if reminder and owner and "breach" not in fired:
        fired.append(f"snooze{lead['snooze_count']}")
    return [out for name in fired for out in _messages(name, lead, owner, manager, now, tz, config)]


def _messages(
    step: str, lead: dict, owner: Person | None, manager: Person | None, now: datetime, tz: str, config
) -> list[tuple[str, str, str, dict]]:
    card, ladder, sales = views.LeadCard.of(lead), config.sla.ladder, config.team_channel("sales")
    due = views.when(lead["sla_due_at"], tz)
    cadence = None
    if lead.get("sla_clock") == CADENCE:
        days = cadence_days(lead["tier"], config)
        cadence = f"{days:g} business day" + ("" if days == 1 else "s")
    if owner is None:  # nobody to DM: the Claim post turns into the escalation
        if step == "breach" and sales:
            return [(step, "claim", channel(sales), views.unclaimed(card, due=due))]
        return []
    if step == "warn":
        left = views.time_left_text(hours_left(config, now, lead["sla_due_at"], tz))
        return [(step, "warn", dm(owner.id), views.warning(card, left=left, due=due, cadence=cadence))]
    if step == "breach" or step.startswith("snooze"):
        return [
            (
                step,
                "breach" if step == "breach" else "reminder",
                dm(owner.id),
                views.breach(
                    card, due=due, snooze_hours=ladder.snooze_hours, reminder=step != "breach", cadence=cadence
                ),
            )
        ]
    if step == "manager" and manager:
        return [
            (
                step,
                "manager",
                dm(manager.id),
                reviewable(
                    config,
                    views.to_manager(
                        card,
                        owner_id=owner.id,
                        due=due,
                        snooze_count=lead["snooze_count"],
                        snooze_hours=ladder.snooze_hours,
                        cadence=cadence,
                    ),
                    f"{card.plain}: SLA breached",
                ),
            )
        ]
    if step == "channel" and sales:
        return [
            (
                step,
                "channel",
                channel(sales),
                reviewable(
                    config,
                    views.to_channel(
                        card, owner_id=owner.id, due=due, snooze_count=lead["snooze_count"], cadence=cadence
                    ),
                    f"{card.plain}: SLA breached",
                ),
            )
        ]
    return []


# --- bounce and send back --------------------------------------------------------------------


def bounce(uow: UnitOfWork, deps: Deps, by: Person, lead: Lead, *, reason: str, note: str | None) -> Bounce:
    """Back to marketing: nurture, the clock stopped, the bounce recorded, every message about
    the lead updated, the marketing channel told and (when configured) the CRM. The caller commits."""
    at = deps.now()
    facts = uow.bounces.facts(lead_id=lead.id, reason=reason, since=lead.qualified_at)
    repeat = facts.repeat
    context = bounce_context(uow, lead, at, facts)
    # The bounce is stored (and given its id) before the lead changes: the lead is then written
    # once, with its event, not once here and again for its version.
    record = uow.bounces.create(
        lead_id=lead.id,
        campaign_id=lead.source_campaign_id,
        reason=reason,
        note=note,
        by_person_id=by.id if by else None,
        at=at,
        repeat=repeat,
        context=context,
    )
    for k, v in stopped().items():
        setattr(lead, k, v)
    lead.status = "nurture"
    lead.bounce_count = (lead.bounce_count or 0) + 1
    label = deps.config.reason_label(reason)
    _done(
        uow,
        deps,
        lead,
        _event(lead, "bounce", by.id if by else None, at, reason=reason, reason_label=label, bounce_id=record.id),
        notify.ALL,
    )
    marketing = deps.config.team_channel("marketing")
    if marketing:
        from handlers.bounce_messages import post_for

        notify.send(
            uow,
            deps,
            to=channel(marketing),
            role="bounce_post",
            subject=lead.id,
            key=f"bounce:{record.id}:post",
            payload=post_for(record, label or reason, deps.config).to_json(),
        )
    emit(
        uow,
        deps,
        "lead.bounced",
        key=f"bounce:{record.id}:bounced",
        lead=lead,
        at=at,
        data={
            "bounce_id": record.id,
            "reason": reason,
            "reason_label": label,
            "note": note,
            "by_email": by.email if by else None,
            "repeat": repeat,
            "bounce_count": lead.bounce_count,
            "status": lead.status,
            "campaign_id": context.get("campaign_crm_id"),
        },
    )
    return record


def send_back(uow: UnitOfWork, deps: Deps, by: Person, record: Bounce) -> Reply | None:
    """*Send back to sales* on the marketing post: the lead is qualified again, with its bounce
    history in the handoff, and the CRM is told."""
    check(uow, "send_back", by, None, None)
    lead = uow.leads.get_for_update(record.lead_id)
    if lead is None:
        raise NotFound("That lead is no longer here.")
    now = deps.now()
    if record.requalified_at or lead.status != "nurture":
        where = what_happened(uow, deps, lead)  # its marketing post already says so
        uow.bounces.mark_requalified(lead_ids=[lead.id], at=now)
        uow.commit()
        return Reply.say(
            f"{views.LeadCard.of(lead).plain} is {status_words(lead.status)} ({where}); nothing to send back."
        )
    uow.bounces.mark_requalified(lead_ids=[lead.id], at=now, by_person_id=by.id)
    requalify(uow, deps, by, lead)
    emit(
        uow,
        deps,
        "lead.requalified",
        key=f"bounce:{record.id}:requalified",
        lead=lead,
        at=now,
        data={"bounce_id": record.id, "by_email": by.email, "status": lead.status},
    )
    uow.commit()
    return None


def bounce_context(uow: UnitOfWork, lead: Lead, at: datetime, facts: BounceFacts | None = None) -> dict:
    """What the marketing post and the bounce form show about the lead, as of ``at``; ``facts``:
    ``uow.bounces.facts`` for this lead, when the caller has them. Follow-ups count from the
    lead's qualification."""
    campaign = uow.campaigns.get(lead.source_campaign_id) if lead.source_campaign_id else None
    if facts is None:
        facts = uow.bounces.facts(lead_id=lead.id, reason=None, since=lead.qualified_at)
    return {
        "name": lead.name or lead.email or lead.crm_id,
        "crm_id": lead.crm_id,
        "email": lead.email,
        "company": lead.company,
        "title": lead.title,
        "score": lead.score,
        "owner_id": lead.owner_id,
        "campaign_name": campaign.name if campaign else None,
        "campaign_crm_id": campaign.crm_id if campaign else None,
        "campaign_owner_id": campaign.owner_id if campaign else None,
        "days_in_sales": (at - lead.qualified_at).total_seconds() / 86400 if lead.qualified_at else None,
        "follow_ups": facts.follow_ups or lead.touch_count or 0,
        "last_follow_up_at": facts.last_follow_up_at.isoformat() if facts.last_follow_up_at else None,
        "bounce_number": (lead.bounce_count or 0) + 1,
    }


# --- convert ---------------------------------------------------------------------------------


def convert(uow: UnitOfWork, deps: Deps, deals: dict[int, str]) -> int:
    """Won deals (lead id -> deal name) convert their leads: customers now, the SLA stopped, every
    message about them updated. Returns how many leads converted."""
    leads = uow.leads.many_for_update(deals)
    now = deps.now()
    changes = []
    for lead in leads.values():
        if lead.status == "converted":
            continue
        was_with_sales = lead.status
        for k, v in stopped().items():
            setattr(lead, k, v)
        lead.status, lead.updated_at = "converted", now
        changes.append((lead, _event(lead, "convert", None, now, deal=deals.get(lead.id), was=was_with_sales)))
    if changes:
        uow.leads.add_events([e for _, e in changes])
        notify.refresh(uow, deps, changes, settle=notify.ALL)
    return len(changes)
