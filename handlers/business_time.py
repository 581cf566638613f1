"""Business-hours clock for lead SLAs.

A lead that must be answered "within 4 business hours" is due at a moment that depends on
the owner's working day, weekends, public holidays and clock changes. Everything here takes
and returns aware UTC datetimes; the owner's timezone is passed alongside, and is only used
to decide where the working day starts and ends.

Business windows are built in local wall time (09:00-17:00 on that calendar date) and only
then converted to UTC, so a day on which the clocks change still holds exactly the hours
between 09:00 and 17:00 local. All durations are measured in real elapsed time inside those
windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["BusinessCalendar"]

_UTC = timezone.utc
_ONE_DAY = timedelta(days=1)
_MON_FRI = frozenset(range(5))

# A year of consecutive closed days can only mean holidays cover every working weekday;
# stop there rather than walk forever.
_MAX_CLOSED_DAYS = 400


class BusinessCalendar:
    """Opening hours, working weekdays and holidays of one person or team.

    ``start``/``end`` are naive local wall-clock times (opening and closing); ``weekdays``
    uses Mon=0 .. Sun=6. ``holiday_country`` (and optionally ``holiday_subdiv``) are codes
    understood by the ``holidays`` library, e.g. ``"US"`` or ``"DE"`` with ``"BY"``.
    ``extra_holidays`` are additional closed local dates, as ``date`` objects or ISO strings.
    """

    def __init__(
        self,
        start: time = time(9, 0),
        end: time = time(17, 0),
        weekdays: Iterable[int] = _MON_FRI,
        holiday_country: str | None = None,
        holiday_subdiv: str | None = None,
        extra_holidays: Iterable[date | str] = (),
    ) -> None:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("opening and closing times must be naive local wall-clock times")
        if not start < end:
            # Overnight shifts would make one business window span two local dates.
            raise ValueError("opening time must be before closing time")
        weekdays = frozenset(weekdays)
        if not weekdays:
            raise ValueError("a business calendar needs at least one working weekday")
        if not weekdays <= frozenset(range(7)):
            raise ValueError("weekdays must be integers from 0 (Monday) to 6 (Sunday)")
        if holiday_subdiv is not None and holiday_country is None:
            raise ValueError("holiday_subdiv needs a holiday_country")
        if holiday_country is not None:
            try:
                # Validate now so a typo in config fails at start-up, not at the first lead.
                holidays.country_holidays(holiday_country, subdiv=holiday_subdiv, years=())
            except NotImplementedError as exc:
                raise ValueError(str(exc)) from exc

        self.start = start
        self.end = end
        self.weekdays = weekdays
        self.holiday_country = holiday_country
        self.holiday_subdiv = holiday_subdiv
        self.extra_holidays = frozenset(_as_date(d) for d in extra_holidays)
        # Building a year's holidays is comparatively slow; SLAs hit the same year constantly.
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        # Converting wall-clock times to UTC costs microseconds each; the ladder job asks about
        # the same few days for thousands of leads at a time.
        self._windows: dict[tuple[date, str], tuple[datetime, datetime]] = {}

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(start={self.start!r}, end={self.end!r}, "
            f"weekdays={sorted(self.weekdays)!r}, holiday_country={self.holiday_country!r}, "
            f"holiday_subdiv={self.holiday_subdiv!r}, "
            f"extra_holidays={sorted(self.extra_holidays)!r})"
        )

    # -- public API -------------------------------------------------------------------------

    def is_business_day(self, day: date) -> bool:
        """True if the local calendar date ``day`` is a working day (right weekday, no holiday)."""
        return (
            day.weekday() in self.weekdays
            and day not in self.extra_holidays
            and day not in self._public_holidays(day.year)
        )

    def is_business_time(self, at: datetime, tz: str) -> bool:
        """True if the aware datetime ``at`` falls inside business hours in timezone ``tz``.

        Opening time counts as business time, closing time does not.
        """
        at = _to_utc(at)
        zone = _zone(tz)
        day = at.astimezone(zone).date()
        if not self.is_business_day(day):
            return False
        opens, closes = self._window(day, zone)
        return opens <= at < closes

    def add_business_hours(self, start: datetime, hours: float, tz: str) -> datetime:
        """Return the aware UTC moment at which ``hours`` business hours have elapsed.

        Hours are counted in the timezone ``tz`` (an IANA name) from ``start`` (an aware
        datetime); if ``start`` is outside business hours counting begins at the next opening,
        so ``hours=0`` yields that opening. A deadline that uses up a day exactly lands on that
        day's closing time rather than the next opening.
        """
        start = _to_utc(start)
        if isinstance(hours, bool) or not isinstance(hours, (int, float)):
            raise TypeError("hours must be a number")
        if not math.isfinite(hours) or hours < 0:
            raise ValueError("hours must be a finite, non-negative number")
        zone = _zone(tz)
        # timedelta keeps microsecond precision, so adding then measuring back round-trips.
        remaining = timedelta(hours=hours)

        for opens, closes in self._windows_from(start.astimezone(zone).date(), zone):
            # Before `start` a window contributes nothing; "<=" also makes a start exactly at
            # closing time begin at the next opening, as for any other out-of-hours start.
            if closes <= start:
                continue
            cursor = max(start, opens)
            available = closes - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        raise AssertionError("unreachable: _windows_from is unbounded")  # pragma: no cover

    def business_hours_between(self, a: datetime, b: datetime, tz: str) -> float:
        """Return the business hours (in timezone ``tz``) elapsed from ``a`` to ``b``.

        Returns 0.0 if ``b`` is not after ``a``.
        """
        a = _to_utc(a)
        b = _to_utc(b)
        if b <= a:
            return 0.0
        zone = _zone(tz)
        last_day = b.astimezone(zone).date()
        total = timedelta(0)
        day = a.astimezone(zone).date()
        while day <= last_day:
            if self.is_business_day(day):
                opens, closes = self._window(day, zone)
                overlap = min(closes, b) - max(opens, a)
                if overlap > timedelta(0):
                    total += overlap
            day += _ONE_DAY
        # Summing timedeltas keeps the result exact to the microsecond until this division.
        return total / timedelta(hours=1)

    def next_opening(self, at: datetime, tz: str) -> datetime:
        """Return the next business-day opening, as aware UTC, for "snooze until next morning".

        If ``at`` is before opening time on a business day, that is the same day's opening;
        otherwise (during or after business hours, or on a closed day) it is the opening of the
        first business day after the local date of ``at``.
        """
        at = _to_utc(at)
        zone = _zone(tz)
        day = at.astimezone(zone).date()
        if self.is_business_day(day):
            opens, _ = self._window(day, zone)
            if at < opens:
                return opens
        opens, _ = next(self._windows_from(day + _ONE_DAY, zone))
        return opens

    # -- internals --------------------------------------------------------------------------

    def _public_holidays(self, year: int) -> frozenset[date]:
        cached = self._holidays_by_year.get(year)
        if cached is None:
            if self.holiday_country is None:
                cached = frozenset()
            else:
                cached = frozenset(
                    holidays.country_holidays(self.holiday_country, subdiv=self.holiday_subdiv, years=year)
                )
            self._holidays_by_year[year] = cached
        return cached

    def _window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """Opening and closing of ``day`` in UTC, from local wall-clock times."""
        cached = self._windows.get((day, zone.key))
        if cached is not None:
            return cached
        # fold=0 resolves a wall time repeated at fall-back to its first occurrence and one
        # skipped at spring-forward with the pre-change offset, per PEP 495.
        opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(_UTC)
        closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(_UTC)
        # Only possible when opening falls in a spring-forward gap and closing just after it;
        # treat the day as having no hours rather than a negative amount.
        window = self._windows[(day, zone.key)] = (opens, max(opens, closes))
        return window

    def _windows_from(self, day: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        """Business windows (UTC) of ``day`` and every later business day, in order."""
        closed_run = 0
        while True:
            if self.is_business_day(day):
                closed_run = 0
                yield self._window(day, zone)
            else:
                closed_run += 1
                if closed_run > _MAX_CLOSED_DAYS:
                    raise ValueError(
                        f"no business day within {_MAX_CLOSED_DAYS} days of {day}: "
                        "the calendar's holidays cover every working day"
                    )
            day += _ONE_DAY


def _to_utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError("expected a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive time is ambiguous (server-local? UTC? the owner's?); refuse to guess.
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(_UTC)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone: {tz!r}") from exc


def _as_date(value: date | str) -> date:
    # A datetime is a date subclass but never equals one, so it would silently never match.
    if isinstance(value, datetime):
        raise ValueError(f"extra holiday must be a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"extra holiday must be a date or ISO date string: {value!r}")
