"""The joint review: a weekly sales-marketing meeting that runs from the bot.

- **When** (``review:`` in the config): a day and time in a timezone, prepared in a channel,
  with its attendees.
- **The agenda** (job ``review_agenda``): ``agenda_before_hours`` before each meeting, once per
  meeting whatever the replicas (outbox key ``review:agenda:{date}``): the scoreboard against the
  agreement and its change since the last meeting, the top bounce reasons by campaign, the wins
  by campaign, the leads that breached the SLA, the schedule conflicts of the coming two weeks,
  and the action items — open ones with their owners (*carried* when they were due at an earlier
  meeting) and the ones done since the last agenda, shown once. Empty sections are left out;
  each names the command or Home that has the detail.
- **Action items**: ``/smarketing action <person> <text> [by <date>]``, the *Add to review*
  button on the bot's alerts, bounce posts and conflict warnings (a short form), ``action list``
  and ``action done <n>``. An item has an owner, a due date (default: the next meeting) and the
  message it came from. The owner is reminded once, a business day before it is due (job
  ``review_reminders``, key ``review:remind:{id}``).
- **After the meeting** (job ``review_summary``): what was decided — the items added during the
  meeting — and who owns what (key ``review:summary:{date}``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from handlers import review_messages as views
from handlers import schedule_rules as srules
from handlers.errors import Invalid, NotAllowed, NotFound
from handlers.messages import Reply
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory, channel, dm
from handlers.registry import Flow, JobResult, MessageRef
from handlers.config import ReviewConfig
from handlers.ports import ActionItem, Person

UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TEXT_MAX = 1000
USAGE = (
    "Usage: `/smarketing action <person> <text> [by <date>]` (a person's key, email or @mention; a date like "
    "`2026-12-10`, `fri` or `tomorrow`), `/smarketing action list`, `/smarketing action done <n>`."
)


# --- the meetings -------------------------------------------------------------------------------


def _review(deps: Deps) -> ReviewConfig:
    review = deps.config.review
    if review is None:
        raise Invalid(
            "No joint review is set up: an admin adds `review:` (day, time, timezone, channel, attendees) "
            "to the Smarketing config."
        )
    return review


def meeting_on(review, day: date) -> datetime:
    """The meeting's start on ``day`` (a meeting day), as UTC."""
    return datetime.combine(day, review.time, tzinfo=ZoneInfo(review.timezone)).astimezone(UTC)


def current_meeting(review, now: datetime) -> datetime:
    """The first meeting that has not ended at ``now``."""
    tz = ZoneInfo(review.timezone)
    local = now.astimezone(tz).date()
    day = local - timedelta(days=(local.weekday() - WEEKDAYS.index(review.day)) % 7)
    for _ in range(3):
        start = meeting_on(review, day)
        if start + timedelta(minutes=review.duration_minutes) > now:
            return start
        day += timedelta(days=7)
    return meeting_on(review, day)  # pragma: no cover - a week always has its meeting


def next_meeting_day(review, now: datetime) -> date:
    """The date of the next meeting to start after ``now`` (an item's default due date)."""
    start = current_meeting(review, now)
    if start <= now:
        start = meeting_on(review, start.astimezone(ZoneInfo(review.timezone)).date() + timedelta(days=7))
    return start.astimezone(ZoneInfo(review.timezone)).date()


# --- parsing -------------------------------------------------------------------------------------


_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def parse_date(text: str, today: date) -> date:
    """``2026-12-10``, ``10 Dec``, ``Dec 10``, ``today``, ``tomorrow``, ``fri``/``friday`` (the next one)."""
    word = text.strip().lower().rstrip(".")
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    for i, name in enumerate(WEEKDAYS):
        if word in (
            name,
            {
                "mon": "monday",
                "tue": "tuesday",
                "wed": "wednesday",
                "thu": "thursday",
                "fri": "friday",
                "sat": "saturday",
                "sun": "sunday",
            }[name],
        ):
            return today + timedelta(days=(i - today.weekday() - 1) % 7 + 1)
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", word)
    try:
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
        m = re.fullmatch(r"(\d{1,2})\s+([a-z]{3})[a-z]*\.?(?:\s+(\d{4}))?", word) or None
        if m and m[2] in _MONTHS:
            return date(int(m[3] or today.year), _MONTHS.index(m[2]) + 1, int(m[1]))
        m = re.fullmatch(r"([a-z]{3})[a-z]*\.?\s+(\d{1,2})(?:,?\s+(\d{4}))?", word)
        if m and m[1] in _MONTHS:
            return date(int(m[3] or today.year), _MONTHS.index(m[1]) + 1, int(m[2]))
    except ValueError:
        pass
    raise Invalid(
        f"I can't read `{text.strip()[:40]}` as a date: use `2026-12-10`, `10 Dec`, `fri` or `tomorrow`.", field="due"
    )


def find_person(uow: UnitOfWork, ref: str):
    """A person named by key, email, Slack mention (``<@U123|name>``) or ``@key``."""
    ref = ref.strip()
    m = re.fullmatch(r"<person:(\d+)>", ref)  # a mention the adapter resolved (Slack's <@U123>)
    if m:
        return uow.people.get(int(m[1]))
    m = re.fullmatch(r"<@([UW][A-Z0-9_]+)(?:\|[^>]*)?>", ref)
    if m:
        return uow.people.by_slack_id(m[1])
    ref = ref.lstrip("@").lower()
    if "@" in ref:
        return uow.people.by_email(ref)
    return uow.people.by_key(ref)


def _person(uow: UnitOfWork, actor: Actor):
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise NotAllowed("I don't know who you are yet: ask an admin to add your email to the Smarketing config.")
    return person


def create_item(
    uow: UnitOfWork,
    deps: Deps,
    *,
    by,
    owner_ref: str,
    text: str,
    due: str | None,
    source: MessageRef | None = None,
    source_text: str | None = None,
) -> ActionItem:
    """Validate and store an action item; ``Invalid`` (with the field) for bad input."""
    review = _review(deps)
    owner = find_person(uow, owner_ref) if owner_ref.strip() else None
    if owner is None:
        raise Invalid(
            f"`{owner_ref.strip()[:60] or '?'}` is not a person I know: use their key (like `ana`), "
            "their email or an @mention.",
            field="owner",
        )
    if not owner.active:
        raise Invalid(f"{owner.name} has left: give the action to someone who is still here.", field="owner")
    text = " ".join((text or "").split())
    if not text:
        raise Invalid("Say what is to be done: `/smarketing action ana Call back the Acme leads`.", field="text")
    if len(text) > TEXT_MAX:
        raise Invalid(f"That is {len(text)} characters; keep an action under {TEXT_MAX}.", field="text")
    now = deps.now()
    tz = ZoneInfo(review.timezone)
    today = now.astimezone(tz).date()
    due_on = parse_date(due, today) if due and due.strip() else next_meeting_day(review, now)
    if due_on < today:
        raise Invalid(f"{due_on:%-d %b %Y} is in the past: give a date from today on.", field="due")
    return uow.review.create(
        owner_id=owner.id,
        text=text,
        due_on=due_on,
        created_by_id=by.id,
        created_at=now,
        meeting_on=next_meeting_day(review, now),
        source_key=source.outbox_key if source else None,
        source_text=(source_text or "")[:300] or None,
    )


# --- commands ------------------------------------------------------------------------------------


def action_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing action <person> <text> [by <date>]`` | ``action list`` | ``action done <n>``."""
    words = args.strip()
    head, _, rest = words.partition(" ")
    if head.lower() in ("", "list"):
        _review(deps)
        return Reply(message=views.item_list(uow.review.open_items(), deps.now(), deps.config))
    if head.lower() == "done":
        return _done(uow, deps, actor, rest)
    person = _person(uow, actor)
    text, due = rest, None
    m = re.search(r"\s+by\s+(\S.*)$", " " + rest, flags=re.I)
    if m:
        text, due = (" " + rest)[: m.start()], m[1]
    item = create_item(uow, deps, by=person, owner_ref=head, text=text, due=due)
    uow.commit()
    return Reply.say(f"Added #{item.id} for {_owner(uow, item).name}, due {item.due_on:%a %-d %b}: {item.text}")


def _owner(uow: UnitOfWork, item: ActionItem) -> Person:
    owner = uow.people.get(item.owner_id)
    if owner is None:  # people are deactivated, never deleted; an item's owner is a foreign key
        raise NotFound(f"Action item #{item.id} has no owner here.")
    return owner


def _done(uow: UnitOfWork, deps: Deps, actor: Actor, ref: str) -> Reply:
    person = _person(uow, actor)
    ref = ref.strip().lstrip("#")
    if not ref.isdigit():
        raise Invalid("Which item? `/smarketing action done 12` (numbers are in `/smarketing action list`).")
    item = uow.review.get_for_update(int(ref))
    if item is None:
        raise NotFound(f"There is no action item #{ref}.")
    owner = _owner(uow, item)
    if not (person.is_admin or person.id in (owner.id, owner.manager_id)):
        raise NotAllowed(f"Only {owner.name} (its owner), their manager or an admin can close #{item.id}.")
    if item.status == "done":
        return Reply.say(f"#{item.id} is already done.")
    item.status, item.done_at, item.done_by_id = "done", deps.now(), person.id
    uow.review.add(item)
    uow.commit()
    return Reply.say(f"Done: #{item.id} {item.text}. It shows in the next agenda.")


# --- Add to review (a button on the bot's own messages) -------------------------------------------


def add_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """*Add to review*: the short form, filled in from the message it was pressed on."""
    _review(deps)
    _person(uow, actor)
    people = [p for p in uow.people.all() if p.active]  # an action for someone who left would go nowhere
    key = source.outbox_key if source else ""
    return Reply(
        form=views.add_form(
            people, about=value[:300], due=next_meeting_day(deps.config.review, deps.now()), state=f"{key or ''}"
        )
    )


def add_form(uow: UnitOfWork, deps: Deps, actor: Actor, state: str, values: dict) -> Reply:
    person = _person(uow, actor)
    source = MessageRef(outbox_key=state) if state else None
    item = create_item(
        uow,
        deps,
        by=person,
        owner_ref=values.get("owner") or "",
        text=values.get("text") or "",
        due=values.get("due"),
        source=source,
        source_text=values.get("about"),
    )
    uow.commit()
    return Reply.say(f"Added #{item.id} to the review for {_owner(uow, item).name}, due {item.due_on:%a %-d %b}.")


# --- jobs ----------------------------------------------------------------------------------------


def agenda_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """The agenda, ``agenda_before_hours`` before each meeting (late if the bot was down, until
    the meeting ends); once per meeting whatever the replicas."""
    review = deps.config.review
    if review is None:
        return JobResult("review_agenda", 0, "no review configured")
    now = deps.now()
    start = current_meeting(review, now)
    if now < start - timedelta(hours=review.agenda_before_hours):
        return JobResult("review_agenda", 0)
    day = start.astimezone(ZoneInfo(review.timezone)).date()
    key = f"review:agenda:{day.isoformat()}"
    with uow_factory() as uow:
        if uow.outbox.exists(key):
            return JobResult("review_agenda", 0)
        message = build_agenda(uow, deps, start)
        if not uow.outbox.add(key=key, destination=channel(review.channel), payload=message.to_json(), at=now):
            return JobResult("review_agenda", 0)
        uow.commit()
    return JobResult("review_agenda", 1, day.isoformat())


@dataclass
class AgendaData:
    start: datetime
    previous: datetime
    board: object
    before: dict | None
    reasons: list
    wins: list
    breached: tuple[int, list]
    conflicts: list
    open_items: list
    done_items: list
    names: dict


def build_agenda(uow: UnitOfWork, deps: Deps, start: datetime):
    from handlers import scoreboard as sb
    from handlers.schedule import week_view

    review, cfg, now = _review(deps), deps.config, deps.now()
    tz = ZoneInfo(review.timezone)
    previous = start - timedelta(days=7)
    local = start.astimezone(tz)
    board = sb.build(uow, deps, sb.Scope("admin", None), sb.month_period(local.year, local.month, tz, now))
    snapshot = views.snapshot(board)
    before = uow.kv.get(f"review:snapshot:{previous.astimezone(tz).date().isoformat()}")
    uow.kv.set(f"review:snapshot:{local.date().isoformat()}", snapshot)
    since = previous
    reasons = uow.bounces.reasons_by_campaign(since=since, until=now)
    wins = [r for r in uow.scoreboard.revenue(start=since, end=now) if r.campaign_id is not None and r.sourced_deals]
    campaign_ids = {r.campaign_id for r in reasons if r.campaign_id} | {r.campaign_id for r in wins}
    names = {cid: b.name for cid, b in uow.campaigns.briefs(campaign_ids).items()}
    breached = uow.review.breached_between(since, now)
    conflicts = []
    monday = srules.monday_of(now.astimezone(tz).date())
    seen = set()
    for week in (monday, monday + timedelta(days=7), monday + timedelta(days=14)):
        for c in week_view(uow, deps, week, tz, None).conflicts:
            if c.key not in seen and c.end > now and c.start < now + timedelta(days=14):
                seen.add(c.key)
                conflicts.append(c)
    open_items = list(uow.review.open_items())
    done_items = list(uow.review.done_since(start - timedelta(days=7, hours=review.agenda_before_hours)))
    data = AgendaData(start, previous, board, before, reasons, wins, breached, conflicts, open_items, done_items, names)
    return views.agenda(data, cfg, tz)


def summary_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """After the meeting: what was decided (items added during it) and who owns what."""
    review = deps.config.review
    if review is None:
        return JobResult("review_summary", 0, "no review configured")
    now = deps.now()
    tz = ZoneInfo(review.timezone)
    start = current_meeting(review, now)
    if start > now:  # the last one that ended
        start = meeting_on(review, start.astimezone(tz).date() - timedelta(days=7))
    end = start + timedelta(minutes=review.duration_minutes)
    if not (end <= now < end + timedelta(days=1)):
        return JobResult("review_summary", 0)
    day = start.astimezone(tz).date()
    key = f"review:summary:{day.isoformat()}"
    with uow_factory() as uow:
        if uow.outbox.exists(key):
            return JobResult("review_summary", 0)
        decided = list(uow.review.created_between(start, end))
        message = views.summary(day, decided, list(uow.review.open_items()), tz)
        if not uow.outbox.add(key=key, destination=channel(review.channel), payload=message.to_json(), at=now):
            return JobResult("review_summary", 0)
        uow.commit()
    return JobResult("review_summary", 1, day.isoformat())


def reminders_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Remind each open item's owner once, at the start of the business day before it is due
    (in the owner's timezone)."""
    from handlers.cooling import calendar

    if deps.config.review is None:
        return JobResult("review_reminders", 0, "no review configured")
    now = deps.now()
    done = 0
    with uow_factory() as uow:
        items = list(uow.review.to_remind(due_by=now.date() + timedelta(days=10)))
        owners = uow.people.many(i.owner_id for i in items)
    for item in items:
        owner = owners.get(item.owner_id)
        if owner is None:
            continue
        tz = owner.timezone or deps.config.team_timezone(owner.team)
        at = remind_at(item.due_on, tz, calendar(deps.config, tz), deps.config)
        if now < at:
            continue
        with uow_factory() as uow:
            if not uow.review.mark_reminded(item.id, now):
                continue  # another replica reminded
            fresh = uow.review.get_for_update(item.id)
            uow.outbox.add(
                key=f"review:remind:{item.id}",
                destination=dm(owner.id),
                payload=views.reminder(fresh, tz).to_json(),
                at=now,
            )
            uow.commit()
            done += 1
    return JobResult("review_reminders", done)


def remind_at(due_on: date, tz: str, cal, config) -> datetime:
    """The opening of the last business day before ``due_on`` (in ``tz``), as UTC."""
    zone = ZoneInfo(tz)
    day = due_on - timedelta(days=1)
    for _ in range(30):
        opening = cal.next_opening(datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC), tz)
        if opening.astimezone(zone).date() == day:
            return opening
        day -= timedelta(days=1)
    return datetime.combine(due_on - timedelta(days=1), time(9), tzinfo=zone).astimezone(UTC)


FLOW = Flow(
    name="review",
    commands={"action": action_command},
    actions={"review.add": add_button},
    forms={"review.add": add_form},
    jobs={"review_agenda": agenda_job, "review_summary": summary_job, "review_reminders": reminders_job},
    help=[
        ("action <person> <text> [by <date>]", "an action item for the joint review (`action list`, `action done <n>`)")
    ],
)
