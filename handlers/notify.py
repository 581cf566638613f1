"""The one way a message about a lead reaches people, and how those messages follow the lead.

- ``send`` / ``send_many``: every message to a person or a channel about a lead goes through
  here, with its recipient and its *kind* (``role``: handoff, warn, breach, reminder, manager,
  channel, claim, bounce_post, back) explicit. Someone away (``handlers.away``) gets nothing:
  the message goes to their ``backup``, else their manager (whoever of them is not away
  themselves), else their team's channel, with a line saying why. The message is queued in the
  outbox under its unique key, with the lead as its *subject*, so it can follow the lead.
- ``refresh``: after a transition, every message that still follows the lead is rendered again
  from the lead's state (what it said when posted, the status line of the last transition, the
  buttons its kind offers now) and updated in place on every platform (outbox op="update").
  Messages a transition *settles* (an alert once the lead is followed up, everything once it
  leaves sales) get their final form and stop following the lead.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from handlers import bounce_messages as bounce_views
from handlers import cooling_messages as views
from handlers import policy
from handlers.messages import mention
from handlers.ports import Deps, UnitOfWork, channel
from handlers.sla import timezone_of
from handlers.ports import Lead, Person

ALL = frozenset({"*"})
ALERTS = frozenset({"warn", "breach", "reminder", "manager", "channel"})


def subject_of(lead_id: int) -> str:
    return f"lead:{lead_id}"


# --- sending ---------------------------------------------------------------------------------


def send(
    uow: UnitOfWork,
    deps: Deps,
    *,
    to: str,
    role: str | None,
    subject: int | None,
    payload: dict,
    key: str,
    owner_id: int | None = None,
) -> bool:
    """Queue one message (``to``: ``dm:<person>`` or ``channel:<name>``); False when ``key``
    was queued before."""
    return key in send_many(
        uow, deps, [dict(key=key, destination=to, role=role, subject=subject, payload=payload, owner_id=owner_id)]
    )


def send_many(uow: UnitOfWork, deps: Deps, messages: list[dict]) -> set[str]:
    """Queue many messages (dicts: ``key``, ``destination``, ``payload``, ``role``, ``subject``
    (a lead id or None)) in one statement, each sent on to whoever covers for an absent
    recipient, and each routed by the delivery policy (real time, held for the reader's quiet
    hours, or folded into a digest). A message held for someone who will be away when it comes
    due goes to whoever covers for them then. Returns the keys queued (the others were queued
    before)."""
    if not messages:
        return set()
    now = deps.now()
    rows, covered = _sent_on(uow, deps, messages, at=now)
    rows = policy.route(uow, deps, rows)
    held: dict = {}
    for r in rows:
        if r.get("not_before") and r["destination"].startswith("dm:"):
            held.setdefault(r["not_before"], []).append(r)
    for at, batch in held.items():
        away = uow.away.current({int(r["destination"][3:]) for r in batch}, at=at)
        later = [
            dict(r, subject=int(r["subject"][5:]) if r.get("subject") else None)
            for r in batch
            if int(r["destination"][3:]) in away
        ]
        if later:
            keys = {r["key"] for r in later}
            moved, also = _sent_on(uow, deps, later, at=at)
            rows = [r for r in rows if r["key"] not in keys] + policy.route(uow, deps, moved)
            covered += also
    sent = uow.outbox.add_many(rows, at=now)
    uow.leads.add_events([event for key, event in covered if key in sent])
    return sent


def reroute_held(uow: UnitOfWork, deps: Deps, person_id: int) -> int:
    """Messages held for this person's next opening (quiet hours) that will find them away go to
    whoever covers for them then: for an away period declared after they were queued. Returns
    how many moved."""
    now = deps.now()
    held = uow.outbox.held_for(f"dm:{person_id}", now=now)
    periods = uow.away.for_person(person_id, ending_after=now) if held else []  # one query, not one a message
    moving = [r for r in held if any(p.starts_at <= r.next_attempt_at < p.ends_at for p in periods)]
    if not moving:
        return 0
    again = [
        dict(
            key=r.key,
            destination=r.destination,
            payload=r.payload,
            role=r.role,
            subject=int(r.subject[5:]) if r.subject else None,
        )
        for r in moving
    ]
    uow.outbox.drop([r.id for r in moving])
    return len(send_many(uow, deps, again))


def _sent_on(uow: UnitOfWork, deps: Deps, messages: list[dict], *, at) -> tuple[list[dict], list]:
    """The outbox rows for ``messages``, each to whoever covers for its recipient if they are
    away (or gone) at ``at``, with a line saying why; and the ``covered`` lead events."""
    now = deps.now()
    dms = {int(m["destination"][3:]) for m in messages if m["destination"].startswith("dm:")}
    away = uow.away.current(dms, at=at) if dms else {}
    covers = _covers(uow, deps, away, at=at) if away else {}
    gone = uow.people.inactive(dms - covers.keys()) if dms else {}
    if gone:
        covers.update(_leavers(uow, deps, gone))
    rows, covered = [], []
    for m in messages:
        destination, payload = m["destination"], m["payload"]
        absent = int(destination[3:]) if destination.startswith("dm:") else None
        if absent in covers:
            destination, note, cover_id = covers[absent]
            if destination is None:
                continue  # a leaver with nowhere to send it: nothing
            payload = {**payload, "blocks": [views._context(note), *payload.get("blocks", [])]}
            if m.get("subject"):
                covered.append(
                    (
                        m["key"],
                        dict(
                            lead_id=m["subject"],
                            version=m.get("version") or 0,
                            kind="covered",
                            by_person_id=None,
                            owner_id=absent,
                            at=now,
                            detail={"role": m.get("role"), "to": cover_id},
                        ),
                    )
                )
        rows.append(
            dict(
                key=m["key"],
                destination=destination,
                payload=payload,
                role=m.get("role"),
                subject=subject_of(m["subject"]) if m.get("subject") else None,
                urgent=m.get("urgent"),
                version=m.get("version"),
            )
        )
    return rows, covered


def _leavers(uow: UnitOfWork, deps: Deps, gone: dict[int, Person]) -> dict[int, tuple[str | None, str, int | None]]:
    """Someone who left receives nothing: their messages go to their manager (if active), else
    their team's channel, with a line saying why."""
    managers = uow.people.many(p.manager_id for p in gone.values() if p.manager_id)
    out: dict[int, tuple[str | None, str, int | None]] = {}
    for pid, person in gone.items():
        manager = managers.get(person.manager_id) if person.manager_id else None
        if manager is not None and manager.active:
            out[pid] = (f"dm:{manager.id}", f"👋 {mention(pid)} has left, so this comes to you.", manager.id)
        elif team_channel := deps.config.team_channel(person.team):
            out[pid] = (
                channel(team_channel),
                f"👋 {mention(pid)} has left and has no manager here, so this comes here.",
                None,
            )
        else:
            out[pid] = (None, "", None)
    return out


def _covers(uow: UnitOfWork, deps: Deps, away: dict, *, at=None) -> dict[int, tuple[str | None, str, int | None]]:
    """For each person absent at ``at`` (default: now): (destination, the line saying why, the
    cover's person id)."""
    now, config = at or deps.now(), deps.config
    people = uow.people.many(away)
    wanted = {i for p in people.values() for i in (p.backup_id, p.manager_id) if i}
    people.update(uow.people.many(wanted - people.keys()))
    also_away = uow.away.current(wanted, at=now)
    out: dict[int, tuple[str | None, str, int | None]] = {}
    for pid, period in away.items():
        person = people.get(pid)
        if person is None:
            continue
        last = (period.ends_at - timedelta(microseconds=1)).astimezone(ZoneInfo(timezone_of(person, config)))
        back = f"{views.DAYS[last.weekday()]} {last.day} {views.MONTHS[last.month - 1]}"  # the last day away
        cover = next(
            (
                people[i]
                for i in (person.backup_id, person.manager_id)
                if i and i in people and i not in also_away and i not in away
            ),
            None,
        )
        if cover is not None:
            out[pid] = (f"dm:{cover.id}", f"🌴 {mention(pid)} is away until {back}, so this comes to you.", cover.id)
        elif team_channel := config.team_channel(person.team):
            out[pid] = (
                channel(team_channel),
                f"🌴 {mention(pid)} is away until {back} and nobody is covering, so this comes here.",
                None,
            )
    return out


# --- following the lead ----------------------------------------------------------------------


def refresh(
    uow: UnitOfWork,
    deps: Deps,
    changes: Iterable[tuple[Lead, dict]],
    *,
    settle=frozenset(),
    only: str | None = None,
    body: dict | None = None,
) -> int:
    """Update in place every message still following these leads, from each lead's state and
    its last transition (``event``: the ``LeadEvent`` columns just recorded). Messages whose
    role is in ``settle`` (``ALL``: every one) get their final form and stop following the
    lead. ``only``: just this message (a stale press). ``body``: a new body for ``only``.
    Returns how many updates were queued."""
    changes = list(changes)
    if not changes:
        return 0
    by_id = {lead.id: (lead, event) for lead, event in changes}
    rows = [r for r in uow.outbox.about(subject_of(i) for i in by_id) if only is None or r.key == only]
    if not rows:
        return 0
    config, now = deps.config, deps.now()
    people = uow.people.many(
        {
            i
            for lead, e in changes
            for i in (lead.owner_id, e.get("by_person_id"), (e.get("detail") or {}).get("to"))
            if i
        }
    )
    bounces = {}
    if any(r.role == "bounce_post" for r in rows):
        bounces = {b.id: b for lead_id in by_id for b in uow.bounces.for_lead(lead_id)}
    updates, settled = [], []
    for row in rows:
        lead, event = by_id[int(row.subject.split(":")[1])]
        final = "*" in settle or row.role in settle
        payload = render(
            row, lead, event, people, bounces, config, now, final=final, body=body if row.key == only else None
        )
        updates.append(
            dict(
                key=f"{row.key}:v{lead.version}",
                op="update",
                target_key=row.key,
                destination=row.destination,
                payload=payload,
            )
        )
        if final:
            settled.append(row.key)
    queued = uow.outbox.add_many(updates, at=now)
    uow.outbox.settle(settled)
    return len(queued)


def render(
    row,
    lead: Lead,
    event: dict,
    people: dict[int, Person],
    bounces: dict,
    config,
    now,
    *,
    final: bool,
    body: dict | None = None,
) -> dict:
    """A message about a lead (an outbox row: its role and what it said) as it reads now."""
    owner = people.get(lead.owner_id) if lead.owner_id else None
    tz = timezone_of(owner, config)
    line: str | None = views.status_line(event["kind"], describe(event, people, tz, mentions=True))
    if event["kind"] == "handoff" or event["kind"] == "escalate":
        line = None  # nothing has happened since it was posted
    if row.role == "bounce_post":
        bounce = bounces.get(int(row.key.split(":")[1]))
        if bounce is None:
            return row.payload
        shown = bounce_views.post_for(bounce, config.reason_label(bounce.reason) or bounce.reason, config).to_json()
        if not final:
            return shown
        quiet = event["kind"] in ("send_back", "requalify")  # the post says so itself
        return views.live(shown, line=None if quiet else line, buttons=[])
    card = views.LeadCard.of(lead)
    buttons = (
        []
        if final or lead.status != "qualified"
        else views.buttons_for(
            row.role or "",
            card,
            snooze_hours=config.sla.ladder.snooze_hours,
            snoozed=bool(lead.snoozed_until and lead.snoozed_until > now),
            owned=lead.owner_id is not None,
        )
    )
    shown = views.live(body or row.payload, line=line, buttons=buttons)
    if buttons and row.role in ("manager", "channel"):  # an open escalation can go on the review's agenda
        from handlers.review_messages import reviewable

        shown = reviewable(config, shown, f"{card.plain}: SLA breached")
    return shown


def describe(event: dict | None, people: dict[int, Person], tz: str, *, mentions: bool) -> str:
    """The last transition in plain words: ``Ana Torres bounced this lead to marketing at 10:05``."""
    if event is None:
        return "It has changed since"

    def who(pid):
        if not pid:
            return None
        if mentions:
            return mention(pid)
        return people[pid].name if pid in people else "Someone"

    detail = event.get("detail") or {}
    return views.event_phrase(
        event["kind"],
        by=who(event.get("by_person_id")),
        at=views.clock(event["at"], tz),
        detail=detail,
        to=who(detail.get("to")),
    )
