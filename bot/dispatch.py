"""The outbox dispatcher: renders each waiting message for its platform and delivers it.

- at most one post per channel per ``delivery_channel_interval`` (Slack allows about 1/s);
- retries with exponential backoff, or after the platform's ``Retry-After``;
- a message that can never be delivered (channel gone, bad token) is marked dead and counted;
- claims are leases: a worker that crashes mid-delivery loses its claim when the lease ends and
  another worker (or the restarted one) takes the message over. Before re-posting a message that
  may already have gone out, the deliverer checks the platform for it (Slack: message metadata).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from handlers.messages import Message
from handlers.ports import Clock
from storage.db import UowFactory
from storage.models import Outbox, Person

log = logging.getLogger(__name__)


class TransientError(Exception):
    """Try again later (``retry_after`` seconds, when the platform said)."""

    def __init__(self, text: str, retry_after: float | None = None):
        super().__init__(text)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying cannot help: the message is marked dead."""


@dataclass
class Delivered:
    channel: str | None
    ref: str | None


class Deliverer(Protocol):
    """One platform's delivery. ``people`` maps person ids to people for mentions and DMs."""

    platform: str

    def post(self, destination: str, message: Message, *, key: str, maybe_sent: bool,
             people: dict[int, Person]) -> Delivered: ...

    def update(self, destination: str, channel: str | None, ref: str | None, message: Message, *,
               people: dict[int, Person]) -> Delivered: ...


class Router(Protocol):
    def platform_for(self, destination: str, people: dict[int, Person]) -> str: ...


class Dispatcher:
    def __init__(self, uow_factory: UowFactory, clock: Clock, router: Router, deliverers: dict[str, Deliverer],
                 *, metrics=None, channel_interval: float = 1.0, retry_base: float = 2.0,
                 retry_max: float = 300.0, max_attempts: int = 8, lease: float = 120.0, batch: int = 50):
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
        self.batch = batch
        self.worker = f"dispatch-{uuid.uuid4().hex[:8]}"
        self._last_post: dict[tuple[str, str], datetime] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One pass at a time per dispatcher: a ``drain()`` beside the running loop waits for the
        # loop's pass in progress, so when it returns what was due has been delivered and recorded.
        self._pass = threading.Lock()

    # -- the loop --------------------------------------------------------------------------
    def start(self, poll: float = 0.5) -> None:
        if self._thread:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(poll,), name="outbox-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Deliver now rather than at the next poll (called after a commit that enqueued)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def _loop(self, poll: float) -> None:
        while not self._stop.is_set():
            try:
                n = self.run_once()
            except Exception:  # noqa: BLE001 - the loop must survive a bad row or a DB blip
                log.exception("dispatcher pass failed")
                if self.metrics:
                    self.metrics.errors.labels("dispatch").inc()
                n = 0
            if n == 0:
                self._wake.wait(poll)
                self._wake.clear()

    # -- one pass --------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and deliver what is due now. Returns how many messages were handled."""
        with self._pass:
            now = self.clock.now()
            with self.uow_factory() as uow:
                rows = uow.outbox.claim(worker=self.worker, now=now, lease=self.lease, limit=self.batch)
                uow.commit()
                if not rows:
                    return 0
                people = {p.id: p for p in uow.people.all()}
            for row in rows:
                self._deliver(row, people)
            return len(rows)

    def drain(self, max_passes: int = 100) -> int:
        """Run passes until nothing is due (tests, ``jobs run``). With the loop running too, the
        last pass waits for the loop's pass in progress: nothing claimed is left half-delivered."""
        total = 0
        for _ in range(max_passes):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def _deliver(self, row: Outbox, people: dict[int, Person]) -> None:
        now = self.clock.now()
        try:
            platform = self.router.platform_for(row.destination, people)
            deliverer = self.deliverers.get(platform)
            if deliverer is None:
                raise PermanentError(f"no deliverer for platform {platform!r}")
            spacing_key = (platform, row.destination)
            if row.op != "webhook":
                free_at = self._last_post.get(spacing_key)
                if free_at and free_at > now:
                    self._release(row, free_at)
                    return
            message = Message.from_json(row.payload) if row.op != "webhook" else row.payload
            if row.op == "update":
                target = self._target(row)
                if target is None:
                    return
                result = deliverer.update(row.destination, target.platform_channel, target.platform_ref,
                                          message, people=people)
            else:
                result = deliverer.post(row.destination, message, key=row.key,
                                        maybe_sent=row.attempts > 1, people=people)
            # A deliverer may set its own spacing (the local workspace has no rate limit).
            spacing = getattr(deliverer, "spacing", None)
            self._last_post[spacing_key] = self.clock.now() + (self.channel_interval if spacing is None else spacing)
        except TransientError as e:
            self._retry(row, platform if "platform" in locals() else None, str(e), e.retry_after)
            return
        except PermanentError as e:
            self._dead(row, locals().get("platform"), str(e))
            return
        except Exception as e:  # noqa: BLE001 - an unknown failure is retried, then dead
            log.exception("delivery of %s failed unexpectedly", row.key)
            self._retry(row, locals().get("platform"), f"{type(e).__name__}: {e}", None)
            return
        with self.uow_factory() as uow:
            uow.outbox.mark_sent(row.id, self.worker, at=self.clock.now(), platform=platform,
                                 channel=result.channel, ref=result.ref)
            if row.op == "update" and row.target_key:
                uow.outbox.set_payload(row.target_key, row.payload)
            uow.commit()
        log.info("delivered %s %s to %s on %s", row.op, row.key, row.destination, platform)
        if self.metrics:
            self.metrics.deliveries.labels(platform, "sent").inc()

    def _target(self, row: Outbox) -> Outbox | None:
        """The message an update replaces; waits while it is still on its way."""
        with self.uow_factory() as uow:
            target = uow.outbox.by_key(row.target_key) if row.target_key else None
        if target is None or target.status == "dead":
            self._dead(row, None, f"the message to update ({row.target_key}) was never delivered")
            return None
        if target.status != "sent":
            self._release(row, self.clock.now() + timedelta(seconds=max(self.retry_base, 0.05)))
            return None
        return target

    def _release(self, row: Outbox, at: datetime) -> None:
        with self.uow_factory() as uow:
            uow.outbox.release(row.id, self.worker, next_at=at)
            uow.commit()

    def _retry(self, row: Outbox, platform: str | None, error: str, retry_after: float | None) -> None:
        if row.attempts >= self.max_attempts:
            self._dead(row, platform, f"gave up after {row.attempts} attempts: {error}")
            return
        delay = min(self.retry_base * (2 ** max(row.attempts - 1, 0)), self.retry_max)
        delay *= random.uniform(0.9, 1.1)  # spread retries from many rows
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning("delivery of %s failed (attempt %d), retry in %.1fs: %s", row.key, row.attempts, delay, error)
        with self.uow_factory() as uow:
            uow.outbox.mark_retry(row.id, self.worker, next_at=self.clock.now() + timedelta(seconds=delay), error=error)
            uow.commit()
        if self.metrics:
            self.metrics.deliveries.labels(platform or "unknown", "retry").inc()

    def _dead(self, row: Outbox, platform: str | None, error: str) -> None:
        log.error("message %s is undeliverable: %s", row.key, error)
        with self.uow_factory() as uow:
            uow.outbox.mark_dead(row.id, self.worker, error=error)
            uow.commit()
        if self.metrics:
            self.metrics.deliveries.labels(platform or "unknown", "dead").inc()


def wait_until_delivered(uow_factory: UowFactory, keys: list[str], timeout: float = 10.0) -> bool:
    """Block until the given outbox keys are sent or dead (operators' CLI; tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with uow_factory() as uow:
            found = uow.outbox.many_by_key(keys)
        rows = [found.get(k) for k in keys]
        if all(r is not None and r.status in ("sent", "dead") for r in rows):
            return True
        time.sleep(0.05)
    return False
