"""An in-memory unit of work for handler unit tests: no database, no SQL.

It implements the ports of ``handlers/ports.py`` that these flows' commands reach, as
``storage/repos/*.py`` do (same filters, order, and None for a row that is not there):

- out of office (tests/test_away_unit.py): ``uow.people``, ``uow.away``, and the little of
  ``uow.outbox`` and ``uow.leads`` that ``/smarketing away`` reaches through ``handlers/notify.py``;
- preferences (tests/test_prefs_unit.py): ``uow.prefs``.

A unit of work works on a copy of the committed state and ``commit()`` makes the copy the state:
what is not committed is thrown away, as on a database. A repository method no flow here needs
is not here: the test fails with an ``AttributeError`` naming it, and it is added when that flow's
tests move here. The database tests (``storage/`` behind the same ports) stay where they are, with
a test of each query the fake imitates. ``FakeApp`` runs commands, buttons and forms on it as the
adapters do (``handlers/commands.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any, Iterable

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
class State:
    """What is committed: rows by id (preferences by person id), and the next id."""

    people: dict[int, FakePerson] = field(default_factory=dict)
    away: dict[int, FakeAwayPeriod] = field(default_factory=dict)
    prefs: dict[int, FakeDeliveryPref] = field(default_factory=dict)
    last_id: int = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id


class FakePeople:
    ACCOUNT_COLUMNS = {"slack": "slack_user_id", "teams": "teams_user_id"}

    def __init__(self, state: State):
        self.state = state

    def new(self, *, key: str, name: str, email: str, team: str, **fields: Any) -> FakePerson:
        return FakePerson(key=key, name=name, email=email, team=team, **fields)

    def add(self, person: FakePerson) -> FakePerson:
        if not person.id:
            person.id = self.state.next_id()
        self.state.people[person.id] = person
        return person

    def get(self, person_id: int) -> FakePerson | None:
        return self.state.people.get(person_id)

    def by_key(self, key: str) -> FakePerson | None:
        return next((p for p in self.state.people.values() if p.key == key), None)

    def by_email(self, email: str | None) -> FakePerson | None:
        if not email:
            return None
        return next((p for p in self.state.people.values() if p.email == email.strip().lower()), None)

    def all(self) -> list[FakePerson]:
        return sorted(self.state.people.values(), key=lambda p: (p.team, p.name))

    def many(self, ids: Iterable[int]) -> dict[int, FakePerson]:
        return {i: self.state.people[i] for i in set(ids) if i in self.state.people}

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
            period.id = self.state.next_id()
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


class FakeOutbox:
    """Only what rerouting held messages reads: nothing is ever held here."""

    def __init__(self, state: State):
        self.state = state

    def held_for(self, destination: str, *, now: datetime) -> list:
        return []


class FakeUnitOfWork:
    """``handlers.ports.UnitOfWork`` in memory, for the repositories above."""

    def __init__(self, factory: FakeUowFactory):
        self.factory = factory
        self.commits = 0

    def __enter__(self) -> FakeUnitOfWork:
        self.state = copy.deepcopy(self.factory.state)
        self.people = FakePeople(self.state)
        self.away = FakeAway(self.state)
        self.outbox = FakeOutbox(self.state)
        self.prefs = FakePrefs(self.state)
        return self

    def __exit__(self, *exc: object) -> None:
        del self.state, self.people, self.away, self.outbox, self.prefs

    def commit(self) -> None:
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
        return FakeUnitOfWork(self)

    def read(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


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
