from __future__ import annotations

from typing import Iterable, Sequence

from sqlmodel import select

from storage.models import Person
from storage.repos.base import Repo


class PeopleRepo(Repo):
    def get(self, person_id: int) -> Person | None:
        return self.session.get(Person, person_id)

    def by_key(self, key: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.key == key)).first()

    def by_email(self, email: str | None) -> Person | None:
        if not email:
            return None
        return self.session.exec(select(Person).where(Person.email == email.strip().lower())).first()

    def by_slack_id(self, slack_user_id: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.slack_user_id == slack_user_id)).first()

    def by_teams_id(self, teams_user_id: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.teams_user_id == teams_user_id)).first()

    def all(self) -> Sequence[Person]:
        return self.session.exec(select(Person).order_by(Person.team, Person.name)).all()

    def many(self, ids: Iterable[int]) -> dict[int, Person]:
        ids = list(set(ids))
        if not ids:
            return {}
        return {p.id: p for p in self.session.exec(select(Person).where(self.one_of(Person.id, ids)))}

    def ids_by_email(self, emails: Iterable[str]) -> dict[str, int]:
        return self.ids_by(Person.email, {e.strip().lower() for e in emails if e})

    def add(self, person: Person) -> Person:
        self.session.add(person)
        self.session.flush()
        return person

    def team(self, team: str) -> Sequence[Person]:
        return self.session.exec(select(Person).where(Person.team == team).order_by(Person.name)).all()

    def admins(self) -> Sequence[Person]:
        return self.session.exec(select(Person).where(Person.is_admin == True)).all()  # noqa: E712
