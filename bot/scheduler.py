"""The in-process scheduler and the jobs it ticks.

Every replica runs one (APScheduler 3.11, in-memory job store, fixed job ids). Jobs read their due
work from the database and write it under unique keys, so replicas sharing one PostgreSQL never do
the same work twice: the scheduler only decides *when to look*, the database decides *what is due*.
"""

from __future__ import annotations

import logging

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from bot.logs import new_id, request_id
from handlers.errors import UserError
from handlers.registry import JobResult

log = logging.getLogger(__name__)
TICK_SECONDS = 60


class UnknownJob(UserError):
    pass


def run_job(container, name: str) -> JobResult:
    """Run one job once (the scheduler's tick, ``python -m bot jobs run <name>``, tests)."""
    fn = container.registry.jobs.get(name)
    if fn is None:
        known = ", ".join(sorted(container.registry.jobs)) or "none"
        raise UnknownJob(f"no job named {name!r}; jobs: {known}")
    token = request_id.set(new_id(f"job-{name}"))
    try:
        result = fn(container.uow_factory, container.deps)
        container.metrics.jobs.labels(name, "ok").inc()
        log.info("job %s", result)
        container.wake()
        return result
    except Exception:
        container.metrics.jobs.labels(name, "error").inc()
        log.exception("job %s failed", name)
        raise
    finally:
        request_id.reset(token)


class Scheduler:
    def __init__(self, container, tick_seconds: int = TICK_SECONDS):
        self.container = container
        self.sched = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        for name in sorted(container.registry.jobs):
            self.sched.add_job(
                self._tick, "interval", seconds=tick_seconds, args=[name], id=f"job:{name}", replace_existing=True
            )

    def _tick(self, name: str) -> None:
        try:
            run_job(self.container, name)
        except Exception:  # noqa: BLE001 - logged in run_job; the next tick tries again
            pass

    def start(self) -> None:
        self.sched.start()

    def shutdown(self) -> None:
        if self.sched.running:
            self.sched.shutdown(wait=False)
