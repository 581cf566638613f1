"""Out of office: who is away, who covers, and what they missed.

- Periods come from the config (``people[].away: [{from, to}]``, synced at every start) and from
  ``/smarketing away <from> [to]`` / ``away off`` (oneself), ``away <person> <from> [to]`` /
  ``away <person> off`` (a manager for their people, or an admin). Dates are days in the
  person's timezone, both included.
- While someone is away, nothing about their leads goes to them: ``handlers.notify`` sends it to
  their ``backup`` (``people[].backup``), else their manager, with a line saying why. The SLA
  never pauses for it.
- When they are back (the period ends, or ``away off``), one message lists what happened to
  their leads meanwhile (job ``away_return``; once per period: its unique outbox key).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers import cooling_messages as views
from handlers import notify
from handlers.errors import Invalid, NotAllowed, NotFound
from handlers.lifecycle import person_of
from handlers.messages import Context, Header, Message, Reply, Section, mention
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory, dm
from handlers.registry import Flow, JobResult
from handlers.sla import timezone_of
from handlers.ports import AwayPeriod, Person

MAX_DAYS = 92
SUMMARY_WINDOW = timedelta(days=14)  # a return older than this gets no summary (the bot was down)
MAX_LEADS_SHOWN = 20
USAGE = (
    "Usage: `/smarketing away <from> [to]` (dates like 2026-11-24, or `today`, `tomorrow`; both days "
    "included), `/smarketing away off` when you are back, `/smarketing away` to see yours. A manager or "
    "an admin can put a name first: `/smarketing away ana 2026-11-24 2026-11-27`."
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def span(person: Person, first: date, last: date, config) -> tuple[datetime, datetime]:
    """The moments a period of days (both included) starts and ends, in the person's timezone."""
    tz = ZoneInfo(timezone_of(person, config))
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def days_text(period: AwayPeriod, person: Person, config) -> str:
    """``Tue 24 Nov – Fri 27 Nov`` (the days, both included, in the person's timezone)."""
    tz = timezone_of(person, config)
    first = _day(period.starts_at, tz)
    last = _day(period.ends_at - timedelta(microseconds=1), tz)
    return first if first == last else f"{first} – {last}"


def _day(at: datetime, tz: str) -> str:
    t = at.astimezone(ZoneInfo(tz))
    return f"{views.DAYS[t.weekday()]} {t.day} {views.MONTHS[t.month - 1]}"


# --- the command -----------------------------------------------------------------------------


def away_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing away [person] <from> [to] | off``."""
    me = person_of(uow, actor)
    words = args.split()
    if not words:
        return Reply.say(_listing(uow, deps, me, me))
    target = me
    named = uow.people.by_key(words[0].lower()) or uow.people.by_email(words[0])
    if (
        named is None
        and words[0].lower() not in ("off", "today", "tomorrow")
        and not any(ch.isdigit() for ch in words[0])
    ):
        raise NotFound(
            f"I don't know anyone called '{words[0][:60]}': use their key (like `ana`) or their email. {USAGE}"
        )
    if named is not None:
        target = named
        words = words[1:]
        if target.id != me.id and not (me.is_admin or target.manager_id == me.id):
            raise NotAllowed(f"Only {target.name.split()[0]}'s manager or an admin can set {target.name}'s time away.")
        if not words:
            return Reply.say(_listing(uow, deps, me, target))
    if words[0].lower() == "off":
        if len(words) > 1:
            raise Invalid(USAGE)
        return _off(uow, deps, me, target)
    if len(words) > 2:
        raise Invalid(USAGE)
    tz = timezone_of(target, deps.config)
    today = deps.now().astimezone(ZoneInfo(tz)).date()
    first = _date(words[0], today)
    last = _date(words[1], today) if len(words) > 1 else first
    you = "You" if target.id == me.id else target.name
    if last < first:
        raise Invalid(f"That period ends on {_fmt(last)}, before it starts ({_fmt(first)}). Nothing changed.")
    if last < today:
        raise Invalid(f"That period is over already (it ended on {_fmt(last)}). Nothing changed.")
    if (last - first).days + 1 > MAX_DAYS:
        raise Invalid(f"Keep one period to {MAX_DAYS} days at most. Nothing changed.")
    starts_at, ends_at = span(target, first, last, deps.config)
    clash = uow.away.overlapping(target.id, starts_at, ends_at)
    if clash is not None:
        off = "`away off`" if target.id == me.id else f"`away {target.key} off`"
        raise Invalid(
            f"{you} {'are' if you == 'You' else 'is'} already away {days_text(clash, target, deps.config)}, "
            f"which overlaps that. Say {off} first, or pick other days. Nothing changed."
        )
    period = uow.away.create(
        person_id=target.id,
        starts_at=starts_at,
        ends_at=ends_at,
        source="command",
        created_by_id=me.id,
        created_at=deps.now(),
    )
    cover = _cover_name(uow, target)
    notify.reroute_held(uow, deps, target.id)  # what waits for their morning goes to the cover instead
    uow.commit()
    whose = "Your" if target.id == me.id else f"{target.name.split()[0]}'s"
    return Reply.say(
        f"{you} {'are' if you == 'You' else 'is'} away {days_text(period, target, deps.config)}. "
        f"{whose} new leads and alerts go to {cover} meanwhile, and the SLA runs as usual; "
        f"{'you' if target.id == me.id else target.name.split()[0]} get{'' if you == 'You' else 's'} "
        "a summary on return."
    )


def _date(word: str, today: date) -> date:
    w = word.lower()
    if w == "today":
        return today
    if w == "tomorrow":
        return today + timedelta(days=1)
    if _DATE.match(w):
        try:
            return date.fromisoformat(w)
        except ValueError:
            pass
    raise Invalid(
        f"I can't read '{word[:40]}' as a date: use YYYY-MM-DD (like {today + timedelta(days=1)}), "
        "`today` or `tomorrow`. Nothing changed."
    )


def _fmt(d: date) -> str:
    return f"{views.DAYS[d.weekday()]} {d.day} {views.MONTHS[d.month - 1]} {d.year}"


def _cover_name(uow: UnitOfWork, person: Person) -> str:
    for pid in (person.backup_id, person.manager_id):
        cover = uow.people.get(pid) if pid else None
        if cover is not None:
            return cover.name
    return "the team's channel"


def _listing(uow: UnitOfWork, deps: Deps, me: Person, target: Person) -> str:
    periods = uow.away.for_person(target.id, ending_after=deps.now())
    you = "You" if target.id == me.id else target.name
    if not periods:
        return f"{you} {'have' if you == 'You' else 'has'} no time away planned. {USAGE}"
    lines = "\n".join(f"• {days_text(p, target, deps.config)}" for p in periods)
    return f"{you} {'are' if you == 'You' else 'is'} away:\n{lines}\nCovering: {_cover_name(uow, target)}."


def _off(uow: UnitOfWork, deps: Deps, me: Person, target: Person) -> Reply:
    now = deps.now()
    periods = uow.away.for_person(target.id, ending_after=now)
    you = "You" if target.id == me.id else target.name
    if not periods:
        return Reply.say(f"{you} {'are' if you == 'You' else 'is'} not marked away. Nothing changed.")
    period = periods[0]
    if period.starts_at > now:  # not started yet: cancelled
        text = f"Cancelled the time away on {days_text(period, target, deps.config)}."
        uow.away.remove(period)
    else:
        period.ends_at = now
        uow.away.add(period)
        summarise(uow, deps, period, target)
        text = f"Welcome back{'' if target.id == me.id else ', ' + target.name}: marked back now."
    uow.commit()
    return Reply.say(text)


# --- back: what happened meanwhile -----------------------------------------------------------


def away_return_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Each period that has ended gets its "while you were away" message, once."""
    now = deps.now()
    with uow_factory() as uow:
        periods = uow.away.back_without_summary(now=now, since=now - SUMMARY_WINDOW)
        people = uow.people.many(p.person_id for p in periods)
        sent = 0
        for period in periods:
            if period.person_id in people:
                sent += summarise(uow, deps, period, people[period.person_id])
        uow.commit()
    return JobResult("away_return", sent, f"{len(periods)} return(s)")


def summarise(uow: UnitOfWork, deps: Deps, period: AwayPeriod, person: Person) -> int:
    """Queue the "while you were away" message of ``period`` (once: its unique key)."""
    events = uow.leads.events_while_owned(person.id, since=period.starts_at, until=period.ends_at)
    tz = timezone_of(person, deps.config)
    by_lead: OrderedDict[int, list] = OrderedDict()
    for e in events:
        by_lead.setdefault(e.lead_id, []).append(e)
    leads = {lead.id: lead for lead in (uow.leads.get(i) for i in list(by_lead)[:MAX_LEADS_SHOWN]) if lead}
    ids = {i for e in events for i in (e.by_person_id, (e.detail or {}).get("to")) if i}
    people = uow.people.many(ids)
    when = days_text(period, person, deps.config)
    blocks: list = [Header(text="Welcome back")]
    if not by_lead:
        text = f"Nothing happened to your leads while you were away ({when})."
        blocks.append(Section(text=text))
    else:
        text = f"While you were away ({when}), on {len(by_lead)} of your leads:"
        blocks.append(Section(text=text))
        for lead_id, lead in leads.items():
            lines = [_line(e, people, tz) for e in by_lead[lead_id]]
            status = views.STATUS_WORDS.get(lead.status, "")
            blocks.append(Section(text=f"{views.LeadCard.of(lead).label} — now {status}\n" + "\n".join(lines)))
        if len(by_lead) > len(leads):
            blocks.append(
                Context(
                    text=f"…and {len(by_lead) - len(leads)} more leads: `/smarketing leads` lists "
                    "what is waiting on you."
                )
            )
    blocks.append(Context(text="The SLA ran as usual while you were away; `/smarketing leads` shows what is due."))
    message = Message(text=text, blocks=blocks)
    queued = notify.send(
        uow, deps, to=dm(person.id), role="back", subject=None, payload=message.to_json(), key=f"away:{period.id}:back"
    )
    uow.away.mark_summarised(period.id, deps.now())
    return int(queued)


COVERED = {
    "handoff": "the handoff",
    "claim": "the handoff",
    "warn": "the warning",
    "breach": "the SLA alert",
    "reminder": "the snooze reminder",
    "manager": "the escalation",
}


def _line(event, people: dict[int, Person], tz: str) -> str:
    detail = event.detail or {}
    at = views.when(event.at, tz)
    if event.kind == "covered":
        what = COVERED.get(detail.get("role") or "", "a message")
        return f"• 🌴 {at}: {what} went to {mention(detail['to']) if detail.get('to') else 'the team channel'}"
    phrase = notify.describe(event.model_dump(), people, tz, mentions=True)
    return f"• {views.status_line(event.kind, phrase)} ({_day(event.at, tz)})"


# --- the config's periods --------------------------------------------------------------------


def sync_config_periods(uow: UnitOfWork, config, ids: dict[str, int]) -> None:
    """The config's ``people[].away`` as stored periods: new ones added, removed ones deleted;
    one already stored (by person and start) is kept as it is (``away off`` may have ended it)."""
    wanted = {}
    people = {p.id: p for p in uow.people.all()}
    for pc in config.people:
        for a in pc.away:
            person = people[ids[pc.key]]
            starts_at, ends_at = span(person, a.start, a.end, config)
            wanted[(person.id, starts_at)] = ends_at
    stored = {(p.person_id, p.starts_at): p for p in uow.away.from_config()}
    for key, period in stored.items():
        if key not in wanted:
            uow.away.remove(period)
    for (person_id, starts_at), ends_at in wanted.items():
        if (person_id, starts_at) not in stored:
            uow.away.create(person_id=person_id, starts_at=starts_at, ends_at=ends_at, source="config")


FLOW = Flow(
    name="away",
    commands={"away": away_command},
    jobs={"away_return": away_return_job},
    help=[("away <from> [to] | off", "out of office: your leads and alerts go to your backup or manager meanwhile")],
)
