from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlmodel import func, select

from storage.models import Outbox
from storage.repos.base import Repo


class OutboxRepo(Repo):
    def add(
        self,
        *,
        key: str,
        destination: str,
        payload: dict,
        at: datetime,
        op: str = "post",
        target_key: str | None = None,
        not_before: datetime | None = None,
        subject: str | None = None,
        role: str | None = None,
    ) -> bool:
        """Enqueue a message in the caller's transaction. False if ``key`` was enqueued before.

        The unique key is what makes a celebration, an alert or a digest happen once however
        many times the code that causes it runs."""
        t = Outbox.__table__
        ids = self.insert_ignore(
            t,
            [
                dict(
                    key=key,
                    op=op,
                    destination=destination,
                    target_key=target_key,
                    subject=subject,
                    role=role,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=not_before or at,
                    created_at=at,
                )
            ],
            returning=t.c.id,
        )
        return bool(ids)

    def add_many(self, messages: list[dict], *, at: datetime) -> set[str]:
        """Enqueue many messages in one statement; each dict has ``key``, ``destination`` and
        ``payload``, and may have ``op`` (default ``post``), ``target_key``, ``subject`` and
        ``role``. Returns the keys actually enqueued (the others were enqueued before)."""
        t = Outbox.__table__
        rows = [dict(key=m["key"], op=m.get("op", "post"), destination=m["destination"],
                     target_key=m.get("target_key"), subject=m.get("subject"), role=m.get("role"),
                     payload=m["payload"], status="pending", attempts=0, next_attempt_at=at, created_at=at)
                for m in messages]
        if self.dialect == "sqlite" or not rows:
            return self.insert_unseen(t, rows, "key")
        # PostgreSQL: the messages travel as one JSON document of what differs between them,
        # expanded by jsonb_to_recordset; the columns every message shares are parameters. Half
        # the document ``insert_ignore_bulk`` would send (~10 ms less per 1,000 cooling alerts);
        # ON CONFLICT keeps each key once under concurrent writers.
        # Absent fields are NULL (op: 'post'), so a plain post carries no more than it used to.
        document = json.dumps([{"k": r["key"], "d": r["destination"], "p": r["payload"],
                                **({"o": r["op"]} if r["op"] != "post" else {}),
                                **{f: r[c] for f, c in (("t", "target_key"), ("s", "subject"), ("r", "role"))
                                   if r[c] is not None}} for r in rows],
                              ensure_ascii=False, separators=(",", ":"))
        sql = sa.text(
            "INSERT INTO outbox (key, op, destination, target_key, subject, role, payload, status, attempts, "
            "next_attempt_at, created_at) "
            "SELECT r.k, COALESCE(r.o, 'post'), r.d, r.t, r.s, r.r, r.p, 'pending', 0, :at, :at "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
            "AS r(k varchar, o varchar, d varchar, t varchar, s varchar, r varchar, p jsonb) "
            "ON CONFLICT DO NOTHING RETURNING key"
        ).bindparams(sa.bindparam("at", type_=t.c.created_at.type))  # aware UTC, as the model stores it
        return {r[0] for r in self.session.execute(sql, {"rows": document, "at": at})}

    def about(self, subjects: Iterable[str]) -> Sequence[Outbox]:
        """The posted messages that still follow these subjects (``lead:12``), oldest first:
        one look-up of the partial index ``ix_outbox_subject``."""
        subjects = list(set(subjects))
        if not subjects:
            return []
        self.session.flush()
        return self.session.exec(
            select(Outbox).where(self.one_of(Outbox.subject, subjects), Outbox.op == "post")
            .order_by(Outbox.id)  # type: ignore[arg-type]
        ).all()

    def settle(self, keys: Iterable[str]) -> None:
        """These messages no longer follow their subject: their last update is final."""
        keys = list(set(keys))
        if keys:
            t = Outbox.__table__
            self.session.execute(sa.update(t).where(self.one_of(t.c.key, keys)).values(subject=None))
            self._expire_loaded(Outbox, lambda row: row.key in keys)

    def by_key(self, key: str) -> Outbox | None:
        return self.session.exec(select(Outbox).where(Outbox.key == key)).first()

    def exists(self, key: str) -> bool:
        return self.session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None

    def get(self, outbox_id: int) -> Outbox | None:
        return self.session.get(Outbox, outbox_id)

    def claim(self, *, worker: str, now: datetime, lease: timedelta, limit: int = 50) -> Sequence[Outbox]:
        """Take up to ``limit`` due messages for this worker.

        A message is due when pending and its time has come, or when another worker claimed it
        and its lease ran out (that worker crashed). On PostgreSQL the rows are locked with
        ``FOR UPDATE SKIP LOCKED`` so replicas never take the same row; SQLite has one writer."""
        t = Outbox.__table__
        due = sa.or_(
            sa.and_(t.c.status == "pending", t.c.next_attempt_at <= now),
            sa.and_(t.c.status == "sending", t.c.claimed_until < now),
        )
        inner = select(t.c.id).where(due).order_by(t.c.id).limit(limit)
        if self.dialect == "postgresql":
            inner = inner.with_for_update(skip_locked=True)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_(inner.scalar_subquery()))
            .values(status="sending", claimed_by=worker, claimed_until=now + lease, attempts=t.c.attempts + 1)
            .returning(t.c.id)
        )
        ids = [r[0] for r in self.session.execute(stmt)]
        if not ids:
            return []
        return self.session.exec(
            select(Outbox).where(self.one_of(Outbox.id, ids)).order_by(Outbox.id)  # type: ignore[union-attr]
            .execution_options(populate_existing=True)
        ).all()

    def mark_sent(self, row_id: int, worker: str, *, at: datetime, platform: str,
                  channel: str | None, ref: str | None) -> bool:
        return self._finish(row_id, worker, status="sent", sent_at=at, platform=platform,
                            platform_channel=channel, platform_ref=ref, last_error=None)

    def mark_retry(self, row_id: int, worker: str, *, next_at: datetime, error: str) -> bool:
        return self._finish(row_id, worker, status="pending", next_attempt_at=next_at, last_error=error[:2000])

    def mark_dead(self, row_id: int, worker: str, *, error: str) -> bool:
        return self._finish(row_id, worker, status="dead", last_error=error[:2000])

    def release(self, row_id: int, worker: str, *, next_at: datetime) -> bool:
        """Put a claimed message back untried (its channel is busy, or what it updates is not
        delivered yet): the attempt taken at claim time is given back."""
        t = Outbox.__table__
        return self._finish(row_id, worker, status="pending", next_attempt_at=next_at,
                            attempts=t.c.attempts - 1)

    def current_payload(self, key: str) -> dict | None:
        """What the message posted under ``key`` shows now, or will once queued updates are
        delivered: the newest update's payload, else its own. None when there is no such message."""
        newest = self.session.exec(
            select(Outbox.payload)
            .where(Outbox.target_key == key, Outbox.op == "update", Outbox.status != "dead")
            .order_by(Outbox.id.desc())  # type: ignore[union-attr]
            .limit(1)
        ).first()
        if newest is not None:
            return newest
        return self.session.exec(select(Outbox.payload).where(Outbox.key == key)).first()

    def key_for_ref(self, platform: str, ref: str) -> str | None:
        """The outbox key of the message delivered as ``ref`` (a Teams activity id, a Slack ts)."""
        return self.session.exec(
            select(Outbox.key).where(Outbox.platform_ref == ref, Outbox.platform == platform, Outbox.op == "post")
        ).first()

    def set_payload(self, key: str, payload: dict) -> None:
        """Record a delivered message's new content (after an update replaced it in place)."""
        t = Outbox.__table__
        self.session.execute(sa.update(t).where(t.c.key == key).values(payload=payload))

    def _finish(self, row_id: int, worker: str, **values) -> bool:
        t = Outbox.__table__
        # Only the worker holding the claim may finish the row; a worker whose lease expired
        # and was taken over must not overwrite the new owner's result.
        res = self.session.execute(
            sa.update(t)
            .where(t.c.id == row_id, t.c.claimed_by == worker, t.c.status == "sending")
            .values(claimed_by=None, claimed_until=None, **values)
        )
        return res.rowcount == 1

    def counts(self) -> dict[str, int]:
        rows = self.session.exec(select(Outbox.status, func.count()).group_by(Outbox.status))
        return {s: n for s, n in rows}

    def next_due(self) -> datetime | None:
        return self.session.exec(
            select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")
        ).first()

    def for_destination(self, destination: str, *, limit: int = 50, before_id: int | None = None,
                        statuses: tuple[str, ...] = ("sent",)) -> Sequence[Outbox]:
        q = select(Outbox).where(Outbox.destination == destination, Outbox.op == "post",
                                 Outbox.status.in_(statuses))  # type: ignore[attr-defined]
        if before_id is not None:
            q = q.where(Outbox.id < before_id)
        return self.session.exec(q.order_by(Outbox.id.desc()).limit(limit)).all()  # type: ignore[union-attr]

    def dead(self, limit: int = 100) -> Sequence[Outbox]:
        return self.session.exec(select(Outbox).where(Outbox.status == "dead").order_by(Outbox.id).limit(limit)).all()

    # -- the local workspace's change feed -------------------------------------------------
    def since(self, after_id: int, *, limit: int = 500, ops: tuple[str, ...] = ("post", "update")) -> Sequence[Outbox]:
        """Rows with an id above ``after_id`` (oldest first): what changed since a reader's cursor."""
        return self.session.exec(
            select(Outbox).where(Outbox.id > after_id, Outbox.op.in_(ops))  # type: ignore[union-attr]
            .order_by(Outbox.id).limit(limit)  # type: ignore[union-attr]
        ).all()

    def last_id(self) -> int:
        return self.session.exec(select(func.max(Outbox.id))).first() or 0

    def count_since(self, after_id: int) -> int:
        """How many messages were queued after ``after_id`` (an import's hand-offs and celebrations)."""
        return self.session.exec(select(func.count()).where(Outbox.id > after_id)).one()

    def many_by_key(self, keys: Iterable[str]) -> dict[str, Outbox]:
        keys = list(set(keys))
        if not keys:
            return {}
        return {r.key: r for r in self.session.exec(select(Outbox).where(self.one_of(Outbox.key, keys)))}  # type: ignore[union-attr]

    def feed_cursor(self, ops: tuple[str, ...] = ("post", "update")) -> int:
        """The highest id at or below which every message (``ops``) is delivered or dead: a
        reader that has seen everything up to here only needs ``since(cursor)`` from now on."""
        waiting = self.session.exec(
            select(func.min(Outbox.id)).where(Outbox.op.in_(ops),  # type: ignore[union-attr]
                                              Outbox.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
        ).first()
        if waiting is not None:
            return waiting - 1
        return self.session.exec(select(func.max(Outbox.id))).first() or 0
