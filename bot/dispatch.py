"""The outbox dispatcher: renders each waiting message for its platform and delivers it, once.

How every failure is handled, by design rather than case by case:

- **Order.** Only the head of each destination's queue is claimed (``OutboxRepo.claim``); a
  channel's posts go out in the order they were queued and a channel never has two in flight,
  whatever the number of replicas.
- **Pacing.** Right before a post starts, its destination's slot (a row in ``channelslot``,
  shared by replicas) moves ``delivery_channel_interval`` on; a head is only claimed once its
  slot is free. A queued backlog costs nothing while it waits, and a channel's backlog never
  holds up another channel or a DM (each is delivered by its own worker).
- **Claims are leases, checked before every post.** ``begin_attempt`` renews the lease only if
  the claim is still this worker's; a claim that was taken over is dropped, never posted.
  A worker that crashes loses its claims when their leases run out.
- **An attempt that may have reached the platform is found, not repeated.** Its start is
  recorded (``attempt_started_at``) before the call; the next attempt hands it to the deliverer,
  which searches the platform from there (Slack: the channel's history, paged, by message
  metadata) and only posts when the search says it is not there. A failed search is a
  ``TransientError``: tried again later, never taken for "not posted".
- **Nothing after a post can cause a re-post.** Reactions are the deliverer's best effort;
  recording the result is retried, and if the database is gone the lease runs out and the
  search finds the message.
- **Retries** back off exponentially or wait out ``Retry-After``; a 429 does not count towards
  ``max_attempts`` (the platform said "later", not "never"). Errors retrying cannot fix mark
  the message dead, counted.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable, Protocol

from handlers.messages import Message
from handlers.ports import Clock
from storage.db import UowFactory, read_uow
from storage.models import Outbox, Person

log = logging.getLogger(__name__)


class TransientError(Exception):
    """Try again later (``retry_after`` seconds, when the platform said).

    ``reached``: whether the failed attempt may have reached the platform (a dropped connection,
    a 5xx: it may have acted). False when it certainly did not: the platform answered 429 or an
    error, or the failure came before the call (a look-up, a search)."""

    def __init__(self, text: str, retry_after: float | None = None, *, reached: bool = True):
        super().__init__(text)
        self.retry_after = retry_after
        self.reached = reached


class PermanentError(Exception):
    """Retrying cannot help: the message is marked dead."""


class ClaimLost(Exception):
    """The claim on a message ran out and another worker took it over: this one lets it go."""


@dataclass
class Delivered:
    channel: str | None
    ref: str | None
    # What to do once the delivery is recorded (a reaction): best effort, never a reason to
    # deliver again, and no longer holding up the destination's next message.
    after: Callable[[], None] | None = None


def no_begin() -> None:
    """The ``begin`` of a delivery made outside the dispatcher (nothing to check)."""
    return None


class Deliverer(Protocol):
    """One platform's delivery. ``people`` maps person ids to people for mentions and DMs.

    ``since``: when an earlier attempt that may have reached the platform began (None: none
    did). The deliverer must then look for the message from that time and return it if found;
    when the search fails, it raises ``TransientError`` (where the platform offers no way to
    look, it posts again and says so in its docstring).

    ``begin()`` must be called right before the call that reaches the platform (after any
    look-ups and searches): it checks that the claim is still this worker's and renews it,
    records when the attempt began and takes the destination's slot; it raises ``ClaimLost``."""

    platform: str

    def post(
        self,
        destination: str,
        message: Message,
        *,
        key: str,
        since: datetime | None,
        people: dict[int, Person],
        begin: Callable[[], None] = no_begin,
    ) -> Delivered: ...

    def update(
        self,
        destination: str,
        channel: str | None,
        ref: str | None,
        message: Message,
        *,
        people: dict[int, Person],
        begin: Callable[[], None] = no_begin,
    ) -> Delivered: ...


class Router(Protocol):
    def platform_for(self, destination: str, people: dict[int, Person]) -> str: ...


class PeopleSnapshot:
    """Everyone in the people table, read at most every ``max_age`` seconds (and again when an
    unknown id is asked for): mentions and DMs need them, and reading them per message or per
    reply costs more than the message."""

    def __init__(self, uow_factory: UowFactory, max_age: float = 2.0):
        self.uow_factory = uow_factory
        self.max_age = max_age
        self._people: dict[int, Person] = {}
        self._by_slack: dict[str, Person] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._generation = 0  # bumped by invalidate(): a read that overlapped one is not fresh

    def get(self, need: Iterable[int] = (), *, fresh: bool = False) -> dict[int, Person]:
        people = self._people
        if fresh or time.monotonic() - self._read_at > self.max_age or any(i not in people for i in need):
            with self._lock:
                generation = self._generation
                with read_uow(self.uow_factory) as uow:
                    people = {p.id: p for p in uow.people.all()}  # type: ignore[misc]
                self._by_slack = {p.slack_user_id: p for p in people.values() if p.slack_user_id}
                # A link committed while this read ran may be missing from it: use it now, but
                # read again next time rather than keep it for max_age.
                fresh_at = time.monotonic() if generation == self._generation else float("-inf")
                self._people, self._read_at = people, fresh_at
        return people

    def by_slack_id(self, user_id: str) -> Person | None:
        """The person linked to a Slack user id, as of the last read (None: not known then)."""
        self.get()
        return self._by_slack.get(user_id)

    def invalidate(self) -> None:
        """Read again next time (someone was just linked to their Slack or Teams account)."""
        self._generation += 1
        self._read_at = float("-inf")


def _dm_ids(rows: Iterable[Outbox]) -> set[int]:
    ids = set()
    for r in rows:
        kind, _, name = r.destination.partition(":")
        if kind == "dm" and name.isdigit():
            ids.add(int(name))
    return ids


class Dispatcher:
    def __init__(
        self,
        uow_factory: UowFactory,
        clock: Clock,
        router: Router,
        deliverers: dict[str, Deliverer],
        *,
        metrics=None,
        channel_interval: float = 1.0,
        retry_base: float = 2.0,
        retry_max: float = 300.0,
        max_attempts: int = 8,
        lease: float = 60.0,
        batch: int = 50,
        workers: int = 4,
        people: PeopleSnapshot | None = None,
        coalesce: float = 0.05,
    ):
        self.uow_factory = uow_factory
        self.clock = clock
        self.router = router
        self.deliverers = deliverers
        self.metrics = metrics
        self.channel_interval = timedelta(seconds=channel_interval)
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease)
        # How long after its claim an attempt may start without asking the database again: a
        # small part of the lease, so the claim is certainly still valid (clocks of replicas
        # may differ by a little).
        self._fresh = min(self.lease / 4, timedelta(seconds=2))
        self.batch = batch
        self.workers = max(1, workers)
        # Wakes closer together than this are answered by one claim: a burst of commands (each
        # commit wakes the loop) costs a claim per ``coalesce`` seconds, not one per command.
        self.coalesce = coalesce
        self.people = people or PeopleSnapshot(uow_factory)
        engine = getattr(uow_factory, "engine", None)
        self._one_transaction = getattr(getattr(engine, "dialect", None), "name", None) == "postgresql"
        self.worker = f"dispatch-{uuid.uuid4().hex[:8]}"
        self._claims = itertools.count(1)
        self._wake = threading.Event()
        self._freed = threading.Event()  # a delivery ended: its queue's next message may go now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: set[Future] = set()
        self._inflight_ids: set[int] = set()
        self._claimed_at: dict[int, datetime] = {}  # row id -> when this dispatcher claimed it
        self._inflight_lock = threading.Lock()
        self._claim_lock = threading.Lock()  # one claim at a time per process (SQLite: one writer anyway)
        self.last_pass_ok: float | None = None  # time.monotonic() of the last claim that worked
        self.last_error: str | None = None

    # -- the loop --------------------------------------------------------------------------
    def start(self, poll: float = 0.5) -> None:
        if self._thread:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(poll,), name="outbox-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._freed.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
        self._wait_inflight(timeout)
        with self._inflight_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after a commit that enqueued)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def healthy(self, within: float) -> bool:
        """The loop runs and its last claim (within ``within`` seconds) reached the database."""
        return self.running and self.last_pass_ok is not None and time.monotonic() - self.last_pass_ok <= within

    def _loop(self, poll: float) -> None:
        failures = 0
        while not self._stop.is_set():
            timeout = poll
            started = time.monotonic()
            free = self.workers - self._inflight_count()
            if free > 0:
                try:
                    rows, next_at = self._claim(free, fresh_people=False)
                    failures = 0
                except Exception as e:  # noqa: BLE001 - the loop must survive a DB blip
                    failures += 1
                    if failures == 1:
                        log.exception("dispatcher pass failed")
                    else:
                        log.error("dispatcher pass failed again (%d in a row): %s", failures, e)
                    self.last_error = f"{type(e).__name__}: {str(e)[:300]}"
                    if self.metrics:
                        self.metrics.errors.labels("dispatch").inc()
                    rows, next_at = [], None
                    timeout = min(poll * 2 ** min(failures, 6), 5.0)  # the database is down: ask less often
                for row, people in rows:
                    self._submit(row, people)
                if rows and len(rows) == free:
                    continue  # more may be due: claim again as soon as a worker is free
                if next_at is not None and not failures:
                    # Sleep until the next head is due (a channel's slot frees, a retry's time
                    # comes), not a poll later: spacing is kept, not stretched.
                    timeout = min(poll, max((next_at - self.clock.now()).total_seconds(), 0.0))
            due = time.monotonic() + timeout  # the next head's due time (or the next poll)
            if self._wake.wait(timeout) and not self._freed.is_set():
                # Woken by a commit that queued messages: what else is queued within ``coalesce``
                # of the last claim is claimed with it, though never after the next head is due,
                # so a channel's posts keep their spacing to the millisecond, nor after a
                # delivery ends (its queue's next message may be due at once).
                now = time.monotonic()
                rest = min(self.coalesce - (now - started), due - now)
                if rest > 0:
                    self._freed.wait(rest)
            self._freed.clear()
            self._wake.clear()

    # -- claiming and delivering ------------------------------------------------------------
    def _claim(
        self, limit: int, *, fresh_people: bool
    ) -> tuple[list[tuple[Outbox, dict[int, Person]]], datetime | None]:
        with self._claim_lock:
            now = self.clock.now()
            # Each claim has its own token: a claim that outlived its lease and was taken over —
            # by another replica or by this one — is told apart from the new one. What this
            # dispatcher is delivering right now is never claimed again meanwhile.
            token = f"{self.worker}:{next(self._claims)}"
            with self._inflight_lock:
                busy = set(self._inflight_ids)
            people = self.people.get(fresh=fresh_people)
            rows: list[Outbox] = []
            if self._one_transaction:
                # PostgreSQL: the heads are read and taken in one transaction (a transaction that
                # writes nothing holds nothing up there), two round trips fewer than a read-only
                # one and then a writing one.
                with self.uow_factory() as uow:
                    ids, next_at = uow.outbox.due_heads(now=now, limit=limit, exclude=busy)
                    if ids:
                        rows = self._take(uow, ids, token, now, people)
            else:
                with read_uow(self.uow_factory) as uow:  # woken for nothing, it takes no write lock
                    ids, next_at = uow.outbox.due_heads(now=now, limit=limit, exclude=busy)
                if ids:
                    with self.uow_factory() as uow:
                        rows = self._take(uow, ids, token, now, people)
            self.last_pass_ok, self.last_error = time.monotonic(), None
        if not rows:
            return [], next_at
        if _dm_ids(rows) - people.keys():
            people = self.people.get(_dm_ids(rows))
        self._claimed_at.update((r.id, now) for r in rows)
        return [(r, people) for r in rows], next_at

    def _take(self, uow, ids: list[int], token: str, now: datetime, people: dict[int, Person]) -> list[Outbox]:
        """Claim the heads ``ids`` and commit. The attempt begins at the claim (start recorded,
        slot taken): its post follows at once, and the worker checks again only if it does not."""
        rows = uow.outbox.take(
            ids, worker=token, now=now, lease=self.lease, spacing=lambda d: self._spacing_of(d, people)
        )
        uow.commit()
        return rows

    def _spacing_of(self, destination: str, people: dict[int, Person]) -> timedelta:
        if destination.startswith("webhook:"):
            return timedelta(0)
        try:
            deliverer = self.deliverers.get(self.router.platform_for(destination, people))
        except Exception:  # noqa: BLE001 - the delivery itself reports what is wrong
            deliverer = None
        spacing = getattr(deliverer, "spacing", None)  # the local workspace has no rate limit
        return self.channel_interval if spacing is None else spacing

    def _submit(self, row: Outbox, people: dict[int, Person]) -> Future:
        with self._inflight_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="outbox-deliver")
            future = self._pool.submit(self._deliver_safely, row, people)
            self._inflight.add(future)
            self._inflight_ids.add(row.id)  # type: ignore[arg-type]
        future.add_done_callback(lambda f: self._done(f, row.id))
        return future

    def _done(self, future: Future, row_id) -> None:
        with self._inflight_lock:
            self._inflight.discard(future)
            self._inflight_ids.discard(row_id)
            self._claimed_at.pop(row_id, None)
        self._freed.set()  # a worker is free, and its destination's next message may be due
        self._wake.set()

    def _inflight_count(self) -> int:
        with self._inflight_lock:
            return len(self._inflight)

    def _wait_inflight(self, timeout: float | None = None) -> None:
        with self._inflight_lock:
            pending = list(self._inflight)
        if pending:
            wait(pending, timeout)

    def run_once(self) -> int:
        """Claim what is due now, deliver it, and return how many messages were handled."""
        rows, _ = self._claim(self.batch, fresh_people=True)
        wait([self._submit(row, people) for row, people in rows])
        return len(rows)

    def drain(self, max_passes: int | None = None) -> int:
        """Run passes until nothing is due (tests, ``jobs run``). With the loop running too, it
        also waits for the loop's deliveries in progress: nothing claimed is left half-done."""
        total = passes = 0
        while max_passes is None or passes < max_passes:
            n = self.run_once()
            passes += 1
            total += n
            if n == 0:
                if not self._inflight_count():
                    break
                self._wait_inflight()
        return total

    def _deliver_safely(self, row: Outbox, people: dict[int, Person]) -> None:
        try:
            self._deliver(row, people)
        except Exception:  # noqa: BLE001 - the row's lease runs out and it is taken over
            log.exception("delivery of %s could not be recorded", row.key)
            if self.metrics:
                self.metrics.errors.labels("dispatch").inc()

    def _spacing(self, deliverer: Deliverer, row: Outbox) -> timedelta:
        if row.op == "webhook":
            return timedelta(0)
        spacing = getattr(deliverer, "spacing", None)  # the local workspace has no rate limit
        return self.channel_interval if spacing is None else spacing

    def _deliver(self, row: Outbox, people: dict[int, Person]) -> None:
        platform: str | None = None
        kind, _, name = row.destination.partition(":")
        gone = people.get(int(name)) if kind == "dm" and name.isdigit() else None
        if gone is not None and not gone.active and row.op == "post":
            # Someone who left receives nothing (handlers/directory.py); what was queued before
            # they left is not delivered.
            log.info("message %s not delivered: its recipient has left", row.key)
            with self.uow_factory() as uow:
                uow.outbox.mark_dead(row.id, row.claimed_by, error="the recipient has left (inactive)")
                uow.commit()
            return
        try:
            platform = self.router.platform_for(row.destination, people)
            deliverer = self.deliverers.get(platform)
            if deliverer is None:
                raise PermanentError(f"no deliverer for platform {platform!r}")
            target = None
            if row.op == "update":
                target = self._target(row)
                if target is None:
                    return
            spacing = self._spacing(deliverer, row)
            claimed_at = self._claimed_at.get(row.id)  # type: ignore[arg-type]

            def begin() -> None:
                # Right after the claim, the claim is this worker's (its lease has barely begun)
                # and the attempt began with it. Later (look-ups, searches took time), the
                # database is asked: still ours? Renew, record, take the slot.
                if claimed_at is not None and self.clock.now() - claimed_at <= self._fresh:
                    return
                if not self._begin(row, spacing):
                    raise ClaimLost(row.key)

            message = Message.from_json(row.payload) if row.op != "webhook" else row.payload
            if target is not None:
                result = deliverer.update(
                    row.destination, target.platform_channel, target.platform_ref, message, people=people, begin=begin
                )
            else:
                result = deliverer.post(
                    row.destination, message, key=row.key, since=row.attempt_started_at, people=people, begin=begin
                )
        except ClaimLost:
            log.warning("the claim on %s ran out and was taken over before its attempt: left to the new owner", row.key)
            return
        except TransientError as e:
            self._retry(row, platform, str(e), e.retry_after, reached=e.reached)
            return
        except PermanentError as e:
            self._dead(row, platform, str(e))
            return
        except Exception as e:  # noqa: BLE001 - an unknown failure may have reached the platform
            log.exception("delivery of %s failed unexpectedly", row.key)
            self._retry(row, platform, f"{type(e).__name__}: {e}", None, reached=True)
            return
        self._sent(row, platform, result)

    def _begin(self, row: Outbox, spacing: timedelta) -> bool:
        with self.uow_factory() as uow:
            ok = uow.outbox.begin_attempt(
                row.id,
                row.claimed_by,
                now=self.clock.now(),
                lease=self.lease,
                destination=row.destination,
                spacing=spacing,
            )
            uow.commit()
        return ok

    def _sent(self, row: Outbox, platform: str, result: Delivered) -> None:
        """Record the delivery. Never a reason to deliver again: if the database will not take
        it, the claim's lease runs out and the next attempt finds the message on the platform."""
        for pause in (0.0, 0.2, 1.0):
            if pause:
                time.sleep(pause)
            try:
                with self.uow_factory() as uow:
                    mine = uow.outbox.mark_sent(
                        row.id,
                        row.claimed_by,
                        at=self.clock.now(),
                        platform=platform,
                        channel=result.channel,
                        ref=result.ref,
                    )
                    if mine and row.op == "update" and row.target_key:
                        uow.outbox.set_payload(row.target_key, row.payload)
                    uow.commit()
                break
            except Exception:  # noqa: BLE001
                log.warning("could not record the delivery of %s yet", row.key, exc_info=True)
        else:
            log.error("delivery of %s is not recorded: its lease will run out and the platform be searched", row.key)
            if self.metrics:
                self.metrics.errors.labels("dispatch").inc()
            return
        if not mine:
            log.error("%s was delivered after its claim was taken over", row.key)
            if self.metrics:
                self.metrics.errors.labels("dispatch").inc()
        log.info("delivered %s %s to %s on %s", row.op, row.key, row.destination, platform)
        self._freed.set()  # the destination's next message may go now
        self._wake.set()
        if self.metrics:
            self.metrics.deliveries.labels(platform, "sent").inc()
        if result.after is not None:
            try:
                result.after()
            except Exception:  # noqa: BLE001 - the message is delivered and recorded; this is extra
                log.warning("after delivering %s", row.key, exc_info=True)
                if self.metrics:
                    self.metrics.side_effects.labels(platform, "after").inc()

    def _target(self, row: Outbox) -> Outbox | None:
        """The message an update replaces; waits while it is still on its way."""
        with read_uow(self.uow_factory) as uow:
            target = uow.outbox.by_key(row.target_key) if row.target_key else None
        if target is None or target.status == "dead":
            self._dead(row, None, f"the message to update ({row.target_key}) was never delivered")
            return None
        if target.status != "sent":
            with self.uow_factory() as uow:
                uow.outbox.release(
                    row.id, row.claimed_by, next_at=self.clock.now() + timedelta(seconds=max(self.retry_base, 0.05))
                )
                uow.commit()
            return None
        return target

    def _retry(
        self, row: Outbox, platform: str | None, error: str, retry_after: float | None, *, reached: bool
    ) -> None:
        rate_limited = retry_after is not None and not reached
        if not rate_limited and row.attempts >= self.max_attempts:
            self._dead(row, platform, f"gave up after {row.attempts} attempts: {error}")
            return
        delay = min(self.retry_base * (2 ** max(row.attempts - 1, 0)), self.retry_max)
        delay *= random.uniform(0.9, 1.1)  # spread retries from many rows
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning("delivery of %s failed (attempt %d), retry in %.1fs: %s", row.key, row.attempts, delay, error)
        with self.uow_factory() as uow:
            uow.outbox.mark_retry(
                row.id,
                row.claimed_by,
                next_at=self.clock.now() + timedelta(seconds=delay),
                error=error,
                forget_attempt=not reached and row.attempt_started_at is None,
                counts=not rate_limited,
            )
            uow.commit()
        if self.metrics:
            self.metrics.deliveries.labels(platform or "unknown", "retry").inc()

    def _dead(self, row: Outbox, platform: str | None, error: str) -> None:
        log.error("message %s is undeliverable: %s", row.key, error)
        with self.uow_factory() as uow:
            uow.outbox.mark_dead(row.id, row.claimed_by, error=error)
            uow.commit()
        if self.metrics:
            self.metrics.deliveries.labels(platform or "unknown", "dead").inc()


def wait_until_delivered(uow_factory: UowFactory, keys: list[str], timeout: float = 10.0) -> bool:
    """Block until the given outbox keys are sent or dead (operators' CLI; tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with read_uow(uow_factory) as uow:
            found = uow.outbox.many_by_key(keys)
        rows = [found.get(k) for k in keys]
        if all(r is not None and r.status in ("sent", "dead") for r in rows):
            return True
        time.sleep(0.05)
    return False
