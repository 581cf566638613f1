"""An in-memory unit of work for handler unit tests: no database, no SQL.

It implements the ports of ``handlers/ports.py`` that these flows' commands reach, as
``storage/repos/*.py`` do (same filters, order, and None for a row that is not there):

- out of office (tests/test_away_unit.py): ``uow.people``, ``uow.away``, and the held messages of
  ``uow.outbox`` that ``/smarketing away`` reroutes through ``handlers/notify.py``;
- preferences (tests/test_prefs_unit.py): ``uow.prefs``;
- bounce-back (tests/test_bounce_unit.py): ``uow.leads`` (leads, their events and follow-ups),
  ``uow.bounces``, ``uow.campaigns`` (what messages show of one), and ``uow.outbox`` as a queue:
  each key once, updates of a held post folded into it, the messages following a lead
  (``about``/``settle``) and what this unit of work updated (``updates_queued_here``). Nothing
  delivers: ``uow.outbox.rows()`` is what was queued, for the tests to read;
- weekly schedules (tests/test_schedule_unit.py): ``uow.schedule`` (what overlaps a window) and
  ``uow.people.team``. ``factory.read()`` gives a unit of work that refuses to commit, as the
  read-only commands get;
- the joint review's action items (tests/test_review_unit.py): ``uow.review`` (open items by due
  date, done since, created between, to remind, a reminder claimed once) and
  ``uow.people.by_slack_id``;
- cooling leads' commands and buttons (tests/test_cooling_unit.py): what the bounce-back's
  ``uow.leads`` has, and ``qualified_for_owner`` (earliest SLA due first, none due last).

A unit of work works on a copy of the committed state and ``commit()`` makes the copy the state:
what is not committed is thrown away, as on a database. A repository method no flow here needs
is not here: the test fails with an ``AttributeError`` naming it, and it is added when that flow's
tests move here. The database tests (``storage/`` behind the same ports) stay where they are, with
a test of each query the fake imitates. ``FakeApp`` runs commands, buttons and forms on it as the
adapters do (``handlers/commands.py``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import Any, Iterable, Sequence

from handlers.messages import Reply
from handlers.ports import Actor, Deps


@dataclass
class FakePerson:
    key: str
    name: str
    email: str
    team: str
    id: int = 0  # 0: not stored yet; ``people.add`` gives it an id
    role: str = "rep"
    is_admin: bool = False
    manager_id: int | None = None
    timezone: str = "UTC"
    backup_id: int | None = None
    slack_user_id: str | None = None
    slack_lookup_at: datetime | None = None
    teams_user_id: str | None = None
    linked_manually: bool = False
    source: str = "yaml"
    active: bool = True
    manager_email: str | None = None
    crm_owner_id: str | None = None


@dataclass
class FakeAwayPeriod:
    person_id: int
    starts_at: datetime
    ends_at: datetime
    id: int = 0
    source: str = "command"
    created_by_id: int | None = None
    created_at: datetime | None = None
    summary_at: datetime | None = None


@dataclass
class FakeDeliveryPref:
    person_id: int
    digest_time: time | None = None
    warn: str | None = None
    manager: str | None = None
    muted: list = field(default_factory=list)
    updated_at: datetime | None = None


@dataclass
class FakeCampaign:
    crm_id: str
    name: str
    id: int = 0
    kind: str = "other"
    owner_id: int | None = None
    owner_email: str | None = None
    updated_at: datetime | None = None


@dataclass
class FakeLead:
    crm_id: str
    id: int = 0
    email: str | None = None
    name: str | None = None
    company: str | None = None
    title: str | None = None
    status: str = "new"
    crm_status: str | None = None
    score: int | None = None
    tier: str | None = None
    owner_id: int | None = None
    owner_email: str | None = None
    source_campaign_id: int | None = None
    qualified_at: datetime | None = None
    handoff_due_at: datetime | None = None
    first_touch_at: datetime | None = None
    claimed_at: datetime | None = None
    region: str | None = None
    segment: str | None = None
    sla_started_at: datetime | None = None
    sla_due_at: datetime | None = None
    sla_clock: str = "first_touch"
    sla_window: int = 0
    ladder_step: int = 0
    next_alert_at: datetime | None = None
    snoozed_until: datetime | None = None
    snooze_count: int = 0
    last_touch_at: datetime | None = None
    touch_count: int = 0
    bounce_count: int = 0
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attrs: dict = field(default_factory=dict)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FakeLeadEvent:
    lead_id: int
    version: int
    kind: str
    at: datetime
    id: int = 0
    by_person_id: int | None = None
    owner_id: int | None = None
    detail: dict = field(default_factory=dict)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FakeLeadTouch:
    lead_id: int
    source: str
    occurred_at: datetime
    id: int = 0
    person_id: int | None = None
    note: str | None = None


@dataclass
class FakeBounce:
    lead_id: int
    reason: str
    at: datetime
    id: int = 0
    campaign_id: int | None = None
    note: str | None = None
    by_person_id: int | None = None
    repeat: bool = False
    acknowledged_by_id: int | None = None
    acknowledged_at: datetime | None = None
    requalified_at: datetime | None = None
    requalified_by_id: int | None = None
    context: dict = field(default_factory=dict)


@dataclass
class FakeOutboxRow:
    """An outbox row as queued: nothing here delivers it, so it stays ``pending``."""

    key: str
    destination: str
    payload: dict
    created_at: datetime
    next_attempt_at: datetime
    id: int = 0
    op: str = "post"
    target_key: str | None = None
    subject: str | None = None
    role: str | None = None
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None

    def held(self, now: datetime) -> bool:
        """A post held for later (quiet hours) that was never tried (storage/repos/outbox.py ``_held``)."""
        return (
            self.status == "pending"
            and self.op == "post"
            and self.attempts == 0
            and self.last_error is None
            and self.next_attempt_at > now
        )


@dataclass
class FakeScheduleItem:
    team: str
    kind: str
    title: str
    starts_at: datetime
    ends_at: datetime  # exclusive
    id: int = 0
    external_id: str | None = None
    regions: list = field(default_factory=list)
    all_day: bool = False
    owner_id: int | None = None
    owner_email: str | None = None
    link: str | None = None
    source: str = "command"
    created_at: datetime | None = None


@dataclass
class FakeActionItem:
    owner_id: int
    text: str
    due_on: date
    created_at: datetime
    meeting_on: date
    id: int = 0
    status: str = "open"
    created_by_id: int | None = None
    source_key: str | None = None
    source_text: str | None = None
    reminded_at: datetime | None = None
    done_at: datetime | None = None
    done_by_id: int | None = None


@dataclass
class State:
    """What is committed: rows by id (preferences by person id), and each table's last id."""

    people: dict[int, FakePerson] = field(default_factory=dict)
    away: dict[int, FakeAwayPeriod] = field(default_factory=dict)
    prefs: dict[int, FakeDeliveryPref] = field(default_factory=dict)
    campaigns: dict[int, FakeCampaign] = field(default_factory=dict)
    leads: dict[int, FakeLead] = field(default_factory=dict)
    events: dict[int, FakeLeadEvent] = field(default_factory=dict)
    touches: dict[int, FakeLeadTouch] = field(default_factory=dict)
    bounces: dict[int, FakeBounce] = field(default_factory=dict)
    outbox: dict[int, FakeOutboxRow] = field(default_factory=dict)
    schedule: dict[int, FakeScheduleItem] = field(default_factory=dict)
    review: dict[int, FakeActionItem] = field(default_factory=dict)
    last_ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, table: str) -> int:
        """The table's next id: each table counts from 1, as each has its own sequence."""
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


class FakePeople:
    ACCOUNT_COLUMNS = {"slack": "slack_user_id", "teams": "teams_user_id"}

    def __init__(self, state: State):
        self.state = state

    def new(self, *, key: str, name: str, email: str, team: str, **fields: Any) -> FakePerson:
        return FakePerson(key=key, name=name, email=email, team=team, **fields)

    def add(self, person: FakePerson) -> FakePerson:
        if not person.id:
            person.id = self.state.next_id("person")
        self.state.people[person.id] = person
        return person

    def get(self, person_id: int) -> FakePerson | None:
        return self.state.people.get(person_id)

    def by_key(self, key: str) -> FakePerson | None:
        return next((p for p in self.state.people.values() if p.key == key), None)

    def by_slack_id(self, slack_user_id: str) -> FakePerson | None:
        return next((p for p in self.all_by_id() if slack_user_id and p.slack_user_id == slack_user_id), None)

    def all_by_id(self) -> list[FakePerson]:
        return sorted(self.state.people.values(), key=lambda p: p.id)

    def by_email(self, email: str | None) -> FakePerson | None:
        if not email:
            return None
        return next((p for p in self.state.people.values() if p.email == email.strip().lower()), None)

    def all(self) -> list[FakePerson]:
        return sorted(self.state.people.values(), key=lambda p: (p.team, p.name))

    def many(self, ids: Iterable[int]) -> dict[int, FakePerson]:
        return {i: self.state.people[i] for i in set(ids) if i in self.state.people}

    def team(self, team: str) -> list[FakePerson]:
        """Everyone in the team (those who left too), by name."""
        return sorted((p for p in self.state.people.values() if p.team == team), key=lambda p: p.name)

    def inactive(self, ids: Iterable[int]) -> dict[int, FakePerson]:
        return {i: p for i, p in self.many(ids).items() if not p.active}


class FakeAway:
    def __init__(self, state: State):
        self.state = state

    def _of(self, person_id: int) -> list[FakeAwayPeriod]:
        return sorted((p for p in self.state.away.values() if p.person_id == person_id), key=lambda p: p.starts_at)

    def create(self, *, person_id: int, starts_at: datetime, ends_at: datetime, **fields: Any) -> FakeAwayPeriod:
        return self.add(FakeAwayPeriod(person_id=person_id, starts_at=starts_at, ends_at=ends_at, **fields))

    def add(self, period: FakeAwayPeriod) -> FakeAwayPeriod:
        if not period.id:
            period.id = self.state.next_id("away")
        self.state.away[period.id] = period
        return period

    def remove(self, period: FakeAwayPeriod) -> None:
        del self.state.away[period.id]

    def current(self, person_ids: Iterable[int], *, at: datetime) -> dict[int, FakeAwayPeriod]:
        return {p.person_id: p for i in set(person_ids) for p in self._of(i) if p.starts_at <= at < p.ends_at}

    def for_person(self, person_id: int, *, ending_after: datetime) -> list[FakeAwayPeriod]:
        return [p for p in self._of(person_id) if p.ends_at > ending_after]

    def overlapping(self, person_id: int, starts_at: datetime, ends_at: datetime) -> FakeAwayPeriod | None:
        return next((p for p in self._of(person_id) if p.starts_at < ends_at and p.ends_at > starts_at), None)

    def from_config(self) -> list[FakeAwayPeriod]:
        return [p for p in self.state.away.values() if p.source == "config"]


class FakePrefs:
    """storage/repos/prefs.py: one row a person, none when they keep the config's defaults."""

    def __init__(self, state: State):
        self.state = state

    def get(self, person_id: int) -> FakeDeliveryPref | None:
        return self.state.prefs.get(person_id)

    def many(self, person_ids: Iterable[int]) -> dict[int, FakeDeliveryPref]:
        return {i: self.state.prefs[i] for i in set(person_ids) if i in self.state.prefs}

    def get_or_blank(self, person_id: int) -> FakeDeliveryPref:
        return self.get(person_id) or FakeDeliveryPref(person_id=person_id, muted=[])  # not stored: ``save`` does

    def save(self, pref: FakeDeliveryPref) -> FakeDeliveryPref:
        self.state.prefs[pref.person_id] = pref
        return pref

    def remove(self, person_id: int) -> bool:
        return self.state.prefs.pop(person_id, None) is not None


class FakeCampaigns:
    """storage/repos/campaigns.py: what a lead's messages show of its source campaign."""

    def __init__(self, state: State):
        self.state = state

    def add(self, campaign: FakeCampaign) -> FakeCampaign:
        if not campaign.id:
            campaign.id = self.state.next_id("campaign")
        self.state.campaigns[campaign.id] = campaign
        return campaign

    def get(self, campaign_id: int) -> FakeCampaign | None:
        return self.state.campaigns.get(campaign_id)

    def many(self, ids: Iterable[int]) -> dict[int, FakeCampaign]:
        return {i: self.state.campaigns[i] for i in set(ids) if i in self.state.campaigns}

    def briefs(self, ids: Iterable[int]) -> dict[int, FakeCampaign]:
        return self.many(ids)  # the rows themselves: they have every column a brief has


class FakeLeads:
    """storage/repos/leads.py: leads, their lifecycle events and their sales follow-ups."""

    def __init__(self, state: State):
        self.state = state

    def add(self, lead: FakeLead) -> FakeLead:
        if not lead.id:
            lead.id = self.state.next_id("lead")
        self.state.leads[lead.id] = lead
        return lead

    def get(self, lead_id: int) -> FakeLead | None:
        return self.state.leads.get(lead_id)

    def get_for_update(self, lead_id: int) -> FakeLead | None:
        return self.get(lead_id)  # one writer here: nothing to lock

    def many(self, lead_ids: Iterable[int]) -> dict[int, FakeLead]:
        return {i: self.state.leads[i] for i in set(lead_ids) if i in self.state.leads}

    def find(self, ref: str, limit: int = 10, *, for_update: bool = False) -> list[FakeLead]:
        """By CRM id as typed, or by email as typed or lower-cased (emails are stored lower-cased).
        ``for_update``: one unit of work at a time here, so there is nothing to lock."""
        ref = ref.strip()
        emails = {ref, ref.lower()}
        found = [lead for lead in self.state.leads.values() if lead.crm_id == ref or lead.email in emails]
        return sorted(found, key=lambda lead: lead.id)[:limit]

    def qualified_for_owner(self, owner_id: int, *, limit: int, offset: int = 0) -> tuple[list[FakeLead], int]:
        """A person's qualified leads, earliest SLA due first (none due: last), then by id; and how many."""
        mine = [x for x in self.state.leads.values() if x.status == "qualified" and x.owner_id == owner_id]
        mine.sort(key=lambda x: (x.sla_due_at is None, x.sla_due_at or datetime.min.replace(tzinfo=timezone.utc), x.id))
        return mine[offset : offset + limit], len(mine)

    def add_events(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            event = FakeLeadEvent(**row)
            event.id = self.state.next_id("leadevent")
            self.state.events[event.id] = event

    def last_events(self, lead_ids: Iterable[int], kinds: Sequence[str]) -> dict[int, FakeLeadEvent]:
        """Each lead's newest event (highest id) of one of ``kinds``."""
        ids, out = set(lead_ids), {}
        for event in sorted(self.state.events.values(), key=lambda e: e.id):
            if event.lead_id in ids and event.kind in kinds:
                out[event.lead_id] = event
        return out

    def add_touches(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            touch = FakeLeadTouch(**row)
            touch.id = self.state.next_id("leadtouch")
            self.state.touches[touch.id] = touch

    def touches(self, lead_id: int) -> list[FakeLeadTouch]:
        """A lead's follow-ups, oldest first."""
        mine = (t for t in self.state.touches.values() if t.lead_id == lead_id)
        return sorted(mine, key=lambda t: (t.occurred_at, t.id))


class FakeBounces:
    """storage/repos/bounces.py: each bounce of a lead, its history oldest first."""

    def __init__(self, state: State):
        self.state = state

    def add(self, bounce: FakeBounce) -> FakeBounce:
        if not bounce.id:
            bounce.id = self.state.next_id("bounce")
        self.state.bounces[bounce.id] = bounce
        return bounce

    def create(self, *, lead_id: int, reason: str, at: datetime, context: dict | None = None, **fields: Any):
        return self.add(FakeBounce(lead_id=lead_id, reason=reason, at=at, context=context or {}, **fields))

    def get_for_update(self, bounce_id: int) -> FakeBounce | None:
        return self.state.bounces.get(bounce_id)

    def for_lead(self, lead_id: int) -> list[FakeBounce]:
        return self.for_leads([lead_id]).get(lead_id, [])

    def for_leads(self, lead_ids: Iterable[int]) -> dict[int, list[FakeBounce]]:
        ids, out = set(lead_ids), {}
        for b in sorted(self.state.bounces.values(), key=lambda b: (b.at, b.id)):
            if b.lead_id in ids:
                out.setdefault(b.lead_id, []).append(b)
        return out

    def facts(self, *, lead_id: int, reason: str | None, since: datetime | None):
        from storage.repos.bounces import BounceFacts

        touched = [
            t.occurred_at
            for t in self.state.touches.values()
            if t.lead_id == lead_id and (since is None or t.occurred_at >= since)
        ]
        repeat = reason is not None and any(
            b.lead_id == lead_id and b.reason == reason for b in self.state.bounces.values()
        )
        return BounceFacts(repeat, len(touched), max(touched, default=None))

    def mark_requalified(self, *, lead_ids: Iterable[int], at: datetime, by_person_id: int | None = None) -> int:
        """Close the open (not yet re-qualified) bounces of these leads; how many."""
        ids = set(lead_ids)
        open_ = [b for b in self.state.bounces.values() if b.lead_id in ids and b.requalified_at is None]
        for b in open_:
            b.requalified_at, b.requalified_by_id = at, by_person_id
        return len(open_)


class FakeOutbox:
    """storage/repos/outbox.py's queue: each key queued once; an update of a post still held for
    later (quiet hours) changes that post instead; ``updates_queued_here`` is this unit of work's.
    Nothing delivers: what is queued stays ``pending``, for the tests to read (``rows``)."""

    def __init__(self, state: State, updates: dict[str, dict]):
        self.state = state
        self.updates = updates

    def rows(self) -> list[FakeOutboxRow]:
        return sorted(self.state.outbox.values(), key=lambda r: r.id)

    def add(self, *, key: str, destination: str, payload: dict, at: datetime, **fields: Any) -> bool:
        return bool(self.add_many([dict(key=key, destination=destination, payload=payload, **fields)], at=at))

    def add_many(self, messages: list[dict], *, at: datetime) -> set[str]:
        stored = {r.key: r for r in self.state.outbox.values()}
        added: set[str] = set()
        for m in messages:
            op, target = m.get("op", "post"), m.get("target_key")
            held = stored.get(target) if op == "update" and target else None
            if held is not None and held.held(at):
                held.payload = m["payload"]  # folded into the post: it goes out once, as it reads then
            elif m["key"] in stored:
                continue
            else:
                row = FakeOutboxRow(
                    key=m["key"],
                    destination=m["destination"],
                    payload=m["payload"],
                    created_at=at,
                    next_attempt_at=m.get("not_before") or at,
                    op=op,
                    target_key=target,
                    subject=m.get("subject"),
                    role=m.get("role"),
                    id=self.state.next_id("outbox"),
                )
                self.state.outbox[row.id] = stored[row.key] = row
            added.add(m["key"])
            if op == "update" and target:
                self.updates[target] = m["payload"]
        return added

    def updates_queued_here(self) -> dict[str, dict]:
        return dict(self.updates)

    def about(self, subjects: Iterable[str]) -> list[FakeOutboxRow]:
        """The posts still following these subjects, oldest first."""
        subjects = set(subjects)
        return [r for r in self.rows() if r.subject in subjects and r.op == "post"]

    def settle(self, keys: Iterable[str]) -> None:
        keys = set(keys)
        for r in self.state.outbox.values():
            if r.key in keys:
                r.subject = None

    def by_key(self, key: str) -> FakeOutboxRow | None:
        return next((r for r in self.state.outbox.values() if r.key == key), None)

    def exists(self, key: str) -> bool:
        return self.by_key(key) is not None

    def held_for(self, destination: str, *, now: datetime) -> list[FakeOutboxRow]:
        return [r for r in self.rows() if r.destination == destination and r.held(now)]

    def drop(self, ids: Iterable[int]) -> None:
        for i in set(ids):
            r = self.state.outbox.get(i)
            if r is not None and r.attempts == 0 and r.status == "pending":
                del self.state.outbox[i]


class FakeSchedule:
    """storage/repos/schedule.py: the items of both teams' weeks."""

    def __init__(self, state: State):
        self.state = state

    def add(self, item: FakeScheduleItem) -> FakeScheduleItem:
        if not item.id:
            item.id = self.state.next_id("scheduleitem")
        self.state.schedule[item.id] = item
        return item

    def create(self, **fields: Any) -> FakeScheduleItem:
        return self.add(FakeScheduleItem(**fields))

    def overlapping(
        self, start: datetime, end: datetime, *, team: str | None = None, source: str | None = None
    ) -> list[FakeScheduleItem]:
        """Items starting before ``end`` and ending at or after ``start`` (so an instant at
        ``start`` is in), by start then id."""
        found = [
            i
            for i in self.state.schedule.values()
            if i.starts_at < end
            and i.ends_at >= start
            and (team is None or i.team == team)
            and (source is None or i.source == source)
        ]
        return sorted(found, key=lambda i: (i.starts_at, i.id))

    def rows_overlapping(self, start: datetime, end: datetime) -> list[FakeScheduleItem]:
        return self.overlapping(start, end)


class FakeReview:
    """storage/repos/review.py: the joint review's action items."""

    def __init__(self, state: State):
        self.state = state

    def add(self, item: FakeActionItem) -> FakeActionItem:
        if not item.id:
            item.id = self.state.next_id("actionitem")
        self.state.review[item.id] = item
        return item

    def create(self, **fields: Any) -> FakeActionItem:
        return self.add(FakeActionItem(**fields))

    def get_for_update(self, item_id: int) -> FakeActionItem | None:
        return self.state.review.get(item_id)

    def _where(self, keep, order) -> list[FakeActionItem]:
        return sorted((i for i in self.state.review.values() if keep(i)), key=order)

    def open_items(self, limit: int = 200) -> list[FakeActionItem]:
        """Open items, soonest due first."""
        return self._where(lambda i: i.status == "open", lambda i: (i.due_on, i.id))[:limit]

    def done_since(self, since: datetime, limit: int = 100) -> list[FakeActionItem]:
        done = self._where(
            lambda i: i.status == "done" and i.done_at is not None and i.done_at >= since, lambda i: (i.done_at, i.id)
        )
        return done[:limit]

    def created_between(self, start: datetime, end: datetime) -> list[FakeActionItem]:
        return self._where(lambda i: start <= i.created_at < end, lambda i: i.id)

    def to_remind(self, *, due_by: date) -> list[FakeActionItem]:
        """Open items not reminded yet, due on or before ``due_by``."""
        return self._where(
            lambda i: i.status == "open" and i.reminded_at is None and i.due_on <= due_by, lambda i: (i.due_on, i.id)
        )

    def mark_reminded(self, item_id: int, at: datetime) -> bool:
        """Claim an item's reminder: True once."""
        item = self.state.review.get(item_id)
        if item is None or item.reminded_at is not None:
            return False
        item.reminded_at = at
        return True


REPOSITORIES = ("people", "away", "outbox", "prefs", "campaigns", "leads", "bounces", "schedule", "review")


class FakeUnitOfWork:
    """``handlers.ports.UnitOfWork`` in memory, for the repositories above."""

    def __init__(self, factory: FakeUowFactory, *, readonly: bool = False):
        self.factory = factory
        self.readonly = readonly  # ``UowFactory.read()``: a write would raise there, a commit does here
        self.commits = 0
        self.updates: dict[str, dict] = {}  # what ``outbox.updates_queued_here`` says

    def __enter__(self) -> FakeUnitOfWork:
        self.state = copy.deepcopy(self.factory.state)
        self.people = FakePeople(self.state)
        self.away = FakeAway(self.state)
        self.outbox = FakeOutbox(self.state, self.updates)
        self.prefs = FakePrefs(self.state)
        self.campaigns = FakeCampaigns(self.state)
        self.leads = FakeLeads(self.state)
        self.bounces = FakeBounces(self.state)
        self.schedule = FakeSchedule(self.state)
        self.review = FakeReview(self.state)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in ("state", *REPOSITORIES):
            delattr(self, name)

    def commit(self) -> None:
        if self.readonly:
            raise RuntimeError("a unit of work that only reads was asked to commit")
        self.commits += 1
        self.factory.state = copy.deepcopy(self.state)

    def commit_now(self) -> None:
        self.commit()

    def defer_commits(self) -> None:
        pass

    def rollback(self) -> None:
        self.__enter__()


class FakeUowFactory:
    """``handlers.ports.UowFactory`` in memory: every unit of work sees what the others committed."""

    def __init__(self) -> None:
        self.state = State()

    def __call__(self, *, readonly: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, readonly=readonly)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, readonly=True)


def with_people(deps: Deps) -> FakeUowFactory:
    """A fake factory holding the config's people (and their configured time away), as at start."""
    from handlers.core import sync_people

    factory = FakeUowFactory()
    with factory() as uow:
        sync_people(uow, deps.config)
        uow.commit()
    return factory


class FakeApp:
    """What an adapter hands a handler, on the fake: the config (the demo one unless given), a
    ``FixedClock`` (Monday 2026-11-23 15:00 UTC unless given), the registry and a factory holding
    the config's people. ``command``/``action``/``form`` run as ``handlers/commands.py`` does."""

    def __init__(self, config: Any = None, at: datetime | None = None):
        from handlers.config import load_config
        from handlers.ports import FixedClock
        from handlers.registry import load_registry

        self.deps = Deps(
            config=config or load_config(None), clock=FixedClock(at or datetime(2026, 11, 23, 15, tzinfo=timezone.utc))
        )
        self.registry = load_registry()
        self.uow_factory: FakeUowFactory = with_people(self.deps)

    def person_id(self, key: str) -> int:
        with self.uow_factory() as uow:
            person = uow.people.by_key(key)
            assert person is not None, key
            return person.id

    def actor(self, who: str) -> Actor:
        return Actor(self.person_id(who), "local")

    def command(self, who: str, text: str) -> Reply:
        from handlers.commands import run_command

        reply = run_command(self.registry, self.uow_factory, self.deps, self.actor(who), text)
        assert reply is not None
        return reply

    def action(self, who: str, action: str, value: str = "", ref: Any = None) -> Reply | None:
        from handlers.commands import run_action

        return run_action(self.registry, self.uow_factory, self.deps, self.actor(who), action, value, ref)

    def form(self, who: str, action: str, values: dict[str, str | None], state: str = "") -> Reply | None:
        from handlers.commands import run_form

        return run_form(self.registry, self.uow_factory, self.deps, self.actor(who), action, state, values)
