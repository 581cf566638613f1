from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import sqlalchemy as sa
from sqlmodel import col, func, select

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.models import ChannelSlot, Outbox
from storage.repos.base import Repo, table_of

OPEN = ("pending", "sending")  # a message not yet delivered nor given up (ix_outbox_open)


class Head(NamedTuple):
    id: int
    destination: str
    status: str
    next_attempt_at: datetime | None
    claimed_until: datetime | None
    next_free_at: datetime | None


class Claimed(list):
    """Claimed rows, and ``next_at``: when the next head not claimed now becomes due."""

    def __init__(self, rows: Iterable[Outbox] = (), next_at: datetime | None = None):
        super().__init__(rows)
        self.next_at = next_at


# The skip-scan: the first open destination, then each next one, one index seek apiece (both
# databases), then each destination's oldest open row and its slot.
_OPEN_SQL = "status IN ('pending', 'sending')"
# A post held for later (the delivery policy's quiet hours) that was never tried: it waits for
# its time without holding up its destination's queue, so an urgent alert or a reply queued after
# it goes first. A retry (``last_error`` set) and an update keep their place: order is kept for them.
_HELD_SQL = (
    "({t}status = 'pending' AND {t}op = 'post' AND {t}attempts = 0 AND {t}last_error IS NULL "
    "AND {t}next_attempt_at > :now)"
)

_HEADS = (
    sa.text(f"""
WITH RECURSIVE d(dest) AS (
  SELECT (SELECT destination FROM outbox WHERE {_OPEN_SQL} ORDER BY destination LIMIT 1)
  UNION ALL
  SELECT (SELECT o.destination FROM outbox o WHERE o.{_OPEN_SQL} AND o.destination > d.dest
          ORDER BY o.destination LIMIT 1)
  FROM d WHERE d.dest IS NOT NULL
)
SELECT h.id, h.destination, h.status, h.next_attempt_at, h.claimed_until, s.next_free_at
FROM d
JOIN outbox h ON h.id = (SELECT x.id FROM outbox x WHERE x.destination = d.dest AND x.{_OPEN_SQL}
                         AND NOT {_HELD_SQL.format(t="x.")} ORDER BY x.id LIMIT 1)
LEFT JOIN channelslot s ON s.destination = d.dest
UNION ALL
SELECT NULL, NULL, 'later', (SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending' AND next_attempt_at > :now),
       NULL, NULL
""")
    .bindparams(sa.bindparam("now", type_=UTCDateTime))
    .columns(
        sa.column("id", sa.Integer),
        sa.column("destination", sa.String),
        sa.column("status", sa.String),
        sa.column("next_attempt_at", UTCDateTime),
        sa.column("claimed_until", UTCDateTime),
        sa.column("next_free_at", UTCDateTime),
    )
)


# The outbox again, as the rows queued before a candidate (``take``): built once, not per claim
# (an alias's columns are set up when first used, ~0.2 ms each time).
_EARLIER = table_of(Outbox).alias("earlier")


def _held(t, now: datetime | sa.BindParameter):
    """``_HELD_SQL`` for a table (or alias) in SQLAlchemy terms."""
    return sa.and_(
        t.c.status == "pending",
        t.c.op == "post",
        t.c.attempts == 0,
        t.c.last_error.is_(None),
        t.c.next_attempt_at > now,
    )


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
        if op == "update" and target_key:
            return bool(
                self.add_many(
                    [
                        dict(
                            key=key,
                            op=op,
                            destination=destination,
                            target_key=target_key,
                            subject=subject,
                            role=role,
                            payload=payload,
                            not_before=not_before,
                        )
                    ],
                    at=at,
                )
            )
        t = table_of(Outbox)
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
        if ids:
            self.session.info["enqueued"] = True
            if op == "update" and target_key:
                self._note_update(target_key, payload)
        return bool(ids)

    def _note_update(self, target_key: str, payload: dict) -> None:
        self.session.info.setdefault("updates", {})[target_key] = payload

    def updates_queued_here(self) -> dict[str, dict]:
        """The messages this unit of work queued an update of: target key -> its new content (the
        last update queued for it). What a button press changed, without reading the outbox."""
        return dict(self.session.info.get("updates") or {})

    def add_many(self, messages: list[dict], *, at: datetime) -> set[str]:
        """Enqueue many messages in one statement; each dict has ``key``, ``destination`` and
        ``payload``, and may have ``op`` (default ``post``), ``target_key``, ``subject`` and
        ``role``, and ``not_before`` (held until then: the delivery policy's quiet hours).
        Returns the keys actually enqueued (the others were enqueued before)."""
        t = table_of(Outbox)
        rows = [
            dict(
                key=m["key"],
                op=m.get("op", "post"),
                destination=m["destination"],
                target_key=m.get("target_key"),
                subject=m.get("subject"),
                role=m.get("role"),
                payload=m["payload"],
                status="pending",
                attempts=0,
                next_attempt_at=m.get("not_before") or at,
                created_at=at,
            )
            for m in messages
        ]
        every = rows
        rows, folded = self._fold_into_held(rows, at)
        if rows:
            self.session.info["enqueued"] = True
        if self.dialect == "sqlite" or not rows:
            return self._noted(every, self.insert_unseen(t, rows, "key") | folded)
        # PostgreSQL: the messages travel as one JSON document of what differs between them,
        # expanded by jsonb_to_recordset; the columns every message shares are parameters. Half
        # the document ``insert_ignore_bulk`` would send (~10 ms less per 1,000 cooling alerts);
        # ON CONFLICT keeps each key once under concurrent writers.
        # Absent fields are NULL (op: 'post'), so a plain post carries no more than it used to.
        document = json.dumps(
            [
                {
                    "k": r["key"],
                    "d": r["destination"],
                    "p": r["payload"],
                    **({"o": r["op"]} if r["op"] != "post" else {}),
                    **{f: r[c] for f, c in (("t", "target_key"), ("s", "subject"), ("r", "role")) if r[c] is not None},
                    **({"n": r["next_attempt_at"].isoformat()} if r["next_attempt_at"] != at else {}),
                }
                for r in rows
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        sql = sa.text(
            "INSERT INTO outbox (key, op, destination, target_key, subject, role, payload, status, attempts, "
            "next_attempt_at, created_at) "
            "SELECT r.k, COALESCE(r.o, 'post'), r.d, r.t, r.s, r.r, r.p, 'pending', 0, COALESCE(r.n, :at), :at "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
            "AS r(k varchar, o varchar, d varchar, t varchar, s varchar, r varchar, p jsonb, n timestamptz) "
            "ON CONFLICT DO NOTHING RETURNING key"
        ).bindparams(sa.bindparam("at", type_=t.c.created_at.type))  # aware UTC, as the model stores it
        return self._noted(every, {r[0] for r in self.session.execute(sql, {"rows": document, "at": at})} | folded)

    def _fold_into_held(self, rows: list[dict], at: datetime) -> tuple[list[dict], set[str]]:
        """An update of a post still held for later (quiet hours) changes that post instead: it
        goes out once, as it reads when it is due, and the update never waits in its queue.
        Returns the rows left to insert and the keys of the updates folded in."""
        targets = {r["target_key"] for r in rows if r["op"] == "update" and r["target_key"]}
        if not targets:
            return rows, set()
        find, change = self._fold_statements()
        held = set(self.session.execute(find, {"keys": self.one_of_value(targets), "now": at}).scalars())
        folded = set()
        for r in rows:
            if r["op"] == "update" and r["target_key"] in held:
                # Conditional: a dispatcher that took the post meanwhile gets the update as a row.
                done = self.session.execute(change, {"target": r["target_key"], "now": at, "content": r["payload"]})
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    folded.add(r["key"])
        if folded:
            self._expire_loaded(Outbox, lambda row: row.key in held)
            self.session.info["enqueued"] = True
        return [r for r in rows if r["key"] not in folded], folded

    def _fold_statements(self) -> tuple[Any, Any]:
        """``_fold_into_held``'s look-up of held posts and its conditional update, built once per
        dialect with bound parameters (``keys``, ``now``; ``target``, ``now``, ``content``)."""

        def build() -> tuple[Any, Any]:
            t = table_of(Outbox)
            now = sa.bindparam("now", type_=t.c.next_attempt_at.type)
            find = sa.select(t.c.key).where(self.one_of_param(t.c.key, "keys"), _held(t, now))
            change = (
                sa.update(t)
                .where(t.c.key == sa.bindparam("target"), _held(t, now))
                .values(payload=sa.bindparam("content", type_=t.c.payload.type))
            )
            return find, change

        return self.statement("outbox.fold", build)

    def _noted(self, rows: list[dict], added: set[str]) -> set[str]:
        for r in rows:
            if r["op"] == "update" and r["target_key"] and r["key"] in added:
                self._note_update(r["target_key"], r["payload"])
        return added

    def about(self, subjects: Iterable[str]) -> Sequence[Outbox]:
        """The posted messages that still follow these subjects (``lead:12``), oldest first:
        one look-up of the partial index ``ix_outbox_subject``."""
        subjects = list(set(subjects))
        if not subjects:
            return []
        self.session.flush()
        stmt = self.statement(
            "outbox.about",
            lambda: (
                select(Outbox)
                .where(self.one_of_param(Outbox.subject, "subjects"), Outbox.op == "post")
                .order_by(col(Outbox.id))
            ),
        )
        return self.session.exec(stmt, params={"subjects": self.one_of_value(subjects)}).all()

    def settle(self, keys: Iterable[str]) -> None:
        """These messages no longer follow their subject: their last update is final."""
        keys = list(set(keys))
        if keys:
            t = table_of(Outbox)
            self.session.execute(sa.update(t).where(self.one_of(t.c.key, keys)).values(subject=None))
            self._expire_loaded(Outbox, lambda row: row.key in keys)

    def by_key(self, key: str) -> Outbox | None:
        return self.session.exec(select(Outbox).where(Outbox.key == key)).first()

    def exists(self, key: str) -> bool:
        return self.session.exec(select(Outbox.id).where(Outbox.key == key)).first() is not None

    def get(self, outbox_id: int) -> Outbox | None:
        return self.session.get(Outbox, outbox_id)

    def claim(
        self, *, worker: str, now: datetime, lease: timedelta, limit: int = 50, exclude: Iterable[int] = ()
    ) -> "Claimed":
        """Take up to ``limit`` messages for this worker: the head of each destination's queue,
        when it is due and its destination is free.

        A queue's head is its oldest message still pending or sending; nothing behind it goes
        out before it, so one channel's posts keep the order they were queued in, and a channel
        never has two messages in flight (whatever the number of replicas). The head is due
        when pending and its time has come, or when another worker's claim on it ran out (that
        worker crashed); its destination is free when its ``channelslot`` says so (one post
        per interval, shared by replicas). A backlog waiting behind its head costs nothing: the
        queues are found by a skip-scan over the open rows' index, one step per destination.
        On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so replicas never
        take the same row; SQLite has one writer. The result's ``next_at`` is when the next
        head not taken now becomes due (None: nothing is waiting). ``exclude``: ids the caller
        is delivering itself (their destinations wait for them, whatever their leases say)."""
        taken, next_at = self.due_heads(now=now, limit=limit, exclude=exclude)
        return Claimed(self.take(taken, worker=worker, now=now, lease=lease), next_at)

    def due_heads(self, *, now: datetime, limit: int, exclude: Iterable[int] = ()) -> tuple[list[int], datetime | None]:
        """The ids of up to ``limit`` queue heads due now (oldest first), and when the next head
        not among them becomes due. Reads only: a dispatcher woken for nothing takes no lock."""
        due, later = [], []
        skip = set(exclude)
        heads, pending_later = self._heads_and_later(now)
        for h in heads:
            if h.id in skip:
                continue
            # A head being sent is due only once its claim ran out; a pending one at its time.
            if h.status == "sending":
                at, ok = h.claimed_until, h.claimed_until is None or h.claimed_until < now
            else:
                at, ok = h.next_attempt_at, h.next_attempt_at is None or h.next_attempt_at <= now
            if h.next_free_at is not None and h.next_free_at > now:
                ok = False
            if ok:
                due.append(h.id)
            else:
                later.append(max(x for x in (at, h.next_free_at) if x is not None))
        due.sort()
        if len(due) > limit:
            later.append(now)
        if pending_later is not None:
            later.append(pending_later)
        return due[:limit], min(later, default=None)

    def take(
        self,
        ids: Sequence[int],
        *,
        worker: str,
        now: datetime,
        lease: timedelta,
        spacing: Callable[[str], timedelta] | None = None,
    ) -> list[Outbox]:
        """Claim those of ``ids`` that are still due queue heads (see ``claim``). With
        ``spacing`` (a destination's time between posts) the attempt begins now: its start is
        recorded and each destination's slot taken, as ``begin_attempt`` would right before the
        post. The rows come back detached, as claimed, with ``attempt_started_at`` as it was
        before (the start of an earlier attempt that may have reached the platform, or None)."""
        if not ids:
            return []
        find, claim = self._take_statements(spacing is not None)
        rows = list(self.session.exec(find, params={"ids": self.one_of_value(ids), "now": now}).all())
        if not rows:
            return []
        for r in rows:
            self.session.expunge(r)
        self.session.execute(
            claim, {"ids": self.one_of_value([r.id for r in rows]), "now": now, "worker": worker, "until": now + lease}
        )
        slots = {}
        if spacing is not None:
            slots = dict(
                self.session.execute(
                    self._slots_statement(), {"destinations": self.one_of_value({r.destination for r in rows})}
                ).all()
            )
        for r in rows:
            r.status, r.claimed_by, r.claimed_until, r.attempts = "sending", worker, now + lease, r.attempts + 1
            if spacing is not None and (gap := spacing(r.destination)) > timedelta(0):
                # A channel working through a backlog keeps its schedule: the next slot is a gap
                # after this one was due, not after this claim (which a busy process makes a few
                # ms late each time), so it averages one post per gap; idle, a gap from now.
                due = slots.get(r.destination)
                start = due if due is not None and now - gap < due <= now else now
                self.take_slot(r.destination, until=start + gap)
        return rows

    def _take_statements(self, begin: bool) -> tuple[Any, Any]:
        """``take``'s look-up (``ids``, ``now``) and claim (``ids``, ``now``, ``worker``,
        ``until``; ``begin``: the attempt's start recorded too), built once per dialect: building
        them was most of a claim's own CPU."""

        def build() -> tuple[Any, Any]:
            t = table_of(Outbox)
            now = sa.bindparam("now", type_=t.c.next_attempt_at.type)
            still_due = sa.or_(
                sa.and_(t.c.status == "pending", t.c.next_attempt_at <= now),
                sa.and_(t.c.status == "sending", t.c.claimed_until < now),
            )
            earlier = _EARLIER
            is_head = ~sa.exists().where(
                earlier.c.destination == t.c.destination,
                earlier.c.id < t.c.id,
                earlier.c.status.in_(OPEN),
                ~_held(earlier, now),
            )
            find = (
                select(Outbox)
                .where(self.one_of_param(Outbox.id, "ids"), still_due, is_head)
                .order_by(col(Outbox.id))
                .execution_options(populate_existing=True)
            )
            if self.dialect == "postgresql":
                find = find.with_for_update(skip_locked=True)  # a replica claiming the same heads skips them
            values: dict = dict(
                status="sending",
                claimed_by=sa.bindparam("worker", type_=t.c.claimed_by.type),
                claimed_until=sa.bindparam("until", type_=t.c.claimed_until.type),
                attempts=t.c.attempts + 1,
            )
            if begin:
                values["attempt_started_at"] = sa.func.coalesce(t.c.attempt_started_at, now)
            claim = sa.update(t).where(self.one_of_param(t.c.id, "ids")).values(**values)
            return find, claim

        return self.statement(f"outbox.take.{begin}", build)

    def _slots_statement(self) -> Any:
        """The next free slot of some destinations (``destinations``), built once per dialect."""
        c = table_of(ChannelSlot).c
        return self.statement(
            "outbox.slots",
            lambda: sa.select(c.destination, c.next_free_at).where(self.one_of_param(c.destination, "destinations")),
        )

    def heads(self, now: datetime) -> list[Head]:
        """The head of every destination's queue (its oldest pending or sending message, posts
        held for later not counted: see ``_HELD_SQL``), with the destination's next free slot."""
        return self._heads_and_later(now)[0]

    def _heads_and_later(self, now: datetime) -> tuple[list[Head], datetime | None]:
        """``heads``, and when the first pending message due later becomes due (a post held for
        quiet hours, a retry): the statement's ``later`` row, read in the same round trip."""
        heads, later = [], None
        for r in self.session.execute(_HEADS, {"now": now}):
            if r[2] == "later":
                later = r[3]
            else:
                heads.append(Head(*r))
        return heads, later

    def held_for(self, destination: str, *, now: datetime) -> Sequence[Outbox]:
        """The posts to ``destination`` held for later (``_HELD_SQL``), oldest first."""
        t = table_of(Outbox)
        return self.session.exec(
            select(Outbox).where(Outbox.destination == destination, _held(t, now)).order_by(col(Outbox.id))
        ).all()

    def drop(self, ids: Iterable[int]) -> None:
        """Take messages that were never tried out of the outbox (to queue them again elsewhere)."""
        ids = list(ids)
        if ids:
            t = table_of(Outbox)
            self.session.execute(
                sa.delete(t).where(self.one_of(t.c.id, ids), t.c.attempts == 0, t.c.status == "pending")
            )
            self._expire_loaded(Outbox, lambda row: row.id in ids)

    def begin_attempt(
        self, row_id: int, worker: str, *, now: datetime, lease: timedelta, destination: str, spacing: timedelta
    ) -> bool:
        """Right before a message goes to the platform: check the claim is still this worker's
        (a claim that outlived its lease may have been taken over), renew the lease, record
        when the attempt began (kept when an earlier attempt may have reached the platform) and
        take the destination's slot: the next post there waits ``spacing`` from this one's start.
        False when the claim was lost: the message is someone else's now."""
        t = table_of(Outbox)
        res = self.session.exec(
            sa.update(t)
            .where(t.c.id == row_id, t.c.claimed_by == worker, t.c.status == "sending")
            .values(claimed_until=now + lease, attempt_started_at=sa.func.coalesce(t.c.attempt_started_at, now))
        )
        if res.rowcount != 1:
            return False
        if spacing > timedelta(0):
            self.take_slot(destination, until=now + spacing)
        return True

    def take_slot(self, destination: str, *, until: datetime) -> None:
        """The destination is busy until ``until`` (never moved back by a shorter wait)."""

        def build() -> Any:
            s = table_of(ChannelSlot)
            ins = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(s)
            return ins.on_conflict_do_update(
                index_elements=[s.c.destination],
                set_={
                    "next_free_at": sa.case(
                        (s.c.next_free_at > ins.excluded.next_free_at, s.c.next_free_at),
                        else_=ins.excluded.next_free_at,
                    )
                },
            )

        self.session.execute(
            self.statement("outbox.take_slot", build), {"destination": destination, "next_free_at": until}
        )

    def mark_sent(
        self, row_id: int, worker: str, *, at: datetime, platform: str, channel: str | None, ref: str | None
    ) -> bool:
        return self._finish(
            row_id,
            worker,
            status="sent",
            sent_at=at,
            platform=platform,
            platform_channel=channel,
            platform_ref=ref,
            last_error=None,
        )

    def mark_retry(
        self,
        row_id: int,
        worker: str,
        *,
        next_at: datetime,
        error: str,
        forget_attempt: bool = False,
        counts: bool = True,
    ) -> bool:
        """Try again at ``next_at``. ``forget_attempt``: no attempt so far can have reached the
        platform (this one was answered 429 or an error, and none before it was in doubt), so
        there is nothing to search for next time. ``counts=False``: the attempt is given back
        (the platform said "later", no sign that the message is undeliverable)."""
        t = table_of(Outbox)
        values: dict = dict(status="pending", next_attempt_at=next_at, last_error=error[:2000])
        if forget_attempt:
            values["attempt_started_at"] = None
        if not counts:
            values["attempts"] = t.c.attempts - 1
        return self._finish(row_id, worker, **values)

    def mark_dead(self, row_id: int, worker: str, *, error: str) -> bool:
        return self._finish(row_id, worker, status="dead", last_error=error[:2000])

    def release(self, row_id: int, worker: str, *, next_at: datetime) -> bool:
        """Put a claimed message back untried (what it updates is not delivered yet): the
        attempt taken at claim time is given back."""
        t = table_of(Outbox)
        return self._finish(row_id, worker, status="pending", next_attempt_at=next_at, attempts=t.c.attempts - 1)

    def current_payload(self, key: str) -> dict | None:
        """What the message posted under ``key`` shows now, or will once queued updates are
        delivered: the newest update's payload, else its own. None when there is no such message."""
        newest = self.session.exec(
            select(col(Outbox.payload))
            .where(Outbox.target_key == key, Outbox.op == "update", Outbox.status != "dead")
            .order_by(col(Outbox.id).desc())
            .limit(1)
        ).first()
        if newest is not None:
            return newest
        return self.session.exec(select(col(Outbox.payload)).where(Outbox.key == key)).first()

    def key_for_ref(self, platform: str, ref: str) -> str | None:
        """The outbox key of the message delivered as ``ref`` (a Teams activity id, a Slack ts)."""
        return self.session.exec(
            select(Outbox.key).where(Outbox.platform_ref == ref, Outbox.platform == platform, Outbox.op == "post")
        ).first()

    def set_payload(self, key: str, payload: dict) -> None:
        """Record a delivered message's new content (after an update replaced it in place)."""
        t = table_of(Outbox)
        self.session.execute(sa.update(t).where(t.c.key == key).values(payload=payload))

    def _finish(self, row_id: int, worker: str, **values) -> bool:
        """End a claim with ``values`` (plain values, or SQL expressions such as
        ``attempts - 1``). Only the worker holding the claim may finish the row: a worker whose
        lease expired and was taken over must not overwrite the new owner's result. The UPDATE is
        built once per shape (the columns set, the expressions), the plain values bound: building
        it cost as much as running it, once per delivery."""
        t = table_of(Outbox)
        bound = {k: v for k, v in values.items() if not isinstance(v, sa.ColumnElement)}
        exprs = {k: v for k, v in values.items() if isinstance(v, sa.ColumnElement)}

        def build() -> Any:
            return (
                sa.update(t)
                .where(
                    t.c.id == sa.bindparam("p_id"), t.c.claimed_by == sa.bindparam("p_worker"), t.c.status == "sending"
                )
                .values(
                    claimed_by=None,
                    claimed_until=None,
                    **exprs,
                    **{k: sa.bindparam(f"p_{k}", type_=t.c[k].type) for k in bound},
                )
            )

        shape = f"outbox.finish:{sorted(bound)}:{sorted((k, str(v)) for k, v in exprs.items())}"
        res = self.session.exec(
            self.statement(shape, build),
            params={"p_id": row_id, "p_worker": worker, **{f"p_{k}": v for k, v in bound.items()}},
        )
        return res.rowcount == 1

    def counts(self) -> dict[str, int]:
        rows = self.session.exec(select(Outbox.status, func.count()).group_by(Outbox.status))
        return {s: n for s, n in rows}

    def next_due(self) -> datetime | None:
        return self.session.exec(select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")).first()

    def for_destination(
        self, destination: str, *, limit: int = 50, before_id: int | None = None, statuses: tuple[str, ...] = ("sent",)
    ) -> Sequence[Outbox]:
        q = select(Outbox).where(
            Outbox.destination == destination, Outbox.op == "post", col(Outbox.status).in_(statuses)
        )
        if before_id is not None:
            q = q.where(col(Outbox.id) < before_id)
        return self.session.exec(q.order_by(col(Outbox.id).desc()).limit(limit)).all()

    def dead(self, limit: int = 100) -> Sequence[Outbox]:
        return self.session.exec(
            select(Outbox).where(Outbox.status == "dead").order_by(col(Outbox.id)).limit(limit)
        ).all()

    # -- the local workspace's change feed -------------------------------------------------
    def since(self, after_id: int, *, limit: int = 500, ops: tuple[str, ...] = ("post", "update")) -> Sequence[Outbox]:
        """Rows with an id above ``after_id`` (oldest first): what changed since a reader's cursor."""
        return self.session.exec(
            select(Outbox)
            .where(col(Outbox.id) > after_id, col(Outbox.op).in_(ops))
            .order_by(col(Outbox.id))
            .limit(limit)
        ).all()

    def last_id(self) -> int:
        return self.session.exec(select(func.max(Outbox.id))).first() or 0

    def count_since(self, after_id: int) -> int:
        """How many messages were queued after ``after_id`` (an import's hand-offs and celebrations)."""
        return self.session.exec(select(func.count()).where(col(Outbox.id) > after_id)).one()

    def many_by_key(self, keys: Iterable[str]) -> dict[str, Outbox]:
        keys = list(set(keys))
        if not keys:
            return {}
        return {r.key: r for r in self.session.exec(select(Outbox).where(self.one_of(Outbox.key, keys)))}

    def feed_cursor(self, ops: tuple[str, ...] = ("post", "update")) -> int:
        """The highest id at or below which every message (``ops``) is delivered or dead: a
        reader that has seen everything up to here only needs ``since(cursor)`` from now on."""
        waiting = self.session.exec(
            select(func.min(Outbox.id)).where(
                col(Outbox.op).in_(ops),
                col(Outbox.status).in_(("pending", "sending")),
            )
        ).first()
        if waiting is not None:
            return waiting - 1
        return self.session.exec(select(func.max(Outbox.id))).first() or 0
