"""The schedule's pure rules: weeks in a team's timezone, and each conflict rule on its own."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from handlers import schedule_rules as rules
from handlers.schedule_rules import Item

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
MONDAY = date(2026, 11, 23)


def at(y, m, d, h=0, mi=0, tz=UTC) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=tz).astimezone(UTC)


_ids = iter(range(1, 10_000))


def item(team, kind, regions=("EMEA",), start=None, end=None, *, all_day=False, owner=None, title=None, id=None):
    start = start or at(2026, 11, 24, 9)
    end = end or start + timedelta(hours=2)
    i = id or next(_ids)
    return Item(i, team, kind, title or f"{kind} {i}", tuple(regions), start, end, all_day, owner)


def day(d: date, days: int = 1, **kw) -> dict:
    """All-day keyword arguments for ``days`` dates from ``d``."""
    return dict(
        start=at(d.year, d.month, d.day), end=at(d.year, d.month, d.day) + timedelta(days=days), all_day=True, **kw
    )


def rule_names(conflicts):
    return [c.rule for c in conflicts]


# --- weeks ------------------------------------------------------------------------------------


def test_a_week_runs_from_monday_midnight_to_monday_midnight_in_the_teams_timezone():
    start, end = rules.week_window(MONDAY, NY)
    assert start == at(2026, 11, 23, 5) and end == at(2026, 11, 30, 5)
    assert rules.week_label(MONDAY) == "2026-W48"


@pytest.mark.parametrize(
    "monday, tz, hours",
    [
        (date(2026, 3, 2), NY, 167),  # New York springs forward on Sunday 8 March
        (date(2026, 3, 9), NY, 168),
        (date(2026, 3, 23), LONDON, 167),  # clocks go forward on Sunday 29 March
        (date(2026, 10, 19), LONDON, 169),  # and back on Sunday 25 October
        (date(2026, 3, 2), LONDON, 168),
        (date(2026, 10, 26), NY, 169),  # New York falls back on Sunday 1 November
    ],
)
def test_the_week_of_a_clock_change_is_an_hour_shorter_or_longer(monday, tz, hours):
    start, end = rules.week_window(monday, tz)
    assert end - start == timedelta(hours=hours)


@pytest.mark.parametrize(
    "now, tz, expected",
    [
        (at(2026, 11, 23, 8, 59), LONDON, []),
        (at(2026, 11, 23, 9, 0), LONDON, [(MONDAY, at(2026, 11, 23, 9))]),
        (at(2026, 11, 23, 9, 0), NY, []),  # 04:00 in New York; last week's time has passed with it
        (at(2026, 11, 23, 14, 0), NY, [(MONDAY, at(2026, 11, 23, 14))]),
        (at(2026, 11, 27, 23, 59), LONDON, [(MONDAY, at(2026, 11, 23, 9))]),  # missed: late, until Friday night
        (at(2026, 11, 28, 0, 0), LONDON, []),  # at the weekend, no longer
        (at(2026, 3, 30, 8, 0), LONDON, [(date(2026, 3, 30), at(2026, 3, 30, 8))]),  # 09:00 BST
        (at(2026, 3, 9, 13, 0), NY, [(date(2026, 3, 9), at(2026, 3, 9, 13))]),  # 09:00 EDT
        (at(2026, 11, 2, 13, 0), NY, []),  # 08:00 EST: not yet
    ],
)
def test_a_digest_is_due_from_its_local_time_until_its_week_is_over(now, tz, expected):
    assert rules.digests_due(now, tz, 0, time(9, 0)) == expected


def test_a_weekend_digest_previews_the_coming_week():
    sunday_evening = at(2026, 11, 29, 18, 0)  # 18:00 in London
    assert rules.digests_due(sunday_evening, LONDON, 6, time(17, 0)) == [(date(2026, 11, 30), at(2026, 11, 29, 17))]
    # On Monday, this week's is still listed: it is posted then if it was missed on Sunday.
    assert rules.digests_due(at(2026, 11, 30, 9), LONDON, 6, time(17, 0)) == [
        (date(2026, 11, 30), at(2026, 11, 29, 17))
    ]


def test_an_all_day_item_is_on_its_dates_in_every_timezone():
    fair = item("marketing", "event", **day(date(2026, 11, 24)))
    assert fair.local_days(NY) == fair.local_days(LONDON) == (date(2026, 11, 24), date(2026, 11, 24))
    assert fair.span(NY) == (at(2026, 11, 24, 5), at(2026, 11, 25, 5))


def test_a_timed_item_is_on_its_local_days():
    late_call = item("sales", "other", start=at(2026, 11, 30, 2), end=at(2026, 11, 30, 3))  # Sun 21:00 in NY
    assert rules.in_week(late_call, MONDAY, NY)
    assert not rules.in_week(late_call, MONDAY, LONDON)


def test_regions_are_trimmed_and_deduplicated_ignoring_case():
    assert rules.clean_regions([" EMEA ", "emea", "", "North  America", "UK"]) == ["EMEA", "North America", "UK"]


# --- (a) a sales promotion overlapping a marketing launch in the same region -------------------


def test_a_sales_promotion_overlapping_a_marketing_launch_in_the_same_region_conflicts():
    promo = item("sales", "promotion", ["EMEA"], owner=2, **day(date(2026, 11, 24), 4))
    launch = item("marketing", "campaign_launch", ["emea", "UK"], at(2026, 11, 25, 9), at(2026, 11, 25, 17), owner=12)
    [c] = rules.find_conflicts([promo, launch], LONDON)
    assert c.rule == rules.PROMOTION_LAUNCH
    assert (c.first, c.second) == (promo, launch)
    assert c.regions == ("EMEA",)
    assert c.owner_ids == [2, 12]
    assert (c.start, c.end) == (at(2026, 11, 25, 9), at(2026, 11, 25, 17))


def test_a_marketing_webinar_counts_as_a_launch():
    promo = item("sales", "promotion", ["EMEA"], **day(date(2026, 11, 24), 4))
    webinar = item("marketing", "webinar", ["EMEA"], at(2026, 11, 25, 15), at(2026, 11, 25, 16))
    assert rule_names(rules.find_conflicts([promo, webinar], LONDON)) == [rules.PROMOTION_LAUNCH]


@pytest.mark.parametrize(
    "promo, launch",
    [
        (dict(team="sales", regions=["APAC"]), dict(team="marketing", regions=["EMEA"])),  # other region
        (dict(team="sales", start=at(2026, 11, 26, 9)), dict(team="marketing", start=at(2026, 11, 24, 9))),  # later
        (dict(team="marketing"), dict(team="marketing")),  # a marketing promotion is not a sales discount
        (dict(team="sales", regions=[]), dict(team="marketing")),  # no region, no conflict
    ],
    ids=["other region", "not overlapping", "marketing promotion", "no region"],
)
def test_a_promotion_that_does_not_meet_a_launch_is_no_conflict(promo, launch):
    p = item(promo.pop("team"), "promotion", **promo)
    lch = item(launch.pop("team"), "campaign_launch", **launch)
    assert rules.find_conflicts([p, lch], LONDON) == []


# --- (b) a sales territory focus in a region with no marketing activity that week ---------------


def test_a_territory_focus_where_marketing_does_nothing_that_week_is_flagged():
    focus = item("sales", "territory_focus", ["LATAM", "EMEA"], owner=3, **day(MONDAY, 5))
    emea = item("marketing", "webinar", ["EMEA"])
    [c] = rules.find_conflicts([focus, emea], LONDON, week=MONDAY)
    assert c.rule == rules.UNSUPPORTED_FOCUS
    assert c.first is focus and c.second is None
    assert c.regions == ("LATAM",)


def test_a_territory_focus_with_marketing_activity_in_its_region_is_fine():
    focus = item("sales", "territory_focus", ["LATAM"], **day(MONDAY, 5))
    support = item("marketing", "other", ["latam"], start=at(2026, 11, 28, 10))  # Saturday: same week
    assert rules.find_conflicts([focus, support], LONDON, week=MONDAY) == []


def test_marketing_activity_in_another_week_does_not_support_a_focus():
    focus = item("sales", "territory_focus", ["LATAM"], **day(MONDAY, 5))
    next_week = item("marketing", "event", ["LATAM"], **day(date(2026, 12, 1)))
    assert rule_names(rules.find_conflicts([focus, next_week], LONDON, week=MONDAY)) == [rules.UNSUPPORTED_FOCUS]


def test_the_focus_rule_needs_a_week_so_early_warnings_do_not_use_it():
    focus = item("sales", "territory_focus", ["LATAM"], **day(MONDAY, 5))
    assert rules.find_conflicts([focus], LONDON) == []


# --- (c) two events on one day in one region ----------------------------------------------------


def test_two_events_on_one_day_in_one_region_conflict_whichever_teams_they_belong_to():
    fair = item("marketing", "event", ["DACH"], owner=13, **day(date(2026, 11, 26)))
    dinner = item("sales", "event", ["dach"], at(2026, 11, 26, 18), at(2026, 11, 26, 21), owner=4)
    [c] = rules.find_conflicts([fair, dinner], LONDON)
    assert c.rule == rules.SAME_DAY_EVENTS
    assert {c.first.id, c.second.id} == {fair.id, dinner.id}
    assert c.day == date(2026, 11, 26) and c.regions == ("DACH",)
    assert c.owner_ids == [4, 13]


def test_events_on_different_local_days_do_not_conflict():
    a = item("marketing", "event", ["US"], at(2026, 11, 26, 15), at(2026, 11, 26, 16))
    b = item("sales", "event", ["US"], at(2026, 11, 27, 3), at(2026, 11, 27, 4))  # Thu 22:00 in New York
    assert rules.find_conflicts([a, b], LONDON) == []
    assert rule_names(rules.find_conflicts([a, b], NY)) == [rules.SAME_DAY_EVENTS]


def test_two_events_sharing_several_days_and_regions_are_one_conflict_on_their_first_day():
    a = item("marketing", "event", ["EMEA", "UK"], **day(date(2026, 11, 24), 3))
    b = item("marketing", "event", ["uk", "emea"], **day(date(2026, 11, 25), 3))
    [c] = rules.find_conflicts([a, b], LONDON)
    assert c.day == date(2026, 11, 25) and set(c.regions) == {"EMEA", "UK"}


def test_webinars_and_other_kinds_are_not_events():
    a = item("marketing", "webinar", ["EMEA"])
    b = item("sales", "event", ["EMEA"])
    assert rules.find_conflicts([a, b], LONDON) == []


# --- together -----------------------------------------------------------------------------------


def test_involving_keeps_only_the_conflicts_of_the_new_items():
    old1 = item("marketing", "event", ["EMEA"], **day(date(2026, 11, 26)))
    old2 = item("sales", "event", ["EMEA"], **day(date(2026, 11, 26)))
    new = item("marketing", "event", ["EMEA"], **day(date(2026, 11, 26)))
    found = rules.find_conflicts([old1, old2, new], LONDON, involving={new.id})
    assert len(found) == 2 and all(new in c.items for c in found)
    assert len(rules.find_conflicts([old1, old2, new], LONDON)) == 3


def test_a_week_keeps_only_the_conflicts_that_bite_in_it():
    promo = item("sales", "promotion", ["EMEA"], **day(date(2026, 11, 30), 2))
    launch = item("marketing", "campaign_launch", ["EMEA"], **day(date(2026, 11, 30)))
    assert rules.find_conflicts([promo, launch], LONDON, week=MONDAY) == []
    assert len(rules.find_conflicts([promo, launch], LONDON, week=date(2026, 11, 30))) == 1


def test_conflicts_come_in_the_order_they_bite():
    later = [
        item("sales", "promotion", ["EMEA"], **day(date(2026, 11, 27))),
        item("marketing", "campaign_launch", ["EMEA"], **day(date(2026, 11, 27))),
    ]
    sooner = [
        item("sales", "event", ["US"], **day(date(2026, 11, 24))),
        item("marketing", "event", ["US"], **day(date(2026, 11, 24))),
    ]
    found = rules.find_conflicts(later + sooner, LONDON)
    assert rule_names(found) == [rules.SAME_DAY_EVENTS, rules.PROMOTION_LAUNCH]


def test_what_touches_a_team_is_the_other_teams_items_in_its_regions_or_in_its_conflicts():
    ours = item("marketing", "webinar", ["EMEA"])
    shares = item("sales", "call_blitz", ["emea"])
    elsewhere = item("sales", "account_focus", ["APAC"])
    focus = item("sales", "territory_focus", ["LATAM"], **day(MONDAY, 5))
    conflicts = rules.find_conflicts([ours, shares, elsewhere, focus], LONDON, week=MONDAY)
    touches = rules.touching([ours, shares, elsewhere, focus], "marketing", conflicts)
    assert [(t.item, t.mine, t.conflict) for t in touches] == [(shares, ours, False), (focus, None, True)]
