"""The local workspace's simulated time.

The clock is the container's injected clock (``container.deps.clock``), the same one every
handler and the dispatcher read, so moving it is all it takes for leads to cool, digests to fall
due and messages to carry the simulated time. In the product it is an ``OffsetClock`` (real time
plus an offset); the offset is kept in the key-value table so it survives a restart and is shared
by ``python -m bot demo`` and a running server. Tests inject a ``FixedClock`` instead.

Moving time runs the scheduled jobs at every step on the way (every 30 simulated minutes), as
the scheduler would have: a lead's warning, breach and escalation each happen at their own time
instead of all at once at the end of a jump.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

from handlers.ports import FixedClock, OffsetClock

log = logging.getLogger(__name__)

KEY = "local:clock"
STEP = timedelta(minutes=30)
MAX_JUMP = timedelta(days=62)
_lock = threading.Lock()


@dataclass
class Advance:
    """What moving the clock did."""

    start: datetime
    end: datetime
    steps: int = 0
    jobs: dict[str, int] = field(default_factory=dict)  # job name -> items done
    failed: dict[str, str] = field(default_factory=dict)  # job name -> error
    life: object | None = None  # what the demo company did on the way (``bot.local.life.LifeStats``)

    @property
    def done(self) -> int:
        return sum(self.jobs.values())


def offset(container) -> timedelta:
    clock = container.deps.clock
    return clock.offset if isinstance(clock, OffsetClock) else timedelta(0)


def restore(container) -> timedelta:
    """Set the clock's offset from the database (what the last run or ``demo`` left there)."""
    clock = container.deps.clock
    if not isinstance(clock, OffsetClock):
        return timedelta(0)
    with container.uow_factory() as uow:
        saved = uow.kv.get(KEY) or {}
    seconds = saved.get("offset_seconds")
    if isinstance(seconds, (int, float)) and seconds >= 0:
        clock.offset = timedelta(seconds=seconds)
    return clock.offset


def sync(container) -> None:
    """Catch up with a move made by another process (``python -m bot demo`` while serving).

    Time never goes back: a saved offset behind this process's is ignored."""
    clock = container.deps.clock
    if not isinstance(clock, OffsetClock) or not _lock.acquire(blocking=False):
        return  # not movable, or this process is moving it right now
    try:
        with container.uow_factory() as uow:
            saved = (uow.kv.get(KEY) or {}).get("offset_seconds")
        if isinstance(saved, (int, float)) and timedelta(seconds=saved) > clock.offset:
            clock.offset = timedelta(seconds=saved)
    finally:
        _lock.release()


def _move(container, delta: timedelta) -> None:
    clock = container.deps.clock
    if isinstance(clock, OffsetClock):
        clock.offset += delta
    elif isinstance(clock, FixedClock):
        clock.advance(delta)
    else:  # pragma: no cover - a clock that cannot move
        raise TypeError(f"the clock {type(clock).__name__} cannot be moved")


def _save(container) -> None:
    clock = container.deps.clock
    if not isinstance(clock, OffsetClock):
        return
    with container.uow_factory() as uow:
        uow.kv.set(KEY, {"offset_seconds": clock.offset.total_seconds()})
        uow.commit()


def living(container):
    """The demo company's life for this container (None unless it runs the demo data)."""
    s = container.settings
    if not (s.demo_data and s.demo_life and s.local_enabled):
        return None
    from bot.local.life import CompanyLife

    return CompanyLife()


def told(result: Advance) -> str:
    """What the demo company did while time moved, in a few words ('' when nothing)."""
    s = result.life
    if s is None:
        return ""
    parts = [
        f"{n} {one if n == 1 else many}"
        for n, one, many in (
            (s.leads, "new lead", "new leads"),
            (s.follow_ups, "follow-up", "follow-ups"),
            (s.claims, "claim", "claims"),
            (s.deals, "deal won", "deals won"),
            (s.bounces, "bounce", "bounces"),
        )
        if n
    ]
    return ("The company went on: " + ", ".join(parts) + ".") if parts else ""


def run_jobs(container, result: Advance | None = None) -> Advance:
    """Run every scheduled job once, as the scheduler's tick would. A failing job is logged
    and reported; the others still run (flows are built independently)."""
    from bot.scheduler import run_job

    now = container.deps.now()
    result = result or Advance(now, now)
    for name in sorted(container.registry.jobs):
        try:
            done = run_job(container, name).done
        except Exception as e:  # noqa: BLE001 - logged by run_job
            result.failed[name] = f"{type(e).__name__}: {e}"
            continue
        result.jobs[name] = result.jobs.get(name, 0) + done
    return result


def advance(
    container, delta: timedelta, *, step: timedelta = STEP, each_step: Callable[[], None] | None = None, life=None
) -> Advance:
    """Move simulated time forward by ``delta``, running the jobs at each step on the way.

    ``each_step`` runs after the jobs of each step (the CLI delivers there). ``life`` (a
    ``bot.local.life.CompanyLife``): the demo company lives on at each step, after the jobs:
    new leads, reps following up (mostly within the day, sometimes late), claims, deals, bounces."""
    if delta <= timedelta(0):
        raise ValueError("time only moves forward")
    if delta > MAX_JUMP:
        raise ValueError(f"move at most {MAX_JUMP.days} days at a time")
    with _lock:
        start = container.deps.now()
        result = Advance(start, start)
        remaining = delta
        while remaining > timedelta(0):
            move = min(step, remaining)
            before = container.deps.now()
            _move(container, move)
            remaining -= move
            result.steps += 1
            run_jobs(container, result)
            if life is not None:
                if each_step is not None:
                    each_step()  # what the jobs said reaches people before they act on it
                stats = life.step(container, before, container.deps.now())
                if result.life is None:
                    result.life = stats
                else:
                    result.life.add(stats)
            if each_step is not None:
                each_step()
        _save(container)
        result.end = container.deps.now()
    return result


def next_monday(now: datetime, timezones: list[str], at: time = time(9, 0)) -> datetime:
    """The first moment after ``now`` at which, for one Monday, it is past ``at`` in every one of
    ``timezones``: each team's Monday-morning digest has then come due."""
    zones = [ZoneInfo(name) for name in timezones or ["UTC"]]
    day = now.date() - timedelta(days=now.weekday() + 7)  # a Monday safely in the past
    while True:
        moment = max(datetime.combine(day, at, tz) for tz in zones).astimezone(now.tzinfo)
        if moment > now:
            return moment
        day += timedelta(days=7)


def describe(container) -> dict:
    """The simulated time for the page: ISO, each team's local time, and how far ahead it is."""
    now = container.deps.now()
    teams = []
    for team, tc in container.config.teams.items():
        local = now.astimezone(ZoneInfo(tc.timezone))
        city = tc.timezone.rsplit("/", 1)[-1].replace("_", " ")
        teams.append({"team": team, "timezone": tc.timezone, "city": city, "label": local.strftime("%a %d %b, %H:%M")})
    ahead = offset(container)
    return {
        "now": now.isoformat(),
        "teams": teams,
        "ahead": _ahead_label(ahead),
        "ahead_seconds": ahead.total_seconds(),
    }


def _ahead_label(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes <= 0:
        return "real time"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min" if mins and not days else ""]
    return "+" + " ".join(p for p in parts if p) + " ahead of real time"
