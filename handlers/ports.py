"""The ports handlers depend on, as Protocols, and the small value types they exchange.

Handlers never import Slack, Teams, FastAPI or SQLAlchemy: they get a unit of work (``storage``),
a clock and the configuration through ``Deps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from handlers.config import Config


class Clock(Protocol):
    """Where handlers get the time. Always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class OffsetClock:
    """The system clock moved forward by an offset: the local workspace's simulated time.

    Under freezegun the base time is frozen too, so tests control it completely."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime):
        assert at.tzinfo is not None, "FixedClock needs an aware datetime"
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


MAX_ROW_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL


def row_id(value: str | None) -> int | None:
    """A row id from a button value or a form's state: ASCII digits within the id column's range
    (a huge or odd number is no row, never an overflow in the database)."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    n = int(text)
    return n if 0 < n <= MAX_ROW_ID else None


def channel(name: str) -> str:
    """Destination: a channel by its logical name in the config (``wins``, ``sales``, ...)."""
    return f"channel:{name}"


def dm(person_id: int) -> str:
    """Destination: a direct message to a person."""
    return f"dm:{person_id}"


def webhook(name: str = "crm") -> str:
    """Destination: an outbound webhook configured under ``outbound_webhook``."""
    return f"webhook:{name}"


@dataclass(frozen=True)
class Actor:
    """Who acted: the person (by id in the people table) and where they acted from."""

    person_id: int | None
    platform: str = "local"
    platform_user_id: str | None = None
    display_name: str | None = None
    refused: str | None = None  # why this account may not act (handlers/identity.py); None: it may


@dataclass
class Deps:
    """Everything a handler may use besides the unit of work."""

    config: "Config"
    clock: Clock = field(default_factory=SystemClock)
    extras: dict[str, Any] = field(default_factory=dict)
    help: list[tuple[str, str]] = field(default_factory=list)  # (usage, what it does) of every command
    crm_writeback: bool = False  # a CRM connector (HubSpot, ...) writes lead changes back

    def writes_to_crm(self) -> bool:
        """Lead changes go back to the CRM: a connector writes them, or ``outbound_webhook`` posts them."""
        return self.crm_writeback or self.config.outbound_webhook is not None

    def now(self) -> datetime:
        return self.clock.now()
