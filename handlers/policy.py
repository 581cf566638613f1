"""The delivery policy: who hears what, and when, in one place (config ``delivery:``).

Every message to a person or a channel about a lead passes ``route`` (``handlers.notify`` calls it
after sending an absent person's messages on to whoever covers for them):

- **real time**: what someone must act on now: a handoff to them, a breach of their own lead (and
  its snooze reminders), a Claim, a bounce to marketing;
- **folded into a digest**: a rep's warnings (``warn: digest``) become their morning *today's
  follow-ups*; a manager's escalations (``manager: digest``) their morning digest of the team's
  at-risk leads with per-rep counts, except the ``urgent_tiers``' (real time); the ladder's last
  step (``channel: rollup``) one *at risk* roll-up per channel per day. Each of these is one post a
  day, updated in place by the ``digests`` job as leads are handled or fall behind;
- **quiet hours** (``quiet_hours: true``): nothing reaches a person outside their business hours in
  their timezone (a channel: its team's); it is held in the outbox until the next opening, except
  what is urgent. Someone away gets nothing (``handlers.notify`` sends it to their cover; the
  digests skip them).

``KINDS`` names every kind of message about a lead and which roles must get it in real time.

**A person's preferences** (``/smarketing prefs``, ``handlers/prefs.py``) come after the config's:
their own digest time, ``warn`` / ``manager`` one by one or in their digest, and kinds muted (not
sent to them at all). ``MUST_GET`` says what no preference silences: a handoff to you, a breach of
your own lead and its snooze reminder for everyone, a manager's escalations for a manager; what is
urgent is never muted nor folded. Without preferences of their own a person gets the config's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from handlers import cooling_messages as views
from handlers.messages import mention, moment
from handlers.ports import Deps, UnitOfWork, UowFactory, channel, dm
from handlers.registry import Flow, JobResult
from handlers.sla import calendar, timezone_of

log = logging.getLogger(__name__)

# kind -> what it is (the roles that must get it in real time are the ones it goes to)
KINDS = {
    "handoff": "a lead handed (or reassigned) to you",
    "breach": "a breach of your own lead",
    "reminder": "a snooze of yours ended",
    "claim": "a lead nobody owns, to claim",
    "warn": "a lead of yours about to breach",
    "manager": "a breached lead of your team (escalation)",
    "channel": "a lead past the ladder's last step",
    "bounce_post": "a lead bounced back to marketing",
}
REALTIME_ALWAYS = frozenset({"handoff", "breach", "reminder", "claim", "bounce_post"})
DIGEST_ROLE = "digest"  # the outbox role of the digests and roll-ups

# The kinds that come to a person (a DM); the others (claim, channel, bounce_post) are posted in a
# channel, which no one person's preferences change.
PERSONAL = ("handoff", "breach", "reminder", "warn", "manager")
# The kinds a person may have one by one (``realtime``) or folded into their morning digest.
FOLDABLE = ("warn", "manager")
CHOICES = ("digest", "realtime")
EVERYONE = "*"
# kind -> (the roles that must get it, why): a preference muting one of these is refused, and
# ``route`` delivers them whatever is stored. An urgent message is never muted either.
MUST_GET: dict[str, tuple[str | frozenset[str], str]] = {
    "handoff": (EVERYONE, "a lead handed to you is yours to act on now"),
    "breach": (EVERYONE, "a breach of your own lead is the alert you must act on"),
    "reminder": (EVERYONE, "the end of your snooze is the follow-up you asked for"),
    "manager": (
        frozenset({"manager"}),
        "a manager acts on their team's escalations (`/smarketing prefs manager "
        "digest` gets them once a day instead; urgent ones still come at once)",
    ),
}


def must_get(kind: str, role: str | None) -> str | None:
    """Why someone of ``role`` must get ``kind`` (None: they may mute it)."""
    roles, why = MUST_GET.get(kind, ((), ""))
    return why if roles == EVERYONE or (role or "") in roles else None


@dataclass(frozen=True)
class Prefs:
    """What applies to one person: the config's ``delivery:`` with their own choices over it.
    ``own`` names the settings that are theirs (``digest_time``, ``warn``, ``manager``, ``muted``)."""

    digest_time: time
    warn: str
    manager: str
    muted: frozenset[str]
    own: frozenset[str]

    def choice(self, kind: str) -> str:
        return getattr(self, kind)


def prefs_of(config, stored) -> Prefs:
    """The effective preferences from the config and a person's stored ones (a ``DeliveryPref``,
    or None: the config's alone)."""
    d = config.delivery
    own = set()
    if stored is not None:
        own = {name for name in ("digest_time", "warn", "manager") if getattr(stored, name) is not None}
        if stored.muted:
            own.add("muted")

    def pick(name: str, default):
        value = getattr(stored, name) if stored is not None else None
        return default if value is None else value

    return Prefs(
        digest_time=pick("digest_time", d.digest_time or config.business_hours.start),
        warn=pick("warn", d.warn),
        manager=pick("manager", d.manager),
        muted=frozenset(stored.muted or ()) if stored is not None else frozenset(),
        own=frozenset(own),
    )


def is_muted(prefs: Prefs | None, kind: str | None, role: str | None, *, urgent: bool = False) -> bool:
    """Whether a message of ``kind`` is not sent to this person at all: they muted it, and it is
    neither urgent nor something their role must get (``MUST_GET``)."""
    return prefs is not None and kind in prefs.muted and not urgent and must_get(kind, role) is None


# --- routing one message -----------------------------------------------------------------------


def is_urgent(config, role: str | None, tier: str | None) -> bool:
    """Urgent: an escalation to the manager of a lead in one of ``delivery.urgent_tiers``."""
    return role == "manager" and tier is not None and tier in config.delivery.urgent_tiers


def folded(config, role: str | None, *, urgent: bool = False, prefs: Prefs | None = None) -> bool:
    """Whether this kind goes into a digest or roll-up instead of a message of its own: the
    reader's choice (``prefs``) for ``warn`` and ``manager``, else the config's."""
    d = config.delivery
    if urgent:
        return False
    if role in FOLDABLE:
        return (prefs.choice(role) if prefs is not None else getattr(d, role)) == "digest"
    return role == "channel" and d.channel == "rollup"


def zone_of(config, destination: str, people: dict) -> str:
    """The timezone a destination reads in: a person's, or a channel's team's."""
    kind, _, name = destination.partition(":")
    if kind == "dm" and name.isdigit():
        return timezone_of(people.get(int(name)), config)
    for tc in config.teams.values():
        if tc.channel == name:
            return tc.timezone
    return config.team_timezone("sales")


def held_until(config, destination: str, people: dict, now: datetime, *, urgent: bool) -> datetime | None:
    """When a message to ``destination`` queued now may go out: None (now), or the next opening
    of the reader's business hours (quiet hours)."""
    if urgent or not config.delivery.quiet_hours:
        return None
    tz = zone_of(config, destination, people)
    cal = calendar(config, tz)
    if cal.is_business_time(now, tz):
        return None
    return cal.next_opening(now, tz)


def route(uow: UnitOfWork, deps: Deps, rows: list[dict]) -> list[dict]:
    """The messages (outbox dicts with ``destination``, ``role``, optional ``urgent``) that go out
    as messages of their own, each with ``not_before`` when quiet hours hold it; the others are
    folded into a digest (the ``digests`` job shows them)."""
    config, now = deps.config, deps.now()
    ids = {pid for m in rows if (pid := _reader(m["destination"])) is not None}
    people = uow.people.many(ids) if ids else {}
    stored = uow.prefs.many(ids) if ids else {}
    out = []
    for m in rows:
        pid, kind, urgent = _reader(m["destination"]), m.get("role"), bool(m.get("urgent"))
        mine = prefs_of(config, stored.get(pid)) if pid is not None else None
        person = people.get(pid) if pid is not None else None
        if is_muted(mine, kind, person.role if person is not None else None, urgent=urgent):
            continue
        if not folded(config, kind, urgent=urgent, prefs=mine):
            out.append(m)
    for m in out:
        at = held_until(config, m["destination"], people, now, urgent=bool(m.get("urgent")))
        if at is not None:
            m["not_before"] = at
    return out


def _reader(destination: str) -> int | None:
    """The person a destination is (``dm:<id>``), else None (a channel)."""
    kind, _, name = destination.partition(":")
    return int(name) if kind == "dm" and name.isdigit() else None


# --- the digests --------------------------------------------------------------------------------


def _leads(n: int) -> str:
    return f"{n} lead" + ("" if n == 1 else "s")


def _today(cal, now: datetime, tz: str) -> date | None:
    """The reader's business day now (None: not a business day)."""
    day = now.astimezone(ZoneInfo(tz)).date()
    return day if cal.is_business_day(day) else None


def _opening(day: date, tz: str, prefs: Prefs) -> datetime:
    """When the reader's digest of ``day`` goes out: their digest time (their own, else the
    config's, else the start of business hours), in their timezone."""
    return datetime.combine(day, prefs.digest_time, ZoneInfo(tz))


def _closing(config, day: date, tz: str) -> datetime:
    return datetime.combine(day, config.business_hours.end, ZoneInfo(tz))


def _line(lead, tz: str, now: datetime, *, owner_id: int | None = None) -> str:
    card = views.LeadCard.of(lead)
    whose = f" ({mention(owner_id)}'s)" if owner_id else ""
    if lead.sla_due_at is None:
        return f"{card.label}{whose}: no clock running"
    if lead.sla_due_at <= now:
        return f"🔥 {card.label}{whose}: overdue since {moment(lead.sla_due_at, tz)}"
    return f"⏳ {card.label}{whose}: due by {moment(lead.sla_due_at, tz)}"


def _done_line(lead, before, tz: str) -> str:
    card = views.LeadCard.of(lead)
    if lead.status != "qualified":
        return f"✅ {card.label}: {views.STATUS_WORDS.get(lead.status, 'not with sales')}"
    if lead.last_touch_at:
        return f"✅ {card.label}: followed up at {moment(lead.last_touch_at, tz, 'time')}"
    return f"✅ {card.label}: no longer yours"


def _message(
    title: str,
    intro: str,
    open_leads: list,
    done: list,
    tz: str,
    now: datetime,
    max_leads: int,
    *,
    owners: bool = False,
) -> dict:
    blocks: list[dict] = [{"type": "header", "text": title}, {"type": "section", "text": intro}]
    for lead in open_leads[:max_leads]:
        blocks.append({"type": "section", "text": _line(lead, tz, now, owner_id=lead.owner_id if owners else None)})
        blocks.append(
            {
                "type": "actions",
                "buttons": [
                    {
                        "label": "Log follow-up",
                        "action": views.FOLLOW_UP,
                        "value": views.LeadCard.of(lead).ref,
                        "style": "primary",
                    }
                ],
            }
        )
    if len(open_leads) > max_leads:
        blocks.append({"type": "context", "text": f"… and {len(open_leads) - max_leads} more: `/smarketing leads`"})
    if done:
        blocks.append({"type": "context", "text": "\n".join(done[:max_leads])})
    if not open_leads:
        blocks.append({"type": "context", "text": "All handled. Nothing left for today."})
    return {"text": f"{title}: {len(open_leads)} open", "blocks": blocks}


def _publish(uow: UnitOfWork, now: datetime, key: str, destination: str, payload: dict, *, may_post: bool) -> int:
    """Post the day's message under ``key`` (when ``may_post``) or update it in place when what it
    says changed. Returns 1 when something was queued."""
    posted = uow.outbox.by_key(key)
    if posted is None:
        if not may_post:
            return 0
        return int(
            bool(
                uow.outbox.add_many([dict(key=key, destination=destination, payload=payload, role=DIGEST_ROLE)], at=now)
            )
        )
    current = uow.outbox.current_payload(key) or posted.payload
    if current == payload:
        return 0
    state = uow.kv.get_for_update(f"{key}:state", {"n": 0})
    n = int(state.get("n", 0)) + 1
    uow.kv.set(f"{key}:state", {**state, "n": n})
    return int(
        bool(
            uow.outbox.add_many(
                [dict(key=f"{key}:u{n}", op="update", target_key=key, destination=destination, payload=payload)], at=now
            )
        )
    )


def _listed(uow: UnitOfWork, key: str, ids: list[int]) -> list[int]:
    """The leads the day's message has listed so far (kept, so a handled one shows as done)."""
    state = uow.kv.get(f"{key}:leads") or {}
    seen = list(dict.fromkeys([*state.get("ids", []), *ids]))
    if seen != state.get("ids"):
        uow.kv.set(f"{key}:leads", {"ids": seen})
    return seen


def _digest_day(deps: Deps, reader, prefs: Prefs):
    """The reader's timezone, calendar and business day when their digest is due now (else None)."""
    now = deps.now()
    tz = timezone_of(reader, deps.config)
    cal = calendar(deps.config, tz)
    day = _today(cal, now, tz)
    if day is None or now < _opening(day, tz, prefs):
        return None
    return tz, cal, day


def _rep_digest(uow: UnitOfWork, deps: Deps, person, away: set[int], prefs: Prefs) -> int:
    config, now = deps.config, deps.now()
    if (due_now := _digest_day(deps, person, prefs)) is None:
        return 0
    tz, cal, day = due_now
    key = f"digest:followups:{person.id}:{day.isoformat()}"
    closing = _closing(config, day, tz)
    leads = list(uow.leads.open_for_owners([person.id]))
    due = [lead for lead in leads if lead.sla_due_at is not None and (lead.sla_due_at <= closing or lead.ladder_step)]
    state_ids = (uow.kv.get(f"{key}:leads") or {}).get("ids", [])
    if not due and not state_ids:
        return 0
    seen = _listed(uow, key, [lead.id for lead in due])
    open_ids = {lead.id for lead in due}
    earlier = uow.leads.many(i for i in seen if i not in open_ids)
    done = [_done_line(earlier[i], None, tz) for i in seen if i in earlier]
    overdue = sum(1 for lead in due if lead.sla_due_at is not None and lead.sla_due_at <= now)
    intro = (
        (
            f"{_leads(len(due))} to follow up today" + (f", {overdue} overdue" if overdue else "") + ". "
            "Each has its button; this message keeps itself up to date."
        )
        if due
        else "Nothing left to follow up today."
    )
    payload = _message(
        f"Today's follow-ups, {views.day(now, tz)}", intro, due, done, tz, now, config.delivery.digest_max_leads
    )
    return _publish(
        uow,
        now,
        key,
        dm(person.id),
        payload,
        may_post=bool(due) and person.id not in away and cal.is_business_time(now, tz),
    )


def _manager_digest(uow: UnitOfWork, deps: Deps, manager, reports: list, away: set[int], prefs: Prefs) -> int:
    config, now = deps.config, deps.now()
    if (due_now := _digest_day(deps, manager, prefs)) is None:
        return 0
    tz, cal, day = due_now
    key = f"digest:team:{manager.id}:{day.isoformat()}"
    names = {p.id: p.name for p in reports}
    opening = _opening(day, tz, prefs)
    # At risk: past the manager step of the ladder, or already breached when the day began.
    at_risk = [
        lead
        for lead in uow.leads.open_for_owners(names)
        if lead.sla_due_at is not None and (lead.ladder_step >= 3 or lead.sla_due_at <= opening)
    ]
    state_ids = (uow.kv.get(f"{key}:leads") or {}).get("ids", [])
    if not at_risk and not state_ids:
        return 0
    seen = _listed(uow, key, [lead.id for lead in at_risk])
    open_ids = {lead.id for lead in at_risk}
    earlier = uow.leads.many(i for i in seen if i not in open_ids)
    done = [_done_line(earlier[i], None, tz) for i in seen if i in earlier]
    counts: dict[int, int] = {}
    for lead in at_risk:
        if lead.owner_id is not None:  # always: they are these owners' leads
            counts[lead.owner_id] = counts.get(lead.owner_id, 0) + 1
    per_rep = ", ".join(f"{names[i]} {n}" for i, n in sorted(counts.items(), key=lambda kv: (-kv[1], names[kv[0]])))
    intro = (
        f"{len(at_risk)} of your team's leads {'is' if len(at_risk) == 1 else 'are'} past their SLA"
        + (f": {per_rep}." if per_rep else ".")
        + " This message keeps itself up to date."
    )
    payload = _message(
        f"Team at risk, {views.day(now, tz)}",
        intro,
        at_risk,
        done,
        tz,
        now,
        config.delivery.digest_max_leads,
        owners=True,
    )
    return _publish(
        uow,
        now,
        key,
        dm(manager.id),
        payload,
        may_post=bool(at_risk) and manager.id not in away and cal.is_business_time(now, tz),
    )


def _channel_rollup(uow: UnitOfWork, deps: Deps) -> int:
    config, now = deps.config, deps.now()
    name = config.team_channel("sales")
    if not name or config.delivery.channel != "rollup":
        return 0
    tz = config.team_timezone("sales")
    cal = calendar(config, tz)
    day = _today(cal, now, tz)
    if day is None:
        return 0
    key = f"digest:atrisk:{name}:{day.isoformat()}"
    at_risk = [lead for lead in uow.leads.past_step(4) if lead.owner_id]
    state_ids = (uow.kv.get(f"{key}:leads") or {}).get("ids", [])
    if not at_risk and not state_ids:
        return 0
    seen = _listed(uow, key, [lead.id for lead in at_risk])
    open_ids = {lead.id for lead in at_risk}
    earlier = uow.leads.many(i for i in seen if i not in open_ids)
    done = [_done_line(earlier[i], None, tz) for i in seen if i in earlier]
    intro = (
        (
            f"{_leads(len(at_risk))} passed every step of the SLA ladder without a follow-up. "
            "One post a day, kept up to date."
        )
        if at_risk
        else "Nothing at risk any more today."
    )
    payload = _message(
        f"At risk today, {views.day(now, tz)}",
        intro,
        at_risk,
        done,
        tz,
        now,
        config.delivery.digest_max_leads,
        owners=True,
    )
    return _publish(uow, now, key, channel(name), payload, may_post=bool(at_risk) and cal.is_business_time(now, tz))


def digests_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Post each morning digest and the day's roll-up when due, and keep them up to date in place."""
    done = 0
    with uow_factory() as uow:
        sales = [p for p in uow.people.team("sales") if p.active]  # a leaver receives nothing
        ids = [p.id for p in sales]
    with uow_factory() as uow:
        away = set(uow.away.current(ids, at=deps.now()))
        stored = uow.prefs.many(ids)
    for person in sales:
        prefs = prefs_of(deps.config, stored.get(person.id))
        with uow_factory() as uow:
            # Anyone in sales who owns leads (a manager too) gets their own follow-ups.
            if prefs.warn == "digest" and not is_muted(prefs, "warn", person.role):
                done += _rep_digest(uow, deps, person, away, prefs)
            if person.role == "manager" and prefs.manager == "digest" and not is_muted(prefs, "manager", person.role):
                reports = [p for p in sales if p.manager_id == person.id]
                if reports:
                    done += _manager_digest(uow, deps, person, reports, away, prefs)
            uow.commit()
    with uow_factory() as uow:
        done += _channel_rollup(uow, deps)
        uow.commit()
    return JobResult("digests", done)


FLOW = Flow(name="policy", jobs={"digests": digests_job})
