"""Weekly schedules, through the handlers on a real database with a controlled clock: the Monday
post's layout in each team's timezone, clock changes, long weeks, exactly once through restarts and
replicas, an added item stored and its conflicts told, CRM events, and the repository query the
in-memory unit of work imitates. The command's and the form's rules, and when the digest posts, are
in tests/test_schedule_unit.py."""

from __future__ import annotations

import re

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import select

from bot.scheduler import run_job
from bot.slack.blocks import render_message, render_text
from handlers.commands import run_command, run_form
from handlers.events import validate_events
from handlers.ingest import ingest_events
from handlers.messages import MENTION_OPEN, Header, Message, Section, mention
from handlers.ports import Actor
from storage.models import Outbox, ScheduleItem
from tests.slack_mock import message_problem

UTC = timezone.utc
EMPTY = "Nothing scheduled — add with `/smarketing schedule add`"
LATE = "(posted late — the bot was offline at 09:00)"


def at(y, m, d, h=0, mi=0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


@pytest.fixture
def c(make_container):
    return make_container()


def pid(c, key: str) -> int:
    with c.uow_factory() as uow:
        return uow.people.by_key(key).id


def add(
    c,
    title,
    kind,
    start,
    end=None,
    *,
    team="marketing",
    regions=("EMEA",),
    owner="kira",
    all_day=False,
    external_id=None,
) -> int:
    with c.uow_factory() as uow:
        row = uow.schedule.add(
            ScheduleItem(
                team=team,
                kind=kind,
                title=title,
                regions=list(regions),
                starts_at=start,
                ends_at=end or start + (timedelta(days=1) if all_day else timedelta(hours=1)),
                all_day=all_day,
                owner_id=pid(c, owner) if owner else None,
                external_id=external_id,
                created_at=start,
            )
        )
        uow.commit()
        return row.id


def digest(c, clock, when: datetime):
    clock.at = when
    return run_job(c, "digest")


def outbox(c, prefix: str = "") -> list[Outbox]:
    with c.uow_factory() as uow:
        rows = uow.session.exec(select(Outbox).where(Outbox.key.startswith(prefix)).order_by(Outbox.id)).all()
    return list(rows)


def posts(c, team: str) -> list[Message]:
    return [Message.from_json(r.payload) for r in outbox(c, "schedule:digest:") if r.destination == f"channel:{team}"]


def text_of(msg: Message) -> str:
    return "\n".join(getattr(b, "text", "") for b in msg.blocks)


def actor(c, key: str) -> Actor:
    return Actor(pid(c, key), "local")


# --- the Monday post, in each team's timezone ----------------------------------------------------


def test_the_post_lists_both_teams_week_by_day_in_the_teams_timezone(c, clock):
    add(c, "Winter launch webinar", "webinar", at(2026, 11, 25, 15), at(2026, 11, 25, 16))
    add(
        c,
        "Chicago call blitz",
        "call_blitz",
        at(2026, 11, 24, 14),
        at(2026, 11, 24, 18),
        team="sales",
        regions=["US"],
        owner="ana",
    )
    add(c, "Late-night demo", "other", at(2026, 11, 27, 2), team="sales", regions=["US"], owner="ben")  # Thu 21:00 NY
    digest(c, clock, at(2026, 11, 27, 9))
    sales, marketing = posts(c, "sales")[0], posts(c, "marketing")[0]
    assert isinstance(sales.blocks[0], Header) and sales.blocks[0].text == "Week of 23 Nov 2026"
    s, m = text_of(sales), text_of(marketing)
    for text in (s, m):
        assert "Winter launch webinar" in text and "Chicago call blitz" in text
        # No conflict: the owners are named, nobody is pinged, and each item is listed once.
        assert "Ana Torres" in text and "Kira Novak" in text and MENTION_OPEN not in text
        assert text.count("Chicago call blitz") == 1 and text.count("Winter launch webinar") == 1
    assert "*Thursday 26 Nov*\n• 21:00" in s  # the demo, on Thursday evening in New York
    assert "*Friday 27 Nov*\n• 02:00" in m  # and early on Friday in London
    assert "*Wednesday 25 Nov*\n• 10:00–11:00" in s and "*Wednesday 25 Nov*\n• 15:00–16:00" in m
    assert "touches you" not in s and "touches you" not in m  # the Monday post says each item once


def test_spring_forward_weeks_post_at_nine_local_on_both_sides_of_the_change(c, clock):
    # New York moved to summer time on Sunday 8 March; London only on Sunday 29 March.
    assert digest(c, clock, at(2026, 3, 9, 9)).detail == "marketing 2026-W11"  # 09:00 GMT
    assert digest(c, clock, at(2026, 3, 9, 12, 59)).done == 0  # 08:59 EDT
    assert digest(c, clock, at(2026, 3, 9, 13)).detail == "sales 2026-W11"  # 09:00 EDT
    assert digest(c, clock, at(2026, 3, 30, 7, 59)).done == 0  # 08:59 BST (weeks 12-13 were missed, and are over)
    assert digest(c, clock, at(2026, 3, 30, 8)).detail == "marketing 2026-W14"  # 09:00 BST


def test_the_week_of_the_spring_change_is_one_hour_shorter_and_keeps_its_sunday_night(c, clock):
    add(c, "Sunday late call", "other", at(2026, 3, 29, 22, 30), at(2026, 3, 29, 22, 50))  # 23:30 BST, Sunday
    add(c, "Monday early call", "other", at(2026, 3, 29, 23, 30), at(2026, 3, 29, 23, 50))  # 00:30 BST, Monday
    digest(c, clock, at(2026, 3, 23, 9))
    digest(c, clock, at(2026, 3, 30, 8))
    week13, week14 = (text_of(m) for m in posts(c, "marketing"))
    assert "*Sunday 29 Mar*\n• 23:30–23:50" in week13 and "Monday early call" not in week13
    assert "*Monday 30 Mar*\n• 00:30–00:50" in week14 and "Sunday late call" not in week14


def test_fall_back_weeks_post_at_nine_local_on_both_sides_of_the_change(c, clock):
    # London returned to GMT on Sunday 25 October, New York to EST on Sunday 1 November.
    assert digest(c, clock, at(2026, 10, 26, 9)).detail == "marketing 2026-W44"  # 09:00 GMT
    assert digest(c, clock, at(2026, 10, 26, 13)).detail == "sales 2026-W44"  # 09:00 EDT
    assert digest(c, clock, at(2026, 11, 2, 9)).detail == "marketing 2026-W45"
    assert digest(c, clock, at(2026, 11, 2, 13)).done == 0  # 08:00 EST
    assert digest(c, clock, at(2026, 11, 2, 14)).detail == "sales 2026-W45"  # 09:00 EST


def test_the_week_of_the_fall_change_keeps_its_extra_hour_on_sunday(c, clock):
    add(
        c,
        "Sunday night call",
        "other",
        at(2026, 11, 2, 4, 30),
        at(2026, 11, 2, 4, 50),
        team="sales",
        regions=["US"],
        owner="ana",
    )  # 23:30 EST on Sunday
    digest(c, clock, at(2026, 10, 26, 13))
    assert "*Sunday 1 Nov*\n• 23:30–23:50" in text_of(posts(c, "sales")[0])
    digest(c, clock, at(2026, 11, 2, 9))  # 04:30 UTC Monday: London's next week
    assert "*Monday 2 Nov*\n• 04:30–04:50" in text_of(posts(c, "marketing")[-1])


def test_each_week_is_posted_once_per_team_through_restarts_and_replicas(c, clock, make_container):
    clock.at = at(2026, 11, 23, 15)
    assert run_job(c, "digest").done == 2
    assert run_job(c, "digest").done == 0
    restarted = make_container()
    assert run_job(restarted, "digest").done == 0
    assert len(outbox(c, "schedule:digest:")) == 2
    assert {r.key for r in outbox(c, "schedule:digest:")} == {
        "schedule:digest:sales:2026-W48",
        "schedule:digest:marketing:2026-W48",
    }


def test_replicas_running_the_job_at_the_same_moment_post_once(c, clock, make_container):
    for n in range(150):
        add(c, f"Item {n}", "other", at(2026, 11, 24, 9) + timedelta(minutes=n))
    replicas = [c] + [make_container() for _ in range(3)]
    clock.at = at(2026, 11, 23, 15)
    barrier = threading.Barrier(len(replicas))
    done: list[int] = []

    def replica(container):
        barrier.wait()
        done.append(run_job(container, "digest").done)

    threads = [threading.Thread(target=replica, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(done) == 2
    for team in ("sales", "marketing"):
        first, *rest = posts(c, team)
        pages = int(first.blocks[0].text.rsplit("/", 1)[1].rstrip(")"))  # "Week of … (1/N)"
        assert pages >= 2 and len(rest) == pages - 1  # one copy of each page


# --- conflicts in the post -------------------------------------------------------------------------


def test_the_post_names_both_items_and_both_owners_of_each_conflict(c, clock):
    ana, ben, kira, leo, jonas = (pid(c, k) for k in ("ana", "ben", "kira", "leo", "jonas"))
    add(
        c,
        "Black Friday 20% off",
        "promotion",
        at(2026, 11, 24),
        at(2026, 11, 28),
        team="sales",
        owner="ana",
        all_day=True,
    )
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9), regions=["emea"], owner="kira")
    add(
        c,
        "LATAM push",
        "territory_focus",
        at(2026, 11, 23),
        at(2026, 11, 28),
        team="sales",
        regions=["LATAM"],
        owner="ben",
        all_day=True,
    )
    add(
        c, "Trade fair Munich", "event", at(2026, 11, 26), team="marketing", regions=["DACH"], owner="leo", all_day=True
    )
    add(c, "Customer dinner Munich", "event", at(2026, 11, 26, 18), team="sales", regions=["DACH"], owner="ana")
    digest(c, clock, at(2026, 11, 23, 15))
    for team in ("sales", "marketing"):
        text = text_of(posts(c, team)[0])
        assert ":warning: Conflicts (3)" in text
        lines = {line for line in text.splitlines() if line.startswith("• :warning:")}
        promo = next(x for x in lines if "Black Friday" in x)
        assert "Winter launch" in promo and f"{mention(ana)}" in promo and f"{mention(kira)}" in promo
        gap = next(x for x in lines if "LATAM push" in x)
        assert (
            "where marketing has nothing this week" in gap and f"{mention(ben)}" in gap and f"{mention(jonas)}" in gap
        )
        events = next(x for x in lines if "Two events on Thu 26 Nov in DACH" in x)
        assert "Trade fair Munich" in events and "Customer dinner Munich" in events
        assert f"{mention(leo)}" in events and f"{mention(ana)}" in events
        # Each conflict marked once; only the conflicts' owners (and who is asked to fill the gap) pinged.
        assert len([line for line in text.splitlines() if ":warning:" in line and line.startswith("•")]) == 3
        assert set(re.findall(r"person:(\d+)", text)) == {str(p) for p in (ana, ben, kira, leo, jonas)}


def test_what_the_other_team_is_doing_that_touches_you_is_noted_on_its_one_line(c, clock):
    add(c, "EMEA webinar", "webinar", at(2026, 11, 25, 15), regions=["EMEA"])
    add(c, "EMEA call blitz", "call_blitz", at(2026, 11, 24, 9), team="sales", regions=["emea"], owner="ana")
    add(c, "APAC accounts", "account_focus", at(2026, 11, 24, 9), team="sales", regions=["APAC"], owner="ben")
    digest(c, clock, at(2026, 11, 23, 15))
    text = text_of(posts(c, "marketing")[0])
    [blitz] = [line for line in text.splitlines() if "EMEA call blitz" in line]  # listed once
    assert "↔ your *EMEA webinar* in emea" in blitz and "Ana Torres" in blitz
    [apac] = [line for line in text.splitlines() if "APAC accounts" in line]
    assert "↔" not in apac
    assert "touches you" not in text


# --- long weeks -------------------------------------------------------------------------------------


def _resolver(person_id: int):
    return ("Bartholomew-Alexandra Featherstonehaugh-Smythe", f"U{person_id:010d}")


def long_week(c, n: int = 200) -> list[str]:
    kinds = [
        "campaign_launch",
        "webinar",
        "event",
        "promotion",
        "territory_focus",
        "account_focus",
        "call_blitz",
        "other",
    ]
    owners = ["ana", "ben", "kira", "leo", "maya", "jonas"]
    titles = []
    with c.uow_factory() as uow:
        people = {k: uow.people.by_key(k).id for k in owners}
        for n_ in range(n):
            title = f"Item {n_:03d} — Q4 & <partners> push with a reasonably long descriptive name"
            titles.append(f"Item {n_:03d} ")
            team = "sales" if n_ % 2 else "marketing"
            start = at(2026, 11, 23, 6) + timedelta(hours=(n_ * 5) % 160)
            uow.schedule.add(
                ScheduleItem(
                    team=team,
                    kind=kinds[n_ % 8],
                    title=title,
                    regions=[["EMEA", "UK"], ["US"], ["APAC"], ["LATAM"]][n_ % 4],
                    starts_at=start,
                    ends_at=start + timedelta(hours=2),
                    owner_id=people[owners[n_ % 6]],
                    link=f"https://example.com/plans/{n_}?a=1&b=2",
                    created_at=start,
                )
            )
        uow.commit()
    return titles


def test_two_hundred_items_are_paged_within_block_kit_limits_and_none_is_lost(c, clock):
    titles = long_week(c, 200)
    digest(c, clock, at(2026, 11, 23, 15))
    rows = [r for r in outbox(c, "schedule:digest:marketing:")]
    assert len(rows) > 1
    assert [r.key for r in rows] == ["schedule:digest:marketing:2026-W48"] + [
        f"schedule:digest:marketing:2026-W48:p{n}" for n in range(2, len(rows) + 1)
    ]
    by_day = ""
    for n, row in enumerate(rows, 1):
        msg = Message.from_json(row.payload)
        assert len(msg.blocks) <= 50
        assert msg.blocks[0].text.endswith(f"({n}/{len(rows)})")
        rendered = render_message(msg, _resolver)
        assert message_problem(rendered) is None  # the Slack stand-in's own limit checks
        sections = [render_text(b.text, _resolver) for b in msg.blocks if isinstance(b, Section)]
        assert all(len(text) <= 3000 for text in sections)  # fits: nothing was cut
        assert sum(map(len, sections)) <= 10_000  # Slack's msg_blocks_too_long starts at about 12k
        by_day += "\n".join(
            b.text
            for b in msg.blocks
            if isinstance(b, Section) and "• :warning:" not in b.text and "touches you" not in b.text
        )
    for title in titles:
        assert by_day.count(title) == 1


def test_the_on_demand_view_of_a_long_week_shows_the_first_page_and_how_many_more(c, clock):
    long_week(c, 200)
    reply = run_command(c.registry, c.uow_factory, c.deps, actor(c, "kira"), "schedule")
    assert len(reply.message.blocks) <= 50
    note = reply.message.blocks[-1].text
    assert note.startswith("…and ") and note.endswith("more items — see the Monday post in your team's channel")
    shown = sum(
        b.text.count("\n• ")
        for b in reply.message.blocks
        if isinstance(b, Section) and b.text.startswith("*") and "day " in b.text.split("\n")[0]
    )
    assert int(note.split()[1]) == 200 - shown
    assert message_problem(render_message(reply.message, _resolver)) is None


# --- on demand ---------------------------------------------------------------------------------------
# The command's rules (this and next week, to the person asking, in their timezone; the add form and
# its errors; when the digest posts) are in tests/test_schedule_unit.py, on the in-memory unit of work.


def test_help_lists_the_schedule_commands(c):
    reply = run_command(c.registry, c.uow_factory, c.deps, actor(c, "ana"), "help")
    for usage in ("`/smarketing schedule`", "`/smarketing schedule next`", "`/smarketing schedule add`"):
        assert usage in reply.message.text


# --- the add form --------------------------------------------------------------------------------------


def submit(c, key, **values):
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
    return run_form(c.registry, c.uow_factory, c.deps, actor(c, key), "schedule.add", "", base)


def test_a_submitted_item_is_stored_for_its_dates_and_confirmed(c):
    reply = submit(c, "ana")
    assert "Added *Black Friday 20% off*" in reply.message.text and "Tue 24 Nov → Fri 27 Nov" in reply.message.text
    with c.uow_factory() as uow:
        [row] = uow.session.exec(select(ScheduleItem)).all()
    assert (row.team, row.kind, row.regions, row.all_day) == ("sales", "promotion", ["EMEA", "uk"], True)
    assert (row.starts_at, row.ends_at) == (at(2026, 11, 24), at(2026, 11, 28))
    assert row.owner_id == pid(c, "ana") and row.source == "command"


def test_adding_a_conflicting_item_tells_both_owners_at_once_and_only_once(c):
    add(c, "Winter launch", "campaign_launch", at(2026, 11, 25, 9), owner="kira")
    reply = submit(c, "ana")
    assert "It conflicts with 1 item" in text_of(reply.message) and "Winter launch" in text_of(reply.message)
    dms = outbox(c, "schedule:conflict:")
    assert sorted(r.destination for r in dms) == sorted([f"dm:{pid(c, 'ana')}", f"dm:{pid(c, 'kira')}"])
    warning = Message.from_json(dms[0].payload)
    assert "Black Friday 20% off" in warning.text and "Winter launch" in warning.text
    assert f"{mention(pid(c, 'ana'))}" in warning.text and f"{mention(pid(c, 'kira'))}" in warning.text
    # A second promotion on the same launch is a new pair: new warnings; the first pair is not repeated.
    submit(c, "ben", title="Cyber Monday")
    assert len(outbox(c, "schedule:conflict:")) == 4


# --- storage: the query tests/fake_uow.py stands in for -------------------------------------------


def test_the_schedule_repository_finds_items_overlapping_a_window_by_start(c):
    early = add(c, "Early", "webinar", at(2026, 11, 24, 9), at(2026, 11, 24, 10))
    instant = add(c, "Instant", "other", at(2026, 11, 23, 9), at(2026, 11, 23, 9), team="sales", owner="ana")
    ends_at_start = add(c, "Ends at start", "event", at(2026, 11, 22), at(2026, 11, 23, 9), all_day=True)
    add(c, "Starts at end", "webinar", at(2026, 11, 25), at(2026, 11, 25, 1))
    add(c, "Before", "webinar", at(2026, 11, 20), at(2026, 11, 21))
    with c.uow_factory() as uow:
        window = (at(2026, 11, 23, 9), at(2026, 11, 25))
        rows = uow.schedule.rows_overlapping(*window)
        assert [r.id for r in rows] == [ends_at_start, instant, early]  # ends at or after start; by start
        assert [r.id for r in uow.schedule.overlapping(*window, team="sales")] == [instant]
        assert [r.id for r in uow.schedule.overlapping(*window, source="command")] == [ends_at_start, instant, early]
        assert [r.id for r in uow.schedule.overlapping(*window, source="ical")] == []
        assert [p.name for p in uow.people.team("marketing")][:2] == ["Jonas Berg", "Kira Novak"]  # by name


# --- CRM events -------------------------------------------------------------------------------------


def schedule_event(n: int, **data) -> dict:
    base = dict(
        id=f"S{n}",
        team="marketing",
        kind="event",
        title=f"Event {n}",
        regions=["EMEA"],
        start="2026-11-26T10:00:00Z",
        end="2026-11-26T12:00:00Z",
        owner_email="kira@northwind.example",
    )
    base.update(data)
    return {
        "id": f"evt-{n}-{len(data)}-{sorted(data.items())!r}"[:200],
        "type": "schedule.upserted",
        "occurred_at": "2026-11-23T15:00:00Z",
        "data": base,
    }


def ingest(c, raw: list[dict]):
    events, problems = validate_events(raw)
    assert problems == []
    return ingest_events(c.registry, c.uow_factory, c.deps, events)


def items(c) -> list[ScheduleItem]:
    with c.uow_factory() as uow:
        return list(uow.session.exec(select(ScheduleItem).order_by(ScheduleItem.id)).all())


def test_schedule_events_are_upserted_by_their_crm_id(c):
    ingest(c, [schedule_event(1), schedule_event(2, title="Roadshow"), schedule_event(2, title="Roadshow Berlin")])
    assert [(i.external_id, i.title, i.source) for i in items(c)] == [
        ("crm:S1", "Event 1", "webhook"),
        ("crm:S2", "Roadshow Berlin", "webhook"),
    ]
    ingest(c, [schedule_event(1, title="Event 1 (moved)", start="2026-11-27T10:00:00Z", end="2026-11-27T11:00:00Z")])
    first = items(c)[0]
    assert (first.title, first.starts_at, first.owner_id) == ("Event 1 (moved)", at(2026, 11, 27, 10), pid(c, "kira"))
    assert len(items(c)) == 2


def test_a_batch_of_schedule_events_takes_the_same_few_queries_however_large(c, engine):
    def statements(n: int, offset: int) -> int:
        count = 0

        def seen(*_):
            nonlocal count
            count += 1

        raw = [schedule_event(offset + i, regions=[f"R{offset + i}"]) for i in range(n)]
        events, _ = validate_events(raw)
        sa.event.listen(c.engine, "before_cursor_execute", seen)
        try:
            ingest_events(c.registry, c.uow_factory, c.deps, events)
        finally:
            sa.event.remove(c.engine, "before_cursor_execute", seen)
        return count

    assert statements(5, 0) == statements(400, 1000)


def test_an_event_that_collides_with_another_warns_both_owners_once(c):
    ingest(c, [schedule_event(1)])
    ingest(
        c,
        [
            schedule_event(
                2,
                team="sales",
                title="Customer dinner",
                owner_email="ANA@northwind.example",
                start="2026-11-26T18:00:00Z",
                end="2026-11-26T21:00:00Z",
            )
        ],
    )
    dms = outbox(c, "schedule:conflict:")
    assert sorted(r.destination for r in dms) == sorted([f"dm:{pid(c, 'ana')}", f"dm:{pid(c, 'kira')}"])
    assert "Two events on Thu 26 Nov in EMEA" in Message.from_json(dms[0].payload).text
    # The CRM sends the same item again (a new event id): nothing changed, nobody is told again.
    ingest(
        c,
        [
            dict(
                schedule_event(
                    2,
                    team="sales",
                    title="Customer dinner",
                    owner_email="ana@northwind.example",
                    start="2026-11-26T18:00:00Z",
                    end="2026-11-26T21:00:00Z",
                ),
                id="evt-again",
            )
        ],
    )
    assert len(outbox(c, "schedule:conflict:")) == 2
