from __future__ import annotations

from typing import Any, Iterable, Sequence, cast

import sqlalchemy as sa
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select

from storage.models import Person
from storage.repos.base import Repo, by_id, table_of


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
        return self.by_account("slack", slack_user_id)

    def by_teams_id(self, teams_user_id: str) -> Person | None:
        return self.by_account("teams", teams_user_id)

    # -- chat accounts (the rules are in handlers/identity.py) ---------------------------------
    ACCOUNT_COLUMNS = {"slack": "slack_user_id", "teams": "teams_user_id"}

    def _account(self, platform: str):
        return getattr(Person, self.ACCOUNT_COLUMNS[platform])

    def by_account(self, platform: str, *account_ids: str | None) -> Person | None:
        """The person linked to any of ``account_ids`` on ``platform`` (the first id wins)."""
        for account_id in account_ids:
            if account_id:
                found = self.session.exec(
                    select(Person).where(self._account(platform) == account_id).order_by(col(Person.id))
                ).first()
                if found is not None:
                    return found
        return None

    def claim_account(self, person_id: int, platform: str, account_id: str) -> bool:
        """Link the person to the account unless they are linked already (to it: True; to another
        account: False). One conditional UPDATE, so of two requests at once only one links."""
        column = self._account(platform)
        self.session.execute(
            sa.update(Person).where(col(Person.id) == person_id, column.is_(None)).values({column.key: account_id})
        )
        self.session.info["people_changed"] = True  # whoever keeps people in memory reads them again
        current = self.session.execute(sa.select(column).where(col(Person.id) == person_id)).scalar()
        person = self.session.get(Person, person_id)
        if person is not None:
            self.session.refresh(person)
        return current == account_id

    def release_account(self, platform: str, account_id: str, *, keep_person_id: int) -> list[int]:
        """Unlink the account from everyone but ``keep_person_id`` (an admin's link by hand wins);
        returns who lost it."""
        column = self._account(platform)
        # primary keys: never None (the model types ``id`` ``int | None`` for rows not inserted yet)
        ids = cast(
            "list[int]",
            list(self.session.exec(select(Person.id).where(column == account_id, Person.id != keep_person_id))),
        )
        if ids:
            self.session.execute(sa.update(Person).where(col(Person.id).in_(ids)).values({column.key: None}))
            self.session.info["people_changed"] = True
            for pid in ids:
                person = self.session.get(Person, pid)
                if person is not None:
                    self.session.refresh(person)
        return ids

    def all(self) -> Sequence[Person]:
        return self.session.exec(select(Person).order_by(Person.team, Person.name)).all()

    def many(self, ids: Iterable[int]) -> dict[int, Person]:
        """These people by id. Those this unit of work has loaded already (who acts, a lead's owner
        loaded with the lead) cost no query: a query would hand back the same objects, unchanged."""
        wanted = set(ids)
        found: dict[int, Person] = {}
        if not self.session.deleted:  # a deletion not flushed yet: the query decides
            held = (self.session.identity_map.get(identity_key(Person, i)) for i in wanted)
            found = by_id(p for p in held if p is not None)
        rest = wanted - found.keys()
        if rest:
            found.update(by_id(self.session.exec(select(Person).where(self.one_of(Person.id, rest)))))
        return found

    def ids_by_email(self, emails: Iterable[str]) -> dict[str, int]:
        return self.ids_by(Person.email, {e.strip().lower() for e in emails if e})

    def new(self, *, key: str, name: str, email: str, team: str, **fields: Any) -> Person:
        """A person not stored yet (``add`` stores them): the caller sets the rest first."""
        return Person(key=key, name=name, email=email, team=team, **fields)

    def add(self, person: Person) -> Person:
        self.session.add(person)
        self.session.flush()
        return person

    def add_many(self, people: list[Person]) -> None:
        """New people in one flush (a directory page's newcomers)."""
        self.session.add_all(people)
        self.session.flush()

    def team(self, team: str) -> Sequence[Person]:
        return self.session.exec(select(Person).where(Person.team == team).order_by(Person.name)).all()

    def admins(self) -> Sequence[Person]:
        return self.session.exec(select(Person).where(Person.is_admin == True)).all()  # noqa: E712

    # -- the directory (handlers/directory.py) ----------------------------------------------------
    def by_emails(self, emails: Iterable[str | None]) -> dict[str, Person]:
        emails = {e.strip().lower() for e in emails if e}
        if not emails:
            return {}
        # a page at a time (≤ 500): IN (...) uses the index even before the table is analysed
        return {p.email: p for p in self.session.exec(select(Person).where(col(Person.email).in_(emails)))}

    def by_accounts(self, platform: str, account_ids: Iterable[str]) -> dict[str, Person]:
        ids = {a for a in account_ids if a}
        if not ids:
            return {}
        column = self._account(platform)
        return {getattr(p, column.key): p for p in self.session.exec(select(Person).where(column.in_(ids)))}

    def waiting_for_manager(self, emails: Iterable[str]) -> Sequence[Person]:
        """People whose CRM manager is one of ``emails`` but who are not linked to them yet."""
        emails = {e for e in emails if e}
        if not emails:
            return []
        return self.session.exec(
            select(Person).where(col(Person.manager_email).in_(emails), col(Person.manager_id).is_(None))
        ).all()

    def manager_map(self) -> dict[int, int | None]:
        return dict(self.session.execute(sa.select(col(Person.id), col(Person.manager_id))).all())

    def deactivate(self, person_id: int) -> bool:
        """Mark the person as gone; False if they were already (one conditional UPDATE: of two
        syncs at once only one goes on to hand their leads over)."""
        result = self.session.exec(
            sa.update(Person)
            .where(col(Person.id) == person_id, col(Person.active) == True)  # noqa: E712
            .values(active=False)
        )
        self.session.info["people_changed"] = True
        person = self.session.get(Person, person_id)
        if person is not None:
            self.session.refresh(person)
        return result.rowcount == 1

    def inactive(self, ids: Iterable[int]) -> dict[int, Person]:
        """Those of ``ids`` who left (one query; none in the usual case)."""
        ids = list(set(ids))
        if not ids:
            return {}
        return by_id(self.session.exec(select(Person).where(self.one_of(Person.id, ids), Person.active == sa.false())))

    def claim_accounts(self, platform: str, wanted: dict[int, str]) -> int:
        """``claim_account`` for many people in one statement (each only if still unlinked);
        returns how many were linked."""
        if not wanted:
            return 0
        self.session.flush()
        column = self._account(platform)
        t = table_of(Person)
        stmt = (
            sa.update(t)
            .where(t.c.id == sa.bindparam("pid"), t.c[column.key].is_(None))
            .values({column.key: sa.bindparam("acc")})
        )
        result = self.session.connection().execute(stmt, [dict(pid=pid, acc=acc) for pid, acc in wanted.items()])
        self.session.info["people_changed"] = True
        for pid in wanted:
            person = self.session.identity_map.get(self.session.identity_key(Person, pid))
            if person is not None:
                self.session.expire(person, [column.key])
        return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(wanted)
