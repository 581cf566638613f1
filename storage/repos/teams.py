"""Microsoft Teams conversation references: where the bot may post proactively."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from storage.models import TeamsConversation
from storage.repos.base import Repo, table_of

# Fields a later sighting of a conversation may fill in or correct; None never erases a value.
_UPDATABLE = (
    "kind",
    "service_url",
    "tenant_id",
    "bot_id",
    "team_id",
    "team_name",
    "name",
    "person_id",
    "user_id",
    "aad_object_id",
)


class TeamsRepo(Repo):
    def by_conversation(self, conversation_id: str) -> TeamsConversation | None:
        return self.session.exec(
            select(TeamsConversation).where(TeamsConversation.conversation_id == conversation_id)
        ).first()

    def save_conversation(
        self, *, conversation_id: str, kind: str, service_url: str, at: datetime, **fields
    ) -> TeamsConversation:
        """Record (or refresh) a conversation the bot is in. ``fields`` are the optional columns
        (tenant_id, bot_id, team_id, team_name, name, person_id, user_id, aad_object_id).

        A 1:1 chat for a person who was known only from a roster (no conversation yet) becomes
        this conversation rather than a second row."""
        row = self.by_conversation(conversation_id)
        person_id = fields.get("person_id")
        if row is None and kind == "personal" and person_id:
            row = self.session.exec(
                select(TeamsConversation).where(
                    TeamsConversation.kind == "personal",
                    TeamsConversation.person_id == person_id,
                    col(TeamsConversation.conversation_id).is_(None),
                )
            ).first()
        if row is None:
            row = TeamsConversation(conversation_id=conversation_id, kind=kind, service_url=service_url, updated_at=at)
        row.conversation_id = conversation_id
        row.installed = True
        row.updated_at = at
        for name, value in dict(fields, kind=kind, service_url=service_url).items():
            if name in _UPDATABLE and value is not None:
                setattr(row, name, value)
        self.session.add(row)
        self.session.flush()
        return row

    def save_member(
        self,
        *,
        person_id: int,
        user_id: str | None,
        aad_object_id: str | None,
        service_url: str,
        tenant_id: str | None,
        bot_id: str | None,
        at: datetime,
    ) -> None:
        """Remember how to reach a person seen in a team's roster, for a 1:1 chat created later."""
        row = self.personal(person_id)
        if row is None:
            row = TeamsConversation(
                kind="personal",
                person_id=person_id,
                service_url=service_url,
                tenant_id=tenant_id,
                bot_id=bot_id,
                updated_at=at,
            )
        row.user_id = row.user_id or user_id
        row.aad_object_id = row.aad_object_id or aad_object_id
        row.tenant_id = row.tenant_id or tenant_id
        row.bot_id = row.bot_id or bot_id
        row.updated_at = at
        self.session.add(row)
        self.session.flush()

    def personal(self, person_id: int) -> TeamsConversation | None:
        """The person's 1:1 chat with the bot: one with a conversation id first, newest first."""
        return self.session.exec(
            select(TeamsConversation)
            .where(
                TeamsConversation.kind == "personal",
                TeamsConversation.person_id == person_id,
                TeamsConversation.installed == sa.true(),
            )
            .order_by(col(TeamsConversation.conversation_id).is_(None), col(TeamsConversation.id).desc())
        ).first()

    def set_conversation_id(self, row_id: int, conversation_id: str, at: datetime) -> None:
        self.session.execute(
            sa.update(table_of(TeamsConversation))
            .where(table_of(TeamsConversation).c.id == row_id)
            .values(conversation_id=conversation_id, updated_at=at)
        )

    def find_channels(self, value: str) -> Sequence[TeamsConversation]:
        """Channels and group chats matching a config value: a conversation id, a channel name,
        or ``Team/Channel`` (names compared case-insensitively, a leading ``#`` ignored)."""
        t = TeamsConversation
        shared = (col(t.kind).in_(["channel", "groupChat"]), t.installed == True)  # noqa: E712
        exact = self.session.exec(select(t).where(t.conversation_id == value, *shared)).all()
        if exact:
            return exact
        name = value.strip().lstrip("#").strip().lower()
        rows = self.session.exec(select(t).where(sa.func.lower(t.name) == name, *shared).order_by(col(t.id))).all()
        if rows or "/" not in name:
            return rows
        team, _, channel = name.rpartition("/")
        return self.session.exec(
            select(t)
            .where(sa.func.lower(t.team_name) == team.strip(), sa.func.lower(t.name) == channel.strip(), *shared)
            .order_by(col(t.id))
        ).all()

    def mark_removed(self, *, at: datetime, conversation_id: str | None = None, team_id: str | None = None) -> int:
        """The app was removed from a chat (by conversation id) or a team (all its channels)."""
        t = table_of(TeamsConversation)
        if team_id:
            where = t.c.team_id == team_id
        elif conversation_id:
            where = t.c.conversation_id == conversation_id
        else:
            return 0
        return self.session.exec(sa.update(t).where(where).values(installed=False, updated_at=at)).rowcount

    def reach(self, conversation_id: str) -> TeamsConversation | None:
        """Where to ask about a conversation: its own row if the bot has seen it, else the newest
        row of any conversation the bot is installed in (its service URL, tenant and bot id are
        the tenant's); None if the bot is in no conversation at all."""
        row = self.by_conversation(conversation_id)
        if row is not None:
            return row
        return self.session.exec(
            select(TeamsConversation)
            .where(TeamsConversation.installed == True)  # noqa: E712
            .order_by(col(TeamsConversation.updated_at).desc(), col(TeamsConversation.id).desc())
        ).first()

    def all(self) -> Sequence[TeamsConversation]:
        return self.session.exec(select(TeamsConversation).order_by(col(TeamsConversation.id))).all()
