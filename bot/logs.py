"""Logging: one line per event, carrying the request or job id that caused it."""

from __future__ import annotations

import contextvars
import logging
import sys
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def new_id(prefix: str = "req") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one there was when
    logging was set up (a test harness or a daemon may swap it, and the old one may be closed)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_smarketing", False) for h in root.handlers):
        return
    handler = _StderrHandler()
    handler._smarketing = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, every start


class NoRequestDetails(logging.Filter):
    """For libraries that put request bodies in their log lines (bolt logs a badly signed body in
    full at INFO, and the filtered body of an unhandled request): keep the sentence, drop the
    details in parentheses and anything after the first line, and cap the length."""

    MAX = 200

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a message that cannot be formatted is dropped whole
            text = "(unformattable log message)"
        short = text.split("\n", 1)[0].split("(", 1)[0].rstrip()[: self.MAX]
        if short != text:
            short += " (request details not logged)"
        record.msg, record.args = short, ()
        return True
