"""Reading an iCal (.ics) file into schedule occurrences, for ``python -m bot import-ical``.

Recurring events are expanded with ``recurring-ical-events`` (RRULE, RDATE, EXDATE, moved
occurrences, X-WR-TIMEZONE) within a window. Each occurrence's ``external_id`` is the event's
UID plus its recurrence id, so importing the same file again updates rather than duplicates,
and a moved occurrence replaces the one it moves.

Per event, ``CATEGORIES`` may name the kind (``webinar``, ``event``, ``promotion``, ``launch``,
…) and regions (``region:EMEA``); a moved occurrence without its own takes its series'.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from handlers.events import SCHEDULE_KINDS
from handlers.messages import inert_value
from handlers.schedule_rules import clean_regions

UTC = timezone.utc
KIND_ALIASES = {
    "launch": "campaign_launch",
    "campaign": "campaign_launch",
    "discount": "promotion",
    "promo": "promotion",
    "sale": "promotion",
    "conference": "event",
    "trade_show": "event",
    "territory": "territory_focus",
    "account": "account_focus",
    "blitz": "call_blitz",
}


class CalendarError(ValueError):
    """The file is not a calendar we can read; the message says why."""


@dataclass
class Occurrences:
    rows: list[dict] = field(default_factory=list)
    uids: set[str] = field(default_factory=set)  # every event (series) in the file
    skipped: int = 0  # cancelled occurrences


def uid_key(uid: str) -> str:
    """The UID as kept in external ids (long ones hashed to fit the column)."""
    uid = uid.strip()
    return uid if len(uid) <= 200 else "sha1-" + hashlib.sha1(uid.encode()).hexdigest()


def _moment(value, tz: ZoneInfo) -> tuple[datetime, bool]:
    """(UTC moment, all day?). Floating times are read in the team's timezone; dates are
    all-day, kept as UTC midnights (see ``handlers/schedule_rules``)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC), False
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC), True
    raise CalendarError(f"unreadable date {value!r}")


def _recurrence_label(value, tz: ZoneInfo) -> str:
    moment, all_day = _moment(value, tz)
    return f"{moment:%Y%m%d}" if all_day else f"{moment:%Y%m%dT%H%M%SZ}"


def _categories(component) -> list[str]:
    raw = component.get("CATEGORIES")
    if raw is None:
        return []
    out: list[str] = []
    for entry in raw if isinstance(raw, list) else [raw]:
        cats = getattr(entry, "cats", None)
        out.extend(str(c) for c in (cats if cats is not None else str(entry).split(",")))
    return [c.strip() for c in out if c.strip()]


def _kind_and_regions(categories: list[str], default_kind: str) -> tuple[str, list[str]]:
    kind, regions = None, []
    for c in categories:
        if c.lower().startswith("region:"):
            regions.append(c.split(":", 1)[1])
            continue
        word = "_".join(c.lower().replace("-", " ").split())
        word = KIND_ALIASES.get(word, word)
        if kind is None and word in SCHEDULE_KINDS:
            kind = word
    return kind or default_kind, regions


def _email(value) -> str | None:
    text = str(value or "").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.lower() if "@" in text else None


def read_calendar(
    data: bytes,
    *,
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    kind: str = "other",
    regions: list[str] | None = None,
    owner_email: str | None = None,
) -> Occurrences:
    """The occurrences of every event between ``start`` and ``end``, as schedule rows."""
    try:
        cal = icalendar.Calendar.from_ical(data)
    except ValueError as e:
        raise CalendarError(f"not an iCal file ({e})") from None
    if getattr(cal, "name", None) != "VCALENDAR":
        raise CalendarError("not an iCal file (no VCALENDAR)")
    events = cal.walk("VEVENT")
    series = {str(c.get("UID")): c for c in events if c.get("RECURRENCE-ID") is None}
    # A single event is known by its UID alone (moving it is an update); an occurrence of a
    # recurring one by its UID and the slot it fills (its recurrence id).
    recurring = {
        str(c.get("UID"))
        for c in events
        if c.get("RRULE") is not None or c.get("RDATE") is not None or c.get("RECURRENCE-ID") is not None
    }
    try:
        found = recurring_ical_events.of(cal).between(start, end)
    except Exception as e:  # noqa: BLE001 - the library raises several kinds for bad rules
        raise CalendarError(f"cannot expand the recurring events ({type(e).__name__}: {e})") from None
    out = Occurrences(uids={uid_key(u) for u in series if u and u != "None"})
    for ev in found:
        if str(ev.get("STATUS", "")).upper() == "CANCELLED":
            out.skipped += 1
            continue
        dtstart = ev.get("DTSTART")
        if dtstart is None:
            continue
        raw_uid = str(ev.get("UID") or "")
        if not raw_uid:  # not valid iCal, but seen: identify the event by what it is
            raw_uid = "nouid-" + hashlib.sha1(f"{ev.get('SUMMARY')}|{dtstart.dt}".encode()).hexdigest()
        uid = uid_key(raw_uid)
        out.uids.add(uid)
        master = series.get(raw_uid, ev)
        starts_at, all_day = _moment(dtstart.dt, tz)
        dtend = ev.get("DTEND")
        if dtend is not None:
            ends_at, _ = _moment(dtend.dt, tz)
        elif ev.get("DURATION") is not None:
            ends_at = starts_at + ev["DURATION"].dt
        else:
            ends_at = starts_at + (timedelta(days=1) if all_day else timedelta(0))
        ends_at = max(ends_at, starts_at)
        rid = ev.get("RECURRENCE-ID")
        recurrence = f"#{_recurrence_label(rid.dt, tz)}" if rid is not None and raw_uid in recurring else ""
        external_id = f"ical:{uid}{recurrence}"
        item_kind, item_regions = _kind_and_regions(_categories(ev) or _categories(master), kind)
        link = str(ev.get("URL") or master.get("URL") or "").strip() or None
        out.rows.append(
            inert_value(
                dict(  # text from a file: it can form no mention
                    external_id=external_id,
                    kind=item_kind,
                    title=(" ".join(str(ev.get("SUMMARY") or master.get("SUMMARY") or "(no title)").split()))[:500],
                    regions=clean_regions([*(regions or []), *item_regions])[:50],
                    starts_at=starts_at,
                    ends_at=ends_at,
                    all_day=all_day,
                    owner_email=owner_email or _email(ev.get("ORGANIZER") or master.get("ORGANIZER")),
                    link=link if link and link.startswith(("http://", "https://")) and len(link) <= 3000 else None,
                )
            )
        )
    # The same occurrence twice (a file that repeats an event) counts once: the last wins.
    out.rows = list({r["external_id"]: r for r in out.rows}.values())
    return out
