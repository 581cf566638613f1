"""An in-memory unit of work for handler unit tests: no database, no SQL.

It implements the ports of ``handlers/ports.py`` that the out-of-office flow uses (``uow.people``,
``uow.away``, and the little of ``uow.outbox`` and ``uow.leads`` that ``/smarketing away`` reaches
through ``handlers/notify.py``). A unit of work works on a copy of the committed state and
``commit()`` makes the copy the state: what is not committed is thrown away, as on a database.
A repository method another flow needs is not here: the test fails with an ``AttributeError``
naming it, and it is added when that flow's tests move here. The database tests (``storage/``
behind the same ports) stay where they are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from handlers.ports import Deps


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
class State:
    """What is committed: rows by id, and the next id."""

    people: dict[int, FakePerson] = field(default_factory=dict)
    away: dict[int, FakeAwayPeriod] = field(default_factory=dict)
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
        return self

    def __exit__(self, *exc: object) -> None:
        del self.state, self.people, self.away, self.outbox

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
