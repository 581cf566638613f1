"""Weekly schedules: both teams see each other's week, and collisions before they happen.

- Items come from ``/smarketing schedule add`` (a form), ``schedule.upserted`` CRM events
  (upserted by their id) and iCal imports (``python -m bot import-ical``, upserted by UID and
  recurrence id). Whatever adds an item that conflicts with an existing one tells both owners
  at once, once per conflicting pair.
- The ``digest`` job posts the week to each team's channel at the team's digest day and time in
  its own timezone, once per team per ISO week (outbox key ``schedule:digest:{team}:{week}``,
  further pages ``…:p2``); a digest missed while the bot was down is posted when it is back,
  marked late, until the end of that working week (Friday night).
- ``/smarketing schedule [next]`` shows this (next) week, only to the person asking.

The rules (weeks, conflicts) are in ``schedule_rules.py``; the layouts in ``schedule_messages.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from handlers import schedule_messages as msgs
from handlers import schedule_rules as rules
from handlers.errors import Invalid, UserError
from handlers.events import SCHEDULE_KINDS, Event
from handlers.messages import Reply
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory, channel, dm
from handlers.registry import Flow, JobResult
from handlers.review_messages import reviewable
from handlers.schedule_rules import DAY, Item

UTC = timezone.utc
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LATE_AFTER = timedelta(minutes=30)  # a digest posted later than this is marked late
MAX_DAYS = 366
USAGE = "Try `/smarketing schedule` (this week), `/smarketing schedule next` or `/smarketing schedule add`."


def to_item(row) -> Item:
    """A ``ScheduleItem`` row as a rules value."""
    return Item(
        id=row.id,
        team=row.team,
        kind=row.kind,
        title=row.title,
        regions=tuple(row.regions or ()),
        start=row.starts_at,
        end=row.ends_at,
        all_day=row.all_day,
        owner_id=row.owner_id,
        owner_email=row.owner_email,
        link=row.link,
    )


# --- the week -------------------------------------------------------------------------------


def week_view(
    uow, deps: Deps, monday: date, tz: ZoneInfo, team: str | None, late: str | None = None, *, digest: bool = False
):
    """Everything a view of one week needs, read in one query (plus the marketing managers)."""
    start, end = rules.week_window(monday, tz)
    rows = uow.schedule.rows_overlapping(start - DAY, end + DAY)  # all-day items sit at UTC midnights
    items = [it for it in map(to_item, rows) if rules.in_week(it, monday, tz)]
    conflicts = rules.find_conflicts(items, tz, week=monday)
    other = next((t for t in deps.config.teams if t != team), None) if team else None
    managers = [p for p in uow.people.team(rules.MARKETING) if p.role == "manager" and p.active]  # not a leaver
    contacts = {"marketing": [p.id for p in managers]}
    names = {i: p.name for i, p in uow.people.many({it.owner_id for it in items if it.owner_id}).items()}
    return msgs.WeekView(
        monday=monday,
        tz=tz,
        items=items,
        conflicts=conflicts,
        team=team,
        other=other,
        touches=rules.touching(items, team, conflicts) if team else [],
        contacts=contacts,
        late=late,
        digest=digest,
        names=names,
    )


def schedule_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    sub = " ".join(args.lower().split())
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if sub == "add":
        return Reply(
            form=msgs.add_form(
                list(deps.config.teams),
                person.team if person else None,
                deps.now().astimezone(_tz_of(deps, person)).date(),
            )
        )
    if sub not in ("", "this", "this week", "week", "next", "next week"):
        raise Invalid(f"I don't know `schedule {sub[:40]}`. {USAGE}")
    upcoming = sub.startswith("next")
    tz = _tz_of(deps, person)
    monday = rules.monday_of(deps.now().astimezone(tz).date()) + (rules.WEEK if upcoming else timedelta(0))
    team = person.team if person and person.team in deps.config.teams else None
    return Reply(message=msgs.on_demand(week_view(uow, deps, monday, tz, team), upcoming=upcoming))


def _tz_of(deps: Deps, person) -> ZoneInfo:
    if person is not None:
        return ZoneInfo(person.timezone or deps.config.team_timezone(person.team))
    return ZoneInfo(next((tc.timezone for tc in deps.config.teams.values()), "UTC"))


def digest_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Post each team's week when its digest is due (see ``rules.digests_due``): once per team
    per week, whatever the number of replicas and restarts, as the outbox key is unique."""
    now = deps.now()
    posted: list[str] = []
    for team, tc in deps.config.teams.items():
        tz = ZoneInfo(tc.timezone)
        for monday, due in rules.digests_due(now, tz, WEEKDAYS.index(tc.digest.day), tc.digest.time):
            key = f"schedule:digest:{team}:{rules.week_label(monday)}"
            with uow_factory() as uow:
                if uow.outbox.exists(key):
                    continue
                late = (
                    f"(posted late — the bot was offline at {tc.digest.time:%H:%M})" if now - due > LATE_AFTER else None
                )
                pages = msgs.week_pages(week_view(uow, deps, monday, tz, team, late, digest=True))
                if not uow.outbox.add(
                    key=key, destination=channel(tc.channel), payload=pages[0].message.to_json(), at=now
                ):
                    continue  # another replica got there first
                uow.outbox.add_many(
                    [
                        dict(key=f"{key}:p{n}", destination=channel(tc.channel), payload=p.message.to_json())
                        for n, p in enumerate(pages[1:], 2)
                    ],
                    at=now,
                )
                uow.commit()
            posted.append(
                f"{team} {rules.week_label(monday)}"
                + (" late" if late else "")
                + (f" in {len(pages)} posts" if len(pages) > 1 else "")
            )
    return JobResult("digest", len(posted), ", ".join(posted))


# --- adding items -----------------------------------------------------------------------------


@dataclass
class Saved:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    items: list[Item] = field(default_factory=list)
    conflicts: list[rules.Conflict] = field(default_factory=list)


_COMPARED = ("team", "kind", "title", "regions", "starts_at", "ends_at", "all_day", "owner_id", "owner_email", "link")


def save_rows(uow: UnitOfWork, deps: Deps, rows: list[dict]) -> Saved:
    """Upsert items by ``external_id`` (set-based: a handful of queries however many rows) and
    warn the owners of any new conflict. Rows identical to what is stored are left alone."""
    existing = uow.schedule.by_external_ids(r["external_id"] for r in rows)
    changed = []
    for r in rows:
        old = existing.get(r["external_id"])
        if old is None or any(getattr(old, k) != r[k] for k in _COMPARED):
            changed.append(r)
    uow.schedule.upsert_many(changed)
    saved = uow.schedule.by_external_ids(r["external_id"] for r in changed)
    items = [to_item(saved[r["external_id"]]) for r in changed]
    new = sum(1 for r in changed if r["external_id"] not in existing)
    return Saved(
        new=new,
        updated=len(changed) - new,
        unchanged=len(rows) - len(changed),
        items=items,
        conflicts=warn_owners(uow, deps, items),
    )


def warn_owners(uow: UnitOfWork, deps: Deps, new_items: list[Item]) -> list[rules.Conflict]:
    """Tell both owners of each conflict the new items cause (once per pair and owner, only for
    conflicts still ahead). Days are read in the new item's team's timezone."""
    now = deps.now()
    fresh = [i for i in new_items if i.end + DAY > now]  # (all-day items end at a UTC midnight)
    if not fresh:
        return []
    lo, hi = min(i.start for i in fresh) - 2 * DAY, max(i.end for i in fresh) + 2 * DAY
    pool = {r.id: to_item(r) for r in uow.schedule.rows_overlapping(lo, hi)}
    pool.update({i.id: i for i in fresh})
    found: dict[str, rules.Conflict] = {}
    for team in sorted({i.team for i in fresh}):
        tz = ZoneInfo(deps.config.team_timezone(team))
        ids = {i.id for i in fresh if i.team == team}
        for c in rules.find_conflicts(pool.values(), tz, involving=ids):
            if c.end > now:
                found.setdefault(c.key, c)
    conflicts = list(found.values())
    people = uow.people.many(pid for c in conflicts for pid in c.owner_ids)
    uow.outbox.add_many(
        [
            dict(
                key=f"schedule:conflict:{c.key}:to:{pid}",
                destination=dm(pid),
                payload=reviewable(
                    deps.config,
                    msgs.warning_message(c, ZoneInfo(people[pid].timezone)),
                    f"Schedule conflict: {c.first.title}"[:300],
                ).to_json(),
            )
            for c in conflicts
            for pid in c.owner_ids
            if pid in people
        ],
        at=now,
    )
    return conflicts


def schedule_upserted(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    """``schedule.upserted`` CRM events: upsert by the CRM's id (the last in a batch wins)."""
    owners = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    latest: dict[str, dict] = {}
    for e in events:
        d = e.data
        email = d.owner_email.lower() if d.owner_email else None
        latest[f"crm:{d.id}"] = dict(
            external_id=f"crm:{d.id}",
            team=d.team,
            kind=d.kind,
            title=d.title,
            regions=rules.clean_regions(d.regions),
            starts_at=d.start,
            ends_at=d.end,
            all_day=False,
            owner_id=owners.get(email or ""),
            owner_email=email,
            link=d.link,
            source="webhook",
            created_at=deps.now(),
        )
    save_rows(uow, deps, list(latest.values()))


def import_calendar(
    uow, deps: Deps, occurrences: list[dict], *, team: str, uids: set[str], window: tuple[datetime, datetime]
) -> Saved:
    """An iCal import (rows from ``bot/ical.py``): upsert every occurrence, and remove the
    occurrences of the same calendar events in the window that the file no longer has
    (cancelled, or excluded with EXDATE). Running it again with the same file changes nothing."""
    owners = uow.people.ids_by_email(o["owner_email"] for o in occurrences if o.get("owner_email"))
    rows = [
        dict(o, team=team, owner_id=owners.get(o.get("owner_email") or ""), source="ical", created_at=deps.now())
        for o in occurrences
    ]
    result = save_rows(uow, deps, rows)
    keep = {r["external_id"] for r in rows}
    stale = [
        r.id
        for r in uow.schedule.overlapping(*window, team=team, source="ical")
        if r.external_id not in keep
        and from_calendar(r.external_id, uids)
        and (r.ends_at > window[0] or r.starts_at >= window[0])
    ]
    result.removed = uow.schedule.delete_many(stale)
    uow.commit()
    return result


def from_calendar(external_id: str | None, uids: set[str]) -> bool:
    """Whether an imported item (external id ``ical:<uid>[#<recurrence>]``) is one of ``uids``' events."""
    if not external_id or not external_id.startswith("ical:"):
        return False
    rest = external_id[len("ical:") :]
    return rest in uids or rest.rsplit("#", 1)[0] in uids


# --- the add form -----------------------------------------------------------------------------


def parse_add_form(values: dict[str, str | None], teams: list[str]) -> tuple[dict, dict[str, str]]:
    """The form's values as item fields, and every problem at once (field -> what is wrong)."""
    v = {k: (values.get(k) or "").strip() for k in ("team", "kind", "title", "regions", "start", "end", "link")}
    errors: dict[str, str] = {}
    if v["team"] not in teams:
        errors["team"] = f"Choose a team: {', '.join(teams)}."
    if v["kind"] not in SCHEDULE_KINDS:
        errors["kind"] = "Choose a kind."
    if not v["title"]:
        errors["title"] = "Give it a title."
    elif len(v["title"]) > 200:
        errors["title"] = "Keep the title under 200 characters."
    regions = rules.clean_regions(v["regions"].split(","))
    if len(regions) > 50 or any(len(r) > 100 for r in regions):
        errors["regions"] = "Up to 50 regions, each under 100 characters."
    start = end = None
    try:
        start = date.fromisoformat(v["start"])
    except ValueError:
        errors["start"] = "Pick a start date." if not v["start"] else f"{v['start'][:20]!r} is not a date (YYYY-MM-DD)."
    try:
        end = date.fromisoformat(v["end"]) if v["end"] else start
    except ValueError:
        errors["end"] = f"{v['end'][:20]!r} is not a date (YYYY-MM-DD)."
    if start and end and "end" not in errors:
        if end < start:
            errors["end"] = "The end date is before the start date."
        elif (end - start).days >= MAX_DAYS:
            errors["end"] = "An item can last a year at most."
    if v["link"] and (not v["link"].startswith(("http://", "https://")) or len(v["link"]) > 3000 or " " in v["link"]):
        errors["link"] = "A link starts with https:// (or http://)."
    fields = dict(
        team=v["team"], kind=v["kind"], title=v["title"], regions=regions, start=start, end=end, link=v["link"] or None
    )
    return fields, errors


def add_submitted(uow: UnitOfWork, deps: Deps, actor: Actor, state: str, values: dict[str, str | None]) -> Reply:
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise UserError(
            "I don't know who you are yet, so I can't make you the owner: ask an admin to add you "
            "to the people in the config."
        )
    f, errors = parse_add_form(values, list(deps.config.teams))
    if errors:
        return Reply(errors=errors)
    row = uow.schedule.create(
        team=f["team"],
        kind=f["kind"],
        title=f["title"],
        regions=f["regions"],
        starts_at=datetime.combine(f["start"], datetime.min.time(), tzinfo=UTC),
        ends_at=datetime.combine(f["end"] + DAY, datetime.min.time(), tzinfo=UTC),
        all_day=True,
        owner_id=person.id,
        owner_email=person.email,
        link=f["link"],
        source="command",
        created_at=deps.now(),
    )
    item = to_item(row)
    conflicts = warn_owners(uow, deps, [item])
    uow.commit()
    return Reply(message=msgs.added_reply(item, _tz_of(deps, person), conflicts))


FLOW = Flow(
    name="schedule",
    commands={"schedule": schedule_command},
    read_only=frozenset({"schedule"}),
    forms={"schedule.add": add_submitted},
    events={"schedule.upserted": schedule_upserted},
    jobs={"digest": digest_job},
    help=[
        ("schedule", "this week of both teams, with the conflicts (only you see it)"),
        ("schedule next", "next week of both teams"),
        ("schedule add", "add a launch, webinar, event, promotion, focus or blitz to the schedule"),
    ],
)
