"""How flows plug in.

Each flow module (``handlers/wins.py``, ``cooling.py``, ``bounce.py``, ``schedule.py``) defines
one ``FLOW = Flow(...)`` naming what it answers: slash sub-commands, button actions, form
submissions, CRM event types and scheduled jobs. The adapters (Slack, Teams, the local workspace,
the webhook, the scheduler, the CLI) only look things up here, so a new flow is one module.

Signatures (``uow`` is a ``storage.db.UnitOfWork`` already entered; the handler commits):

- command:  ``fn(uow, deps, actor, args: str) -> Reply``
- action:   ``fn(uow, deps, actor, value: str, source: MessageRef | None) -> Reply | None``
- form:     ``fn(uow, deps, actor, state: str, values: dict[str, str | None]) -> Reply | None``
- events:   ``fn(uow, deps, events: list[Event]) -> None`` (a run of events of one type, in order)
- job:      ``fn(uow_factory, deps) -> JobResult`` (owns its transactions)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

FLOW_MODULES = [
    "handlers.core",
    "handlers.crm",
    "handlers.wins",
    "handlers.cooling",
    "handlers.bounce",
    "handlers.schedule",
    "handlers.away",
    "handlers.scoreboard",
    "handlers.home",
    "handlers.review",
    "handlers.directory",
    "handlers.policy",
    "handlers.prefs",
]


@dataclass(frozen=True)
class MessageRef:
    """The message a button was pressed on: its outbox key when the bot posted it."""

    outbox_key: str | None = None
    platform: str | None = None
    channel: str | None = None
    ts: str | None = None


@dataclass
class JobResult:
    name: str
    done: int = 0
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.done} done" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Flow:
    name: str
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)
    actions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    forms: dict[str, Callable[..., Any]] = field(default_factory=dict)
    events: dict[str, Callable[..., Any]] = field(default_factory=dict)
    jobs: dict[str, Callable[..., Any]] = field(default_factory=dict)
    help: list[tuple[str, str]] = field(default_factory=list)  # (usage, what it does)
    # Commands that only read: run in a read-only unit of work (no write lock; a write raises).
    read_only: frozenset[str] = frozenset()


@dataclass
class Registry:
    flows: list[Flow]
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)
    actions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    forms: dict[str, Callable[..., Any]] = field(default_factory=dict)
    events: dict[str, Callable[..., Any]] = field(default_factory=dict)
    jobs: dict[str, Callable[..., Any]] = field(default_factory=dict)
    read_only: set[str] = field(default_factory=set)  # commands that only read

    @classmethod
    def build(cls, flows: list[Flow]) -> "Registry":
        reg = cls(flows=flows)
        for flow in flows:
            for kind in ("commands", "actions", "forms", "events", "jobs"):
                table = getattr(reg, kind)
                for k, fn in getattr(flow, kind).items():
                    if k in table:
                        raise RuntimeError(f"{kind[:-1]} {k!r} is registered by two flows")
                    table[k] = fn
            reg.read_only |= set(flow.read_only)
        return reg

    def help_lines(self) -> list[tuple[str, str]]:
        return [line for flow in self.flows for line in flow.help]


def load_registry(modules: list[str] | None = None) -> Registry:
    flows = []
    for name in modules or FLOW_MODULES:
        flows.append(importlib.import_module(name).FLOW)
    return Registry.build(flows)
