"""What every CRM connector shares (HubSpot, Salesforce).

A connector reads a CRM and speaks the product's own CRM events (``handlers/events.py``), so every
flow works unchanged:

- **In**: changes (webhook notifications, a poll) go into the durable change queue
  (``ConnectorChange``, one row per object, claimed with a lease); ``sync_once`` reads the claimed
  objects from the CRM in batches and ingests their events (``ingest_events`` with the connector's
  ``source``, so event ids dedupe per CRM). A change that arrives while its object is being read
  is read again; a rate limit puts the batch back for later; an object the token cannot read is
  logged once, counted and dropped.
- **Cursors** (the poller's last modification time, an import's position) are stored in the
  ``keyvalue`` table under ``connector:<source>:<name>``.
- **Backfill**: ``run_import`` runs stages (owners, campaigns, contacts, ...) page by page with a
  progress bar (tqdm), saving the cursor after every page: an interrupted import resumes where it
  stopped, and a second import adds nothing (the events' ids were seen).
- **Out**: the connector's deliverer (``platform``) handles the neutral ``webhook:crm`` events the
  flows queue (``lead.bounced``, ``lead.requalified``, ``lead.followed_up``); retries, dead
  letters and metrics are the dispatcher's.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from handlers.events import validate_events
from handlers.ingest import ingest_events
from storage.repos.connectors import Claimed

log = logging.getLogger(__name__)

EMAIL_FIELDS = ("email", "owner_email", "contact_email", "by_email")


@dataclass
class Ingested:
    accepted: int = 0
    duplicates: int = 0
    invalid: int = 0

    def __iadd__(self, other: "Ingested") -> "Ingested":
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.invalid += other.invalid
        return self


@dataclass
class Stage:
    """One part of an import: ``pages(cursor)`` yields (events, new cursor, items read) per page,
    starting after ``cursor`` (None: from the start); ``total`` (may be None) sizes the bar."""

    name: str
    pages: Callable[[dict | None], Iterator[tuple[list[dict], dict, int]]]
    total: Callable[[], int | None] = lambda: None
    unit: str = "records"


@dataclass
class ImportReport:
    since: str
    stages: dict[str, dict] = field(default_factory=dict)
    resumed: bool = False

    @property
    def accepted(self) -> int:
        return sum(s.get("accepted", 0) for s in self.stages.values())

    def lines(self, crm: str) -> list[str]:
        """What ``python -m bot <crm> import`` prints."""
        out = [f"{crm} import since {self.since}{' (resumed)' if self.resumed else ''}:"]
        for name, counts in self.stages.items():
            out.append(
                f"  {name}: {counts['read']} read, {counts['accepted']} new events, {counts['duplicates']} "
                f"already known" + (f", {counts['invalid']} skipped" if counts["invalid"] else "")
            )
        return out


class Connector:
    """A CRM connector. Subclasses set ``source`` and implement ``resolve`` (claimed changes ->
    events), ``poll_once`` and ``import_stages``."""

    source = "crm"
    kinds: tuple[str, ...] = ()
    batch = 100

    def __init__(self, *, uow_factory, registry, deps, metrics, wake: Callable[[], None] = lambda: None):
        self.uow_factory = uow_factory
        self.registry = registry
        self.deps = deps
        self.metrics = metrics
        self.wake_dispatcher = wake
        self.worker = f"{self.source}-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged_once: set[tuple] = set()

    # -- events in ---------------------------------------------------------------------------
    def ingest(self, raw: list[dict]) -> Ingested:
        """Validate and ingest events (one transaction). An event with a bad email loses that field;
        any other invalid event is logged, counted and skipped: one odd record never blocks the rest."""
        if not raw:
            return Ingested()
        events, problems = validate_events(raw)
        invalid = 0
        if problems:
            bad = {p.index for p in problems}
            for p in problems:
                name = p.field.removeprefix("data.")
                if name in EMAIL_FIELDS and isinstance(raw[p.index].get("data"), dict):
                    raw[p.index]["data"].pop(name, None)
            events, problems = validate_events(raw)
            if problems:
                still = {p.index for p in problems}
                for p in problems:
                    log.warning("%s: event %s skipped: %s: %s", self.source, p.id, p.field, p.problem)
                invalid = len(still)
                events, _ = validate_events([e for i, e in enumerate(raw) if i not in still])
            log.info("%s: %d event(s) had a field dropped or were skipped", self.source, len(bad))
        accepted, duplicates = ingest_events(self.registry, self.uow_factory, self.deps, events, source=self.source)
        if self.metrics is not None:
            self.metrics.connector_events.labels(self.source, "accepted").inc(accepted)
            self.metrics.connector_events.labels(self.source, "duplicate").inc(duplicates)
            self.metrics.connector_events.labels(self.source, "invalid").inc(invalid)
        if accepted:
            self.wake_dispatcher()
        return Ingested(accepted, duplicates, invalid)

    # -- the change queue ----------------------------------------------------------------------
    def enqueue(self, changes: Iterable[tuple[str, str, datetime]]) -> int:
        with self.uow_factory() as uow:
            n = uow.changes.enqueue(self.source, changes, at=self.deps.now())
            uow.commit()
        if n:
            self.wake()
        return n

    def sync_once(self, limit: int | None = None) -> int:
        """Claim due changes, read them from the CRM, ingest their events. Returns how many
        changes were handled (read, put back for later, or dropped)."""
        now = self.deps.now()
        with self.uow_factory() as uow:
            claimed = uow.changes.claim(
                self.source, worker=self.worker, now=now, lease=timedelta(minutes=5), limit=limit or self.batch
            )
            uow.commit()
        if not claimed:
            return 0
        self.resolve(claimed)
        return len(claimed)

    def sync(self, max_batches: int = 1000) -> int:
        """``sync_once`` until nothing is due."""
        total = 0
        for _ in range(max_batches):
            n = self.sync_once()
            total += n
            if n == 0:
                break
        return total

    def resolve(self, claimed: list[Claimed]) -> None:  # pragma: no cover - each connector's own
        raise NotImplementedError

    def done(self, claimed: list[Claimed]) -> None:
        with self.uow_factory() as uow:
            uow.changes.done(claimed, worker=self.worker)
            uow.commit()

    def later(self, claimed: list[Claimed], seconds: float, error: str, *, count_attempt: bool = True) -> None:
        with self.uow_factory() as uow:
            uow.changes.retry(
                claimed,
                worker=self.worker,
                at=self.deps.now() + timedelta(seconds=seconds),
                error=error,
                count_attempt=count_attempt,
            )
            uow.commit()

    def unreadable(self, claimed: list[Claimed], reason: str, detail: str) -> None:
        """These objects cannot be read (gone, or not for this token): log once, count, drop."""
        if not claimed:
            return
        for c in claimed:
            key = (c.kind, reason) if reason == "missing_scopes" else (c.kind, c.object_id, reason)
            if key not in self._logged_once:
                self._logged_once.add(key)
                log.warning("%s: cannot read %s %s (%s): %s; dropped", self.source, c.kind, c.object_id, reason, detail)
            if self.metrics is not None:
                self.metrics.connector_unreadable.labels(self.source, c.kind, reason).inc()
        with self.uow_factory() as uow:
            uow.changes.drop(claimed, worker=self.worker)
            uow.commit()

    # -- cursors -------------------------------------------------------------------------------
    def cursor(self, name: str) -> dict | None:
        with self.uow_factory() as uow:
            return uow.kv.get(f"connector:{self.source}:{name}")

    def save_cursor(self, name: str, value: dict) -> None:
        with self.uow_factory() as uow:
            uow.kv.set(f"connector:{self.source}:{name}", value)
            uow.commit()

    # -- backfill --------------------------------------------------------------------------------
    def run_import(
        self, stages: list[Stage], *, since: str, restart: bool = False, progress: bool = True, out=None
    ) -> ImportReport:
        """Run the stages in order, resuming an unfinished import of the same ``since``."""
        from tqdm import tqdm

        state = None if restart else self.cursor("import")
        resumed = bool(state and state.get("since") == since and not state.get("finished"))
        if not resumed:
            state = {"since": since, "stage": stages[0].name, "cursor": None, "stages": {}}
        report = ImportReport(since=since, stages=state.setdefault("stages", {}), resumed=resumed)
        names = [s.name for s in stages]
        start = names.index(state["stage"]) if state.get("stage") in names else 0
        for stage in stages[start:]:
            counts = report.stages.setdefault(stage.name, {"read": 0, "accepted": 0, "duplicates": 0, "invalid": 0})
            cursor = state["cursor"] if state.get("stage") == stage.name else None
            bar = tqdm(
                total=stage.total(),
                initial=counts["read"],
                desc=f"{self.source} {stage.name}",
                unit=f" {stage.unit}",
                disable=not progress,
                file=out or sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5,
            )
            try:
                for events, cursor, read in _prefetched(stage.pages(cursor)):  # noqa: B020 - the pages are read from the saved cursor, which then follows them
                    got = self.ingest(events)
                    counts["read"] += read
                    counts["accepted"] += got.accepted
                    counts["duplicates"] += got.duplicates
                    counts["invalid"] += got.invalid
                    state.update(stage=stage.name, cursor=cursor)
                    self.save_cursor("import", state)  # after the page's events are in: resumable
                    bar.update(read)
            finally:
                bar.close()
            state.update(stage=None, cursor=None)
        state["finished"] = True
        self.save_cursor("import", state)
        return report

    # -- the background worker -----------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def start(self, poll: float = 1.0) -> None:
        if self._thread:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(poll,), name=f"{self.source}-connector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def _loop(self, poll: float) -> None:
        while not self._stop.is_set():
            try:
                n = self.sync_once()
                self.poll_if_due()
            except Exception:  # noqa: BLE001 - the worker must survive a CRM or database blip
                log.exception("%s connector pass failed", self.source)
                if self.metrics is not None:
                    self.metrics.errors.labels(f"connector:{self.source}").inc()
                n = 0
            if n == 0:
                self._wake.wait(poll)
                self._wake.clear()

    def poll_if_due(self) -> int:  # pragma: no cover - connectors that poll override it
        return 0

    def queue_counts(self) -> dict[str, int]:
        with self.uow_factory() as uow:
            return uow.changes.counts(self.source, now=self.deps.now())

    def startup_lines(self, base_url: str) -> list[str]:  # pragma: no cover - each connector's own
        """What ``python -m bot`` prints about this connector at start (its check, how changes arrive)."""
        return []

    def _log_once(self, key: tuple, message: str, *args) -> None:
        """Log a warning the first time ``key`` is seen (a missing scope or field, a CRM down)."""
        if key not in self._logged_once:
            self._logged_once.add(key)
            log.warning(message, *args)


def _prefetched(pages: Iterator, ahead: int = 1) -> Iterator:
    """The pages, read ``ahead`` in a thread while the caller ingests the current one: the CRM's
    rate limit and the database work overlap instead of adding up. Memory: ``ahead + 1`` pages."""
    import queue

    q: queue.Queue = queue.Queue(maxsize=ahead)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        q.put(("page", page), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", done))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            q.put(("error", e))

    thread = threading.Thread(target=produce, name="import-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(5)


def quarter_start(now: datetime) -> datetime:
    """The first day of ``now``'s quarter, at midnight UTC (an import's default start)."""
    month = 3 * ((now.month - 1) // 3) + 1
    return datetime(now.year, month, 1, tzinfo=timezone.utc)


def iter_chunks(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
