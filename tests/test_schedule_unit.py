"""Weekly schedules on the in-memory unit of work (tests/fake_uow.py): ``/smarketing schedule [next]``
(only to the person asking, in their timezone), the add form (stored for its dates, every bad field
named, conflicts told to both owners once), and when the ``digest`` job posts each team's week
(at nine in the team's timezone, late on a missed Monday, never after the week). No database:
tests/test_schedule.py keeps the layouts through clock changes, long weeks rendered for Slack,
replicas posting once, CRM events and the repository query the fake imitates. The clock is Monday
2026-11-23 15:00 UTC (10:00 in New York, 15:00 in London)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from handlers.commands import run_form
from handlers.messages import Message, mention
from handlers.ports import Actor
from tests.fake_uow import FakeApp, FakeScheduleItem
from tests.test_schedule import EMPTY, LATE, at  # the same answers as on a database


@pytest.fixture
def c() -> FakeApp:
    return FakeApp(at=at(2026, 11, 23, 15))


def add(c: FakeApp, title, kind, start, end=None, *, team="marketing", regions=("EMEA",), owner="kira") -> int:
    with c.uow_factory() as uow:
        item = uow.schedule.add(
            FakeScheduleItem(
                team=team,
                kind=kind,
                title=title,
                regions=list(regions),
                starts_at=start,
                ends_at=end or start + timedelta(hours=1),
                owner_id=c.person_id(owner) if owner else None,
                created_at=start,
            )
        )
        uow.commit()
        return item.id


def items(c: FakeApp) -> list[FakeScheduleItem]:
    with c.uow_factory() as uow:
        return uow.schedule.overlapping(at(2000, 1, 1), at(2100, 1, 1))


def queued(c: FakeApp, prefix: str = ""):
    with c.uow_factory() as uow:
        return [r for r in uow.outbox.rows() if r.key.startswith(prefix)]


def text_of(msg: Message) -> str:
    return "\n".join(getattr(b, "text", "") for b in msg.blocks)


def shown(c: FakeApp, who: str, text: str = "schedule") -> str:
    return text_of(c.command(who, text).message)


def digest(c: FakeApp, when: datetime):
    c.deps.clock.at = when
    return c.registry.jobs["digest"](c.uow_factory, c.deps)


def posts(c: FakeApp, team: str) -> list[Message]:
    return [Message.from_json(r.payload) for r in queued(c, "schedule:digest:") if r.destination == f"channel:{team}"]


# --- on demand --------------------------------------------------------------------------------


def test_schedule_shows_this_week_only_to_the_person_asking_in_their_timezone(c):
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9))
    reply = c.command("ana", "schedule")
    assert reply.message.blocks[0].text == "Week of 23 Nov 2026"
    text = text_of(reply.message)
    assert "Winter launch" in text and "What marketing is doing that touches you" in text
    assert "*Wednesday 25 Nov*\n• 04:00–05:00" in text  # in Ana's New York time
    assert "*Wednesday 25 Nov*\n• 09:00–10:00" in shown(c, "kira")  # in Kira's London time
    assert queued(c) == [], "nothing posted anywhere"


def test_schedule_next_shows_next_week_and_an_empty_week_says_how_to_add(c):
    add(c, "December webinar", "webinar", at(2026, 12, 2, 15))
    reply = c.command("kira", "schedule next")
    assert reply.message.blocks[0].text == "Week of 30 Nov 2026"
    assert "December webinar" in text_of(reply.message)
    assert "December webinar" in shown(c, "kira", "schedule next week")
    this_week = shown(c, "kira", "schedule this week")
    assert EMPTY in this_week and "December webinar" not in this_week


def test_an_item_ending_as_the_week_starts_is_not_in_it(c):
    local_monday = at(2026, 11, 23, 5)  # midnight in New York
    add(c, "Sunday night call", "other", local_monday - timedelta(hours=1), local_monday, team="sales", owner="ana")
    add(c, "Monday first call", "other", local_monday, team="sales", owner="ana")
    text = shown(c, "ana")
    assert "Monday first call" in text and "Sunday night call" not in text
    assert "*Monday 23 Nov*\n• 04:00–05:00" in shown(c, "kira")  # in London it is Monday morning


def test_a_conflict_in_the_week_names_both_items_and_both_owners(c):
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9), regions=["emea"], owner="kira")
    with c.uow_factory() as uow:
        uow.schedule.create(
            team="sales",
            kind="promotion",
            title="Black Friday 20% off",
            regions=["EMEA"],
            starts_at=at(2026, 11, 24),
            ends_at=at(2026, 11, 28),
            all_day=True,
            owner_id=c.person_id("ana"),
        )
        uow.commit()
    text = shown(c, "maya")
    assert ":warning: Conflicts (1)" in text
    [line] = [x for x in text.splitlines() if x.startswith("• :warning:")]
    assert "Black Friday" in line and "Winter launch" in line
    assert mention(c.person_id("ana")) in line and mention(c.person_id("kira")) in line


def test_a_sales_focus_marketing_does_not_support_asks_its_managers_but_not_one_who_has_left(c):
    add(c, "APAC push", "territory_focus", at(2026, 11, 24, 9), team="sales", regions=["APAC"], owner="ana")
    [line] = [x for x in shown(c, "maya").splitlines() if x.startswith("• :warning:")]
    assert line.endswith(f"{mention(c.person_id('jonas'))} (marketing), can you support it?")
    with c.uow_factory() as uow:
        uow.people.get(c.person_id("jonas")).active = False
        uow.commit()
    [line] = [x for x in shown(c, "maya").splitlines() if x.startswith("• :warning:")]
    assert line.endswith("where marketing has nothing this week") and mention(c.person_id("jonas")) not in line


def test_an_unknown_schedule_word_gets_a_short_answer_with_the_usage(c):
    reply = c.command("ana", "schedule tomorrow")
    assert reply.text.startswith("I don't know `schedule tomorrow`") and "/smarketing schedule next" in reply.text


# --- the add form -----------------------------------------------------------------------------


def submit(c: FakeApp, who: str, **values):
    base = dict(
        team="sales",
        kind="promotion",
        title="Black Friday 20% off",
        regions="EMEA, uk",
        start="2026-11-24",
        end="2026-11-27",
        link="",
    )
    base.update(values)
    return c.form(who, "schedule.add", base)


def test_schedule_add_opens_a_form_for_the_item_with_the_persons_team_and_today(c):
    form = c.command("ana", "schedule add").form
    assert form.action == "schedule.add"
    assert [i.name for i in form.inputs] == ["team", "kind", "title", "regions", "start", "end", "link"]
    assert form.inputs[0].initial == "sales" and form.inputs[4].initial == "2026-11-23"
    assert {o.value for o in form.inputs[1].options} >= {"campaign_launch", "promotion", "territory_focus"}
    assert c.command("kira", "schedule add").form.inputs[0].initial == "marketing"
    c.deps.clock.at = at(2026, 11, 24, 2)  # Tuesday in London, still Monday evening in New York
    assert c.command("ana", "schedule add").form.inputs[4].initial == "2026-11-23"
    assert c.command("kira", "schedule add").form.inputs[4].initial == "2026-11-24"
    assert items(c) == []


def test_a_submitted_item_is_stored_for_its_dates_and_confirmed(c):
    reply = submit(c, "ana", link="https://example.com/bf")
    assert "Added *Black Friday 20% off*" in reply.message.text and "Tue 24 Nov → Fri 27 Nov" in reply.message.text
    [row] = items(c)
    assert (row.team, row.kind, row.title, row.regions, row.all_day) == (
        "sales",
        "promotion",
        "Black Friday 20% off",
        ["EMEA", "uk"],
        True,
    )
    assert (row.starts_at, row.ends_at) == (at(2026, 11, 24), at(2026, 11, 28))  # the end is exclusive
    assert (row.owner_id, row.owner_email, row.source, row.link) == (
        c.person_id("ana"),
        "ana@northwind.example",
        "command",
        "https://example.com/bf",
    )
    assert row.created_at == c.deps.now()


def test_an_item_running_into_next_year_says_both_years(c):
    reply = submit(c, "ana", title="Year-end sale", start="2026-12-28", end="2027-01-02")
    assert "Mon 28 Dec 2026 → Sat 2 Jan 2027" in reply.message.text
    assert "Tue 24 Nov → Fri 27 Nov" in submit(c, "ana").message.text  # within a year: no year


def test_one_day_without_an_end_date_is_that_day(c):
    submit(c, "kira", team="marketing", kind="webinar", end="")
    [row] = items(c)
    assert (row.starts_at, row.ends_at) == (at(2026, 11, 24), at(2026, 11, 25))


@pytest.mark.parametrize(
    "values, errors",
    [
        (
            dict(team="finance", kind="party", title=" ", start="24/11/2026", end="2026-11-20", link="example.com"),
            {
                "team": "Choose a team: sales, marketing.",
                "kind": "Choose a kind.",
                "title": "Give it a title.",
                "start": "'24/11/2026' is not a date (YYYY-MM-DD).",
                "link": "A link starts with https:// (or http://).",
            },
        ),
        (dict(end="2026-11-20"), {"end": "The end date is before the start date."}),
        (dict(start="", end=""), {"start": "Pick a start date."}),
        (dict(end="2027-11-25"), {"end": "An item can last a year at most."}),
        (dict(end="soon"), {"end": "'soon' is not a date (YYYY-MM-DD)."}),
        (dict(title="x" * 201), {"title": "Keep the title under 200 characters."}),
        (
            dict(regions=",".join(f"r{n}" for n in range(51))),
            {"regions": "Up to 50 regions, each under 100 characters."},
        ),
        (dict(link="https://example.com/a b"), {"link": "A link starts with https:// (or http://)."}),
    ],
)
def test_every_problem_in_a_submitted_form_is_shown_next_to_its_field_and_nothing_is_stored(c, values, errors):
    assert submit(c, "ana", **values).errors == errors
    assert items(c) == [] and queued(c) == []


def test_someone_the_bot_does_not_know_cannot_add_items(c):
    stranger = Actor(None, "slack", "U_STRANGER")
    reply = run_form(c.registry, c.uow_factory, c.deps, stranger, "schedule.add", "", {"team": "sales"})
    assert reply.text.startswith("I don't know who you are yet, so I can't make you the owner")
    assert items(c) == []


def test_adding_a_conflicting_item_tells_both_owners_at_once_and_only_once(c):
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9), owner="kira")
    reply = submit(c, "ana")
    assert "It conflicts with 1 item" in text_of(reply.message) and "Winter launch" in text_of(reply.message)
    ana, kira, ben = c.person_id("ana"), c.person_id("kira"), c.person_id("ben")
    dms = queued(c, "schedule:conflict:")
    assert sorted(r.destination for r in dms) == sorted([f"dm:{ana}", f"dm:{kira}"])
    warning = Message.from_json(dms[0].payload)
    assert "Black Friday 20% off" in warning.text and "Winter launch" in warning.text
    assert mention(ana) in warning.text and mention(kira) in warning.text
    # A second promotion on the same launch is a new pair: new warnings; the first pair is not repeated.
    submit(c, "ben", title="Cyber Monday")
    assert sorted(r.destination for r in queued(c, "schedule:conflict:")[2:]) == sorted([f"dm:{ben}", f"dm:{kira}"])
    assert len(queued(c, "schedule:conflict:")) == 4


def test_an_item_that_conflicts_with_nothing_warns_nobody(c):
    add(c, "APAC webinar", "webinar", at(2026, 11, 25, 9), regions=["APAC"], owner="kira")
    reply = submit(c, "ana")
    assert "conflicts" not in text_of(reply.message)
    assert queued(c) == []


def test_a_conflict_already_in_the_past_is_not_warned_about(c):
    add(c, "Last week's launch", "campaign_launch", at(2026, 11, 18, 9))
    submit(c, "ana", start="2026-11-16", end="2026-11-20")
    assert len(items(c)) == 2 and queued(c, "schedule:conflict:") == []


# --- when the digest job posts ----------------------------------------------------------------


def test_each_team_gets_its_monday_post_at_nine_in_its_own_timezone_once(c):
    assert digest(c, at(2026, 11, 23, 8, 59)).done == 0  # 08:59 in London, 03:59 in New York
    result = digest(c, at(2026, 11, 23, 9, 0))  # 09:00 in London
    assert result.done == 1 and result.detail == "marketing 2026-W48"
    assert len(posts(c, "marketing")) == 1 and posts(c, "sales") == []
    assert digest(c, at(2026, 11, 23, 13, 59)).done == 0
    assert digest(c, at(2026, 11, 23, 14, 0)).detail == "sales 2026-W48"  # 09:00 in New York
    assert digest(c, at(2026, 11, 23, 16, 0)).done == 0, "once per team per week"
    assert {r.key for r in queued(c)} == {"schedule:digest:sales:2026-W48", "schedule:digest:marketing:2026-W48"}
    assert all(LATE not in posts(c, team)[0].text for team in ("sales", "marketing"))
    [empty] = posts(c, "marketing")
    assert EMPTY in text_of(empty) and EMPTY in empty.text


def test_a_missed_monday_is_posted_when_the_job_next_runs_that_week_marked_late(c):
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9))
    result = digest(c, at(2026, 11, 24, 10))  # the bot was down all Monday; back on Tuesday
    assert result.done == 2 and result.detail.count("late") == 2
    for team in ("sales", "marketing"):
        [post] = posts(c, team)
        assert LATE in post.text and "Winter launch" in text_of(post)
    assert digest(c, at(2026, 11, 30, 0, 1)).done == 0  # and never into the next week


def test_a_post_a_few_minutes_after_nine_is_not_late_and_a_week_missed_until_the_weekend_is_skipped(c):
    digest(c, at(2026, 11, 23, 9, 5))
    assert LATE not in posts(c, "marketing")[0].text
    other = FakeApp(at=at(2026, 11, 28, 10))
    add(other, "Winter launch", "campaign_launch", at(2026, 11, 25, 9))
    assert digest(other, at(2026, 11, 28, 10)).done == 0  # Saturday: that week is done
    assert queued(other) == []
