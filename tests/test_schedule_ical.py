"""``python -m bot import-ical``: a team's calendar, recurring events and all, into the schedule."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time
from sqlmodel import select

from bot import cli
from bot.ical import CalendarError, read_calendar
from storage.models import Outbox, ScheduleItem
from zoneinfo import ZoneInfo

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")

# A weekly webinar (six Tuesdays from 24 November, 10:00 London) with 8 December excluded and
# 1 December moved to Wednesday 14:00; a two-day trade fair; a cancelled meeting.
CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Northwind//Marketing//EN
BEGIN:VTIMEZONE
TZID:Europe/London
BEGIN:STANDARD
DTSTART:19701025T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T010000
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:webinar-series@northwind.example
DTSTAMP:20261101T120000Z
DTSTART;TZID=Europe/London:20261124T100000
DTEND;TZID=Europe/London:20261124T110000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/London:20261208T100000
SUMMARY:Analytics in practice (webinar)
CATEGORIES:webinar,region:EMEA,region:UK
ORGANIZER;CN=Kira Novak:mailto:kira@northwind.example
URL:https://northwind.example/webinars
END:VEVENT
BEGIN:VEVENT
UID:webinar-series@northwind.example
DTSTAMP:20261101T120000Z
RECURRENCE-ID;TZID=Europe/London:20261201T100000
DTSTART;TZID=Europe/London:20261202T140000
DTEND;TZID=Europe/London:20261202T150000
SUMMARY:Analytics in practice (webinar, moved to Wednesday)
END:VEVENT
BEGIN:VEVENT
UID:fair-2026@northwind.example
DTSTAMP:20261101T120000Z
DTSTART;VALUE=DATE:20261125
DTEND;VALUE=DATE:20261127
SUMMARY:Data & AI trade fair
CATEGORIES:Trade show,region:DACH
ORGANIZER:mailto:leo@northwind.example
END:VEVENT
BEGIN:VEVENT
UID:cancelled@northwind.example
DTSTAMP:20261101T120000Z
DTSTART:20261126T150000Z
DTEND:20261126T160000Z
SUMMARY:Planning (cancelled)
STATUS:CANCELLED
END:VEVENT
END:VCALENDAR
"""

NOW = "2026-11-23 15:00:00"  # the Monday of the week the import starts from


def at(y, m, d, h=0, mi=0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


@pytest.fixture
def env(database_url, engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SMARKETING_CONFIG", raising=False)
    monkeypatch.setenv("LOCAL_WORKSPACE", "false")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return engine


def write(tmp_path, text: str = CALENDAR, name: str = "marketing.ics"):
    path = tmp_path / name
    path.write_text(text.replace("\n", "\r\n"), encoding="utf-8")
    return path


def import_ical(*args: str) -> int:
    with freeze_time(NOW):
        return cli.main(["import-ical", *args])


def stored(engine) -> dict[str, ScheduleItem]:
    from sqlmodel import Session

    with Session(engine) as s:
        return {i.external_id: i for i in s.exec(select(ScheduleItem))}


def test_recurring_events_are_imported_with_their_exceptions_and_moves(env, tmp_path, capsys):
    assert import_ical(str(write(tmp_path)), "--team", "marketing") == 0
    items = stored(env)
    webinars = sorted((i for i in items.values() if i.kind == "webinar"), key=lambda i: i.starts_at)
    assert [w.starts_at for w in webinars] == [
        at(2026, 11, 24, 10),
        at(2026, 12, 2, 14),  # the 1 December one, moved to Wednesday afternoon
        at(2026, 12, 15, 10),  # 8 December is excluded
        at(2026, 12, 22, 10),
        at(2026, 12, 29, 10),
    ]
    moved = webinars[1]
    assert moved.external_id == "ical:webinar-series@northwind.example#20261201T100000Z"
    assert moved.title == "Analytics in practice (webinar, moved to Wednesday)"
    assert moved.regions == ["EMEA", "UK"]  # from its series
    assert {w.team for w in webinars} == {"marketing"} and {w.source for w in webinars} == {"ical"}
    with env.connect() as conn:
        kira = conn.exec_driver_sql("SELECT id FROM person WHERE key = 'kira'").scalar()
    assert {w.owner_id for w in webinars} == {kira}
    assert webinars[0].link == "https://northwind.example/webinars"
    fair = items["ical:fair-2026@northwind.example"]
    assert (fair.kind, fair.all_day, fair.starts_at, fair.ends_at) == (
        "event",
        True,
        at(2026, 11, 25),
        at(2026, 11, 27),
    )
    assert not any("Planning" in i.title for i in items.values())
    out = capsys.readouterr().out
    assert "marketing.ics: 6 occurrences of 3 events" in out and "1 cancelled" in out
    assert "6 new, 0 updated, 0 unchanged, 0 removed" in out


def test_importing_the_same_file_again_changes_nothing(env, tmp_path, capsys):
    path = str(write(tmp_path))
    import_ical(path, "--team", "marketing")
    before = {k: (v.id, v.starts_at, v.title) for k, v in stored(env).items()}
    assert import_ical(path, "--team", "marketing") == 0
    assert {k: (v.id, v.starts_at, v.title) for k, v in stored(env).items()} == before
    assert "0 new, 0 updated, 6 unchanged, 0 removed" in capsys.readouterr().out


def test_a_reimport_updates_moved_occurrences_and_removes_dropped_ones(env, tmp_path, capsys):
    import_ical(str(write(tmp_path)), "--team", "marketing")
    changed = CALENDAR.replace(
        "EXDATE;TZID=Europe/London:20261208T100000", "EXDATE;TZID=Europe/London:20261208T100000,20261222T100000"
    )
    changed = changed.replace("SUMMARY:Data & AI trade fair", "SUMMARY:Data & AI trade fair (Munich)")
    assert import_ical(str(write(tmp_path, changed)), "--team", "marketing") == 0
    items = stored(env)
    assert "ical:webinar-series@northwind.example#20261222T100000Z" not in items
    assert items["ical:fair-2026@northwind.example"].title == "Data & AI trade fair (Munich)"
    assert "0 new, 1 updated, 4 unchanged, 1 removed" in capsys.readouterr().out


def test_only_the_weeks_asked_for_are_imported(env, tmp_path):
    import_ical(str(write(tmp_path)), "--team", "marketing", "--weeks", "2")
    starts = sorted(i.starts_at for i in stored(env).values())
    assert starts[-1] < at(2026, 12, 7)
    assert len(starts) == 3  # the webinars of 24 Nov and (moved) 2 Dec, and the fair


def test_options_set_the_owner_kind_and_regions_of_every_item(env, tmp_path):
    plain = CALENDAR.replace("CATEGORIES:webinar,region:EMEA,region:UK\r\n", "").replace(
        "CATEGORIES:webinar,region:EMEA,region:UK\n", ""
    )
    import_ical(
        str(write(tmp_path, plain)),
        "--team",
        "sales",
        "--owner",
        "Ana@Northwind.example",
        "--kind",
        "call_blitz",
        "--regions",
        "US, Canada",
    )
    items = stored(env)
    webinar = items["ical:webinar-series@northwind.example#20261124T100000Z"]
    assert (webinar.team, webinar.kind, webinar.regions, webinar.owner_email) == (
        "sales",
        "call_blitz",
        ["US", "Canada"],
        "ana@northwind.example",
    )
    assert items["ical:fair-2026@northwind.example"].regions == ["US", "Canada", "DACH"]


def test_an_imported_item_that_collides_warns_both_owners(env, tmp_path, make_container, clock):
    c = make_container()
    with c.uow_factory() as uow:
        maya = uow.people.by_key("maya")
        uow.schedule.add(
            ScheduleItem(
                team="sales",
                kind="event",
                title="Customer day Munich",
                regions=["dach"],
                starts_at=at(2026, 11, 26),
                ends_at=at(2026, 11, 27),
                all_day=True,
                owner_id=maya.id,
                created_at=at(2026, 11, 1),
            )
        )
        uow.commit()
    import_ical(str(write(tmp_path)), "--team", "marketing", "--no-deliver")
    with c.uow_factory() as uow:
        keys = sorted(
            r.key for r in uow.session.exec(select(Outbox).where(Outbox.key.startswith("schedule:conflict:")))
        )
        leo = uow.people.by_key("leo").id
    assert len(keys) == 2 and keys[0].endswith(f":to:{min(leo, maya.id)}")


def test_a_file_that_is_not_a_calendar_is_refused_with_the_reason(env, tmp_path, capsys):
    assert import_ical(str(write(tmp_path, "hello, world")), "--team", "marketing") == 2
    assert "cannot import" in capsys.readouterr().err
    assert import_ical(str(tmp_path / "missing.ics"), "--team", "marketing") == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_long_uid_is_kept_within_the_column():
    long_uid = "x" * 400
    text = CALENDAR.replace("UID:fair-2026@northwind.example", f"UID:{long_uid}")
    found = read_calendar(text.encode(), start=at(2026, 11, 23), end=at(2027, 1, 1), tz=LONDON)
    ids = [r["external_id"] for r in found.rows]
    assert all(len(i) <= 300 for i in ids) and any(i.startswith("ical:sha1-") for i in ids)


def test_read_calendar_refuses_garbage():
    with pytest.raises(CalendarError):
        read_calendar(b"BEGIN:VEVENT\nEND", start=at(2026, 11, 23), end=at(2027, 1, 1), tz=LONDON)
