"""Business-hours clock: when does a lead SLA fall due, in the owner's local working day?"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The repo has no packaging or pytest config yet; make `handlers` importable when pytest is
# run from the repo root as `pytest tests/...`.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from handlers.business_time import BusinessCalendar  # noqa: E402

UTC = timezone.utc
NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
EVERY_DAY = frozenset(range(7))


def local(tz: str, *args: int) -> datetime:
    """A wall-clock time in ``tz`` (first occurrence if ambiguous), as aware UTC."""
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


# -- the headline SLA case -------------------------------------------------------------------


def test_lead_qualified_friday_1630_with_one_hour_sla_is_due_monday_0930(calendar):
    qualified = local(NEW_YORK, 2026, 5, 15, 16, 30)  # Friday, EDT
    due = calendar.add_business_hours(qualified, 1, NEW_YORK)
    assert due == utc(2026, 5, 18, 13, 30)  # Monday 09:30 EDT
    assert due.astimezone(ZoneInfo(NEW_YORK)) == datetime(2026, 5, 18, 9, 30, tzinfo=ZoneInfo(NEW_YORK))


def test_results_are_aware_utc_datetimes(calendar):
    due = calendar.add_business_hours(utc(2026, 5, 15, 14), 2.5, NEW_YORK)
    assert due.tzinfo is UTC
    assert calendar.next_opening(utc(2026, 5, 15, 14), NEW_YORK).tzinfo is UTC


# -- holidays -----------------------------------------------------------------------------


def test_us_thanksgiving_is_skipped():
    calendar = BusinessCalendar(holiday_country="US")
    wednesday_before = local(NEW_YORK, 2026, 11, 25, 16, 0)
    due = calendar.add_business_hours(wednesday_before, 2, NEW_YORK)
    # One hour on Wednesday, Thanksgiving Thursday is closed, one hour on Friday.
    assert due == local(NEW_YORK, 2026, 11, 27, 10, 0)
    assert due == utc(2026, 11, 27, 15, 0)


def test_german_christmas_holidays_are_skipped():
    calendar = BusinessCalendar(holiday_country="DE")
    christmas_eve = local(BERLIN, 2026, 12, 24, 16, 0)  # Thursday, a normal working day in DE
    due = calendar.add_business_hours(christmas_eve, 3, BERLIN)
    # 25th (Fri) and 26th (Sat) are holidays, 27th is Sunday: two hours land on Monday.
    assert due == local(BERLIN, 2026, 12, 28, 11, 0)
    assert due == utc(2026, 12, 28, 10, 0)


def test_regional_holiday_applies_only_with_its_subdivision():
    epiphany_morning = local(BERLIN, 2026, 1, 6, 8, 0)  # Tuesday; a holiday in Bavaria only
    berlin_office = BusinessCalendar(holiday_country="DE")
    munich_office = BusinessCalendar(holiday_country="DE", holiday_subdiv="BY")
    assert berlin_office.add_business_hours(epiphany_morning, 1, BERLIN) == local(BERLIN, 2026, 1, 6, 10, 0)
    assert munich_office.add_business_hours(epiphany_morning, 1, BERLIN) == local(BERLIN, 2026, 1, 7, 10, 0)


def test_extra_holiday_from_config_is_skipped():
    calendar = BusinessCalendar(extra_holidays={date(2026, 6, 10)})
    tuesday = local(NEW_YORK, 2026, 6, 9, 15, 0)
    due = calendar.add_business_hours(tuesday, 4, NEW_YORK)
    # Two hours on Tuesday, company day off Wednesday, two hours on Thursday.
    assert due == local(NEW_YORK, 2026, 6, 11, 11, 0)
    assert due == utc(2026, 6, 11, 15, 0)


def test_extra_holidays_may_be_given_as_iso_strings():
    calendar = BusinessCalendar(extra_holidays=["2026-06-10"])
    assert not calendar.is_business_day(date(2026, 6, 10))
    assert calendar.is_business_day(date(2026, 6, 11))


# -- clock changes ------------------------------------------------------------------------

# (timezone, Friday before the change, UTC value of Monday 11:00 local after the change)
FOUR_HOURS_OVER_A_CLOCK_CHANGE_WEEKEND = [
    pytest.param(NEW_YORK, date(2026, 3, 6), utc(2026, 3, 9, 15, 0), id="new-york-spring"),
    pytest.param(NEW_YORK, date(2026, 10, 30), utc(2026, 11, 2, 16, 0), id="new-york-autumn"),
    pytest.param(BERLIN, date(2026, 3, 27), utc(2026, 3, 30, 9, 0), id="berlin-spring"),
    pytest.param(BERLIN, date(2026, 10, 23), utc(2026, 10, 26, 10, 0), id="berlin-autumn"),
]


@pytest.mark.parametrize("tz, friday, monday_1100_utc", FOUR_HOURS_OVER_A_CLOCK_CHANGE_WEEKEND)
def test_four_hours_from_friday_1500_over_a_clock_change_lands_monday_1100_local(calendar, tz, friday, monday_1100_utc):
    start = local(tz, friday.year, friday.month, friday.day, 15, 0)
    due = calendar.add_business_hours(start, 4, tz)
    assert due == monday_1100_utc
    due_local = due.astimezone(ZoneInfo(tz))
    assert (due_local.weekday(), due_local.time()) == (0, time(11, 0))
    # The Monday offset is the post-change one, not the Friday one.
    assert due_local.utcoffset() != start.astimezone(ZoneInfo(tz)).utcoffset()


# (timezone, date the clocks change, UTC offset on that day's business hours)
CLOCK_CHANGE_DAYS = [
    pytest.param(NEW_YORK, date(2026, 3, 8), timedelta(hours=-4), id="new-york-spring"),
    pytest.param(NEW_YORK, date(2026, 11, 1), timedelta(hours=-5), id="new-york-autumn"),
    pytest.param(BERLIN, date(2026, 3, 29), timedelta(hours=2), id="berlin-spring"),
    pytest.param(BERLIN, date(2026, 10, 25), timedelta(hours=1), id="berlin-autumn"),
]


@pytest.mark.parametrize("tz, change_day, offset", CLOCK_CHANGE_DAYS)
def test_a_business_day_on_a_clock_change_still_runs_0900_to_1700_local(tz, change_day, offset):
    calendar = BusinessCalendar(weekdays=EVERY_DAY)  # the change day is a Sunday
    opening = datetime.combine(change_day, time(9, 0)) - offset
    due = calendar.add_business_hours(opening.replace(tzinfo=UTC), 8, tz)
    assert due == (datetime.combine(change_day, time(17, 0)) - offset).replace(tzinfo=UTC)
    assert due - opening.replace(tzinfo=UTC) == timedelta(hours=8)
    day_start = local(tz, change_day.year, change_day.month, change_day.day, 0, 0)
    assert calendar.business_hours_between(day_start, day_start + timedelta(days=1), tz) == 8.0


@pytest.mark.parametrize("tz, change_day, offset", CLOCK_CHANGE_DAYS)
def test_an_eight_hour_sla_across_the_change_day_counts_eight_real_business_hours(tz, change_day, offset):
    calendar = BusinessCalendar(weekdays=EVERY_DAY)
    saturday = change_day - timedelta(days=1)
    start = local(tz, saturday.year, saturday.month, saturday.day, 13, 0)
    due = calendar.add_business_hours(start, 8, tz)
    # Four hours on Saturday afternoon, four on Sunday morning, whatever the clocks did
    # overnight (the wall-clock gap between the two is 23 or 25 real hours).
    assert due == (datetime.combine(change_day, time(13, 0)) - offset).replace(tzinfo=UTC)
    assert calendar.business_hours_between(start, due, tz) == 8.0


def test_weekday_sla_over_a_clock_change_weekend_counts_business_hours_not_wall_hours(calendar):
    friday_1300 = local(NEW_YORK, 2026, 3, 6, 13, 0)  # EST
    due = calendar.add_business_hours(friday_1300, 8, NEW_YORK)
    assert due == utc(2026, 3, 9, 17, 0)  # Monday 13:00 EDT
    assert due - friday_1300 == timedelta(hours=71)  # an hour went missing over the weekend
    assert calendar.business_hours_between(friday_1300, due, NEW_YORK) == 8.0


# -- starting outside business hours -------------------------------------------------------


def test_start_before_opening_begins_counting_at_that_mornings_opening(calendar):
    tuesday_0630 = local(NEW_YORK, 2026, 5, 12, 6, 30)
    assert calendar.add_business_hours(tuesday_0630, 2, NEW_YORK) == utc(2026, 5, 12, 15, 0)


def test_start_after_closing_begins_counting_at_next_mornings_opening(calendar):
    tuesday_2200 = local(NEW_YORK, 2026, 5, 12, 22, 0)
    assert calendar.add_business_hours(tuesday_2200, 2, NEW_YORK) == utc(2026, 5, 13, 15, 0)


def test_start_on_saturday_begins_counting_at_monday_opening(calendar):
    saturday_noon = local(BERLIN, 2026, 5, 16, 12, 0)
    assert calendar.add_business_hours(saturday_noon, 1.5, BERLIN) == utc(2026, 5, 18, 8, 30)


def test_start_exactly_at_closing_begins_counting_at_next_opening(calendar):
    tuesday_1700 = local(NEW_YORK, 2026, 5, 12, 17, 0)
    assert calendar.add_business_hours(tuesday_1700, 1, NEW_YORK) == utc(2026, 5, 13, 14, 0)


def test_zero_hours_outside_business_time_is_the_next_opening(calendar):
    saturday_noon = local(NEW_YORK, 2026, 5, 16, 12, 0)
    assert calendar.add_business_hours(saturday_noon, 0, NEW_YORK) == utc(2026, 5, 18, 13, 0)


def test_sla_that_uses_up_the_day_exactly_is_due_at_closing_not_next_morning(calendar):
    tuesday_0900 = local(NEW_YORK, 2026, 5, 12, 9, 0)
    assert calendar.add_business_hours(tuesday_0900, 8, NEW_YORK) == utc(2026, 5, 12, 21, 0)


def test_long_sla_of_200_hours_walks_whole_weeks():
    calendar = BusinessCalendar(holiday_country="US")
    monday_0900 = local(NEW_YORK, 2026, 6, 1, 9, 0)
    due = calendar.add_business_hours(monday_0900, 200, NEW_YORK)
    # 25 business days; Juneteenth (Fri 19 June) and Independence Day observed (Fri 3 July)
    # push the end from Friday 3 July to Tuesday 7 July 17:00.
    assert due == local(NEW_YORK, 2026, 7, 7, 17, 0)


# -- between --------------------------------------------------------------------------------


def test_hours_between_a_friday_afternoon_and_monday_morning(calendar):
    friday_1500 = local(NEW_YORK, 2026, 5, 15, 15, 0)
    monday_1030 = local(NEW_YORK, 2026, 5, 18, 10, 30)
    assert calendar.business_hours_between(friday_1500, monday_1030, NEW_YORK) == 3.5


def test_hours_between_is_zero_when_the_end_is_not_after_the_start(calendar):
    noon = local(NEW_YORK, 2026, 5, 12, 12, 0)
    assert calendar.business_hours_between(noon, noon, NEW_YORK) == 0.0
    assert calendar.business_hours_between(noon, noon - timedelta(hours=3), NEW_YORK) == 0.0


# -- next opening ("snooze until next morning") ----------------------------------------------


def test_next_opening_from_friday_evening_is_monday_0900(calendar):
    friday_1800 = local(NEW_YORK, 2026, 5, 15, 18, 0)
    assert calendar.next_opening(friday_1800, NEW_YORK) == utc(2026, 5, 18, 13, 0)


def test_next_opening_from_tuesday_early_morning_is_the_same_tuesday_0900(calendar):
    tuesday_0700 = local(NEW_YORK, 2026, 5, 12, 7, 0)
    assert calendar.next_opening(tuesday_0700, NEW_YORK) == utc(2026, 5, 12, 13, 0)


def test_next_opening_from_tuesday_mid_morning_is_wednesday_0900(calendar):
    tuesday_1000 = local(NEW_YORK, 2026, 5, 12, 10, 0)
    assert calendar.next_opening(tuesday_1000, NEW_YORK) == utc(2026, 5, 13, 13, 0)


def test_next_opening_at_exactly_opening_time_is_the_next_morning(calendar):
    tuesday_0900 = local(NEW_YORK, 2026, 5, 12, 9, 0)
    assert calendar.next_opening(tuesday_0900, NEW_YORK) == utc(2026, 5, 13, 13, 0)


def test_next_opening_skips_a_holiday():
    calendar = BusinessCalendar(holiday_country="US")
    wednesday_evening = local(NEW_YORK, 2026, 11, 25, 19, 0)
    assert calendar.next_opening(wednesday_evening, NEW_YORK) == local(NEW_YORK, 2026, 11, 27, 9, 0)


def test_next_opening_over_a_clock_change_uses_the_new_offset(calendar):
    friday_1800_cet = local(BERLIN, 2026, 3, 27, 18, 0)
    assert calendar.next_opening(friday_1800_cet, BERLIN) == utc(2026, 3, 30, 7, 0)


# -- is_business_time -----------------------------------------------------------------------


def test_business_time_includes_opening_and_excludes_closing(calendar):
    assert calendar.is_business_time(local(BERLIN, 2026, 5, 12, 9, 0), BERLIN)
    assert calendar.is_business_time(local(BERLIN, 2026, 5, 12, 16, 59), BERLIN)
    assert not calendar.is_business_time(local(BERLIN, 2026, 5, 12, 17, 0), BERLIN)
    assert not calendar.is_business_time(local(BERLIN, 2026, 5, 12, 8, 59), BERLIN)
    assert not calendar.is_business_time(local(BERLIN, 2026, 5, 16, 12, 0), BERLIN)  # Saturday


def test_business_time_is_judged_in_the_given_timezone(calendar):
    # 14:00 UTC on a Tuesday: 16:00 in Berlin (open), 10:00 in New York (open),
    # 23:00 in Tokyo (closed).
    moment = utc(2026, 5, 12, 14, 0)
    assert calendar.is_business_time(moment, BERLIN)
    assert calendar.is_business_time(moment, NEW_YORK)
    assert not calendar.is_business_time(moment, "Asia/Tokyo")


# -- bad input -------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected(calendar):
    naive = datetime(2026, 5, 12, 12, 0)
    with pytest.raises(ValueError):
        calendar.add_business_hours(naive, 1, NEW_YORK)
    with pytest.raises(ValueError):
        calendar.business_hours_between(naive, naive + timedelta(hours=1), NEW_YORK)
    with pytest.raises(ValueError):
        calendar.next_opening(naive, NEW_YORK)
    with pytest.raises(ValueError):
        calendar.is_business_time(naive, NEW_YORK)


def test_a_calendar_without_working_days_is_rejected():
    with pytest.raises(ValueError):
        BusinessCalendar(weekdays=frozenset())


def test_a_calendar_whose_holidays_cover_every_working_day_raises_instead_of_looping():
    every_day_of_2026_and_2027 = {date(2026, 1, 1) + timedelta(days=n) for n in range(730)}
    calendar = BusinessCalendar(extra_holidays=every_day_of_2026_and_2027)
    with pytest.raises(ValueError):
        calendar.add_business_hours(utc(2026, 1, 1, 12), 1, NEW_YORK)


def test_negative_hours_an_unknown_country_and_an_unknown_timezone_are_rejected(calendar):
    with pytest.raises(ValueError):
        calendar.add_business_hours(utc(2026, 5, 12, 12), -1, NEW_YORK)
    with pytest.raises(ValueError):
        calendar.add_business_hours(utc(2026, 5, 12, 12), 1, "Mars/Olympus_Mons")
    with pytest.raises(ValueError):
        BusinessCalendar(holiday_country="XX")


def test_closing_must_be_after_opening():
    with pytest.raises(ValueError):
        BusinessCalendar(start=time(17, 0), end=time(9, 0))


# -- properties ------------------------------------------------------------------------------

_US_CALENDAR = BusinessCalendar(holiday_country="US")
_DE_CALENDAR = BusinessCalendar(holiday_country="DE")

starts_in_2026 = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59, 59)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
hours = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False)
zones = st.sampled_from([(NEW_YORK, _US_CALENDAR), (BERLIN, _DE_CALENDAR)])

# No example database: the suite must not write files into the working tree.
property_settings = settings(max_examples=300, deadline=None, database=None)


@property_settings
@given(start=starts_in_2026, hours=hours, zone=zones)
def test_hours_between_start_and_due_time_equals_the_hours_added(start, hours, zone):
    tz, calendar = zone
    due = calendar.add_business_hours(start, hours, tz)
    assert due >= start
    assert calendar.business_hours_between(start, due, tz) == pytest.approx(hours, abs=1e-6)


@property_settings
@given(start=starts_in_2026, hours=hours, zone=zones)
def test_due_time_is_always_within_business_hours_or_exactly_at_closing(start, hours, zone):
    tz, calendar = zone
    due = calendar.add_business_hours(start, hours, tz)
    due_local = due.astimezone(ZoneInfo(tz))
    at_closing = calendar.is_business_day(due_local.date()) and due_local.time() == time(17, 0)
    assert calendar.is_business_time(due, tz) or at_closing


@property_settings
@given(start=starts_in_2026, zone=zones)
def test_next_opening_is_always_a_later_business_day_opening(start, zone):
    tz, calendar = zone
    opening = calendar.next_opening(start, tz)
    opening_local = opening.astimezone(ZoneInfo(tz))
    assert opening > start
    assert opening_local.time() == time(9, 0)
    assert calendar.is_business_day(opening_local.date())
    # The snooze never skips a working morning: once the local day of `start` is over,
    # there is no business time before the opening returned.
    start_local_date = start.astimezone(ZoneInfo(tz)).date()
    next_midnight = datetime.combine(start_local_date + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    assert calendar.business_hours_between(next_midnight, opening, tz) == 0.0
