"""The chat directory as last synced, and the problems syncs could not apply."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import DirectoryAccount, DirectoryProblem, Person
from storage.repos.base import Repo, table_of

ACCOUNT_FIELDS = ("email", "name", "deleted", "team")


class DirectoryRepo(Repo):
    # -- accounts -------------------------------------------------------------------------------
    def accounts(self, platform: str, account_ids: Iterable[str] | None = None) -> dict[str, dict]:
        """account id -> its columns as last synced (all of the platform's, or those of ``account_ids``)."""
        t = table_of(DirectoryAccount)
        q = sa.select(t.c.account_id, t.c.email, t.c.name, t.c.deleted, t.c.team).where(t.c.platform == platform)
        if account_ids is not None:
            ids = list(set(account_ids))
            if not ids:
                return {}
            q = q.where(t.c.account_id.in_(ids))  # a page (200): IN (...) keeps the index on a fresh table
        return {r.account_id: dict(r._mapping) for r in self.session.execute(q)}

    def save_accounts(self, platform: str, rows: Sequence[dict], *, at: datetime) -> int:
        """Insert or update accounts (dicts: account_id, email, name, deleted, team). Returns how many."""
        if not rows:
            return 0
        t = table_of(DirectoryAccount)
        self.upsert(
            t,
            [dict(platform=platform, seen_at=at, **{k: r[k] for k in ("account_id", *ACCOUNT_FIELDS)}) for r in rows],
            ["platform", "account_id"],
            [*ACCOUNT_FIELDS, "seen_at"],
        )
        return len(rows)

    def account(self, account_id: int) -> DirectoryAccount | None:
        """One listed chat account by its row id (the *Add* button's value)."""
        return self.session.get(DirectoryAccount, account_id)

    def unmatched(self, platform: str | None = None, limit: int = 200) -> Sequence[DirectoryAccount]:
        """Chat accounts (not deleted) that are nobody's: no person has their email or account."""
        q = select(DirectoryAccount).where(DirectoryAccount.deleted == False)  # noqa: E712
        if platform:
            q = q.where(DirectoryAccount.platform == platform)
        q = q.where(~sa.exists().where(col(Person.email) == DirectoryAccount.email))
        q = q.where(
            ~sa.exists().where(
                sa.or_(
                    sa.and_(
                        col(DirectoryAccount.platform) == "slack",
                        col(Person.slack_user_id) == DirectoryAccount.account_id,
                    ),
                    sa.and_(
                        col(DirectoryAccount.platform) == "teams",
                        col(Person.teams_user_id) == DirectoryAccount.account_id,
                    ),
                )
            )
        )
        return self.session.exec(q.order_by(DirectoryAccount.name).limit(limit)).all()

    # -- problems -------------------------------------------------------------------------------
    def note_problems(self, rows: Sequence[dict], *, at: datetime) -> None:
        """Record problems (dicts: source, kind, subject, detail); the latest detail wins."""
        if rows:
            self.upsert(
                table_of(DirectoryProblem),
                [dict(at=at, **r) for r in rows],
                ["kind", "subject"],
                ["source", "detail", "at"],
            )

    def clear_problems(self, subjects: Iterable[str], kinds: Iterable[str]) -> None:
        subjects, kinds = list(set(subjects)), list(kinds)
        if subjects:
            t = table_of(DirectoryProblem)
            where = (t.c.subject.in_(subjects), t.c.kind.in_(kinds))
            if self.session.execute(sa.select(t.c.id).where(*where).limit(1)).first() is not None:
                self.session.execute(sa.delete(t).where(*where))

    def clear_kind(self, source: str, kind: str) -> None:
        t = table_of(DirectoryProblem)
        where = (t.c.source == source, t.c.kind == kind)
        if self.session.execute(sa.select(t.c.id).where(*where).limit(1)).first() is not None:  # no write for nothing
            self.session.execute(sa.delete(t).where(*where))

    def problems(self, limit: int = 200) -> Sequence[DirectoryProblem]:
        return self.session.exec(
            select(DirectoryProblem).order_by(DirectoryProblem.kind, DirectoryProblem.subject).limit(limit)
        ).all()

    def delete_problem(self, problem_id: int) -> DirectoryProblem | None:
        row = self.session.get(DirectoryProblem, problem_id)
        if row is not None:
            self.session.delete(row)
            self.session.flush()
        return row
