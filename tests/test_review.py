"""The joint review on a real database: the config, the repository queries the in-memory unit of
work imitates, *Add to review* on a real escalation, the agenda once per meeting (two replicas)
with items carried or shown done once. The commands' rules, the form, the reminder and the summary
are in tests/test_review_unit.py.

The demo config's review is on Thursdays at 11:00 New York, prepared in #company, the agenda two
hours before. The ``clock`` fixture is Monday 2026-11-23 15:00 UTC (10:00 in New York)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, load_config, parse_config
from bot.scheduler import run_job
from handlers.messages import mention
from handlers.commands import run_action, run_command, run_form
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.cooling_helpers import hot_lead, ingest, outbox, person_id, text_of
from tests.test_scoreboard import BASE, a_month, at_ny, move_to

NY = ZoneInfo("America/New_York")


@pytest.fixture
def c(make_container):
    return make_container()


def command(c, who: str, text: str):
    return run_command(c.registry, c.uow_factory, c.deps, Actor(person_id(c, who), "local"), text)


def items(c):
    with c.uow_factory() as uow:
        return list(uow.review.open_items()) + list(uow.review.done_since(datetime(2000, 1, 1, tzinfo=timezone.utc)))


# --- the config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "review, problem",
    [
        ("{channel: nowhere}", "review.channel: no channel 'nowhere' under channels"),
        ("{channel: sales, attendees: [ghost]}", "review.attendees.0: no person with key 'ghost'"),
        ("{channel: sales, time: '25:00'}", "review.time"),
        ("{channel: sales, timezone: Mars/Olympus}", "review.timezone"),
        ("{channel: sales, day: someday}", "review.day"),
        ("{day: thu}", "review.channel: Field required"),
    ],
)
def test_a_bad_review_config_is_refused_naming_the_key(review, problem):
    with pytest.raises(ConfigError) as e:
        parse_config(BASE + f"review: {review}\n", "acme.yaml")
    assert problem in str(e.value)


def test_the_demo_company_meets_on_thursdays():
    review = load_config(None).review
    assert review.day == "thu" and review.channel == "company" and "maya" in review.attendees


# --- action items --------------------------------------------------------------------------------
# The commands' rules (owners, due dates, bad input, who closes an item), the form, the reminder and
# the summary are in tests/test_review_unit.py, on the in-memory unit of work; here, storage and the
# button on a real escalation.


def test_the_review_repository_orders_and_claims_action_items_as_the_fake_does(c):
    ana, kira = person_id(c, "ana"), person_id(c, "kira")
    now = c.deps.now()
    with c.uow_factory() as uow:

        def create(owner, text, due, created):
            return uow.review.create(
                owner_id=owner, text=text, due_on=due, created_by_id=None, created_at=created, meeting_on=due
            )

        late = create(ana, "late", date(2026, 12, 10), now)
        soon = create(kira, "soon", date(2026, 11, 26), now - timedelta(hours=1))
        create(ana, "tie", date(2026, 11, 26), now + timedelta(hours=1))
        done = create(kira, "done", date(2026, 11, 24), now)
        done.status, done.done_at = "done", now
        uow.review.add(done)
        uow.commit()
    with c.uow_factory() as uow:
        assert [i.text for i in uow.review.open_items()] == ["soon", "tie", "late"]  # by due date, then id
        assert [i.text for i in uow.review.open_items(limit=1)] == ["soon"]
        assert [i.text for i in uow.review.done_since(now)] == ["done"] and uow.review.done_since(
            now + timedelta(1)
        ) == []
        assert [i.text for i in uow.review.created_between(now, now + timedelta(hours=1))] == ["late", "done"]
        assert [i.text for i in uow.review.to_remind(due_by=date(2026, 11, 26))] == ["soon", "tie"]
        assert uow.review.mark_reminded(soon.id, now) is True
        assert uow.review.mark_reminded(soon.id, now) is False  # once
        uow.commit()
    with c.uow_factory() as uow:
        assert [i.text for i in uow.review.to_remind(due_by=date(2026, 12, 31))] == ["tie", "late"]
        assert uow.review.get_for_update(late.id).text == "late" and uow.review.get_for_update(99) is None


def test_add_to_review_on_an_escalation_opens_a_short_form_and_keeps_where_it_came_from(c):
    ingest(c, hot_lead("L-1", name="Jane Doe"))
    move_to(c, at_ny(2026, 11, 23, 13, 30))  # the hot lead is 2.5 business hours past due: Maya hears
    run_job(c, "cooling")
    [alert] = outbox(c, key="cooling:1:1:manager")
    button = next(
        b
        for blk in alert.payload["blocks"]
        if blk["type"] == "actions"
        for b in blk["buttons"]
        if b["label"] == "Add to review"
    )
    reply = run_action(
        c.registry,
        c.uow_factory,
        c.deps,
        Actor(person_id(c, "maya"), "local"),
        button["action"],
        button["value"],
        MessageRef(outbox_key=alert.key),
    )
    form = reply.form
    assert form is not None and form.state == alert.key
    assert "Jane Doe (Acme): SLA breached" in text_of({"text": "", "blocks": [b.model_dump() for b in form.blocks]})
    bad = run_form(
        c.registry,
        c.uow_factory,
        c.deps,
        Actor(person_id(c, "maya"), "local"),
        form.action,
        form.state,
        {"owner": "", "text": "x", "due": None, "about": button["value"]},
    )
    assert bad.errors and "owner" in bad.errors and items(c) == []
    ok = run_form(
        c.registry,
        c.uow_factory,
        c.deps,
        Actor(person_id(c, "maya"), "local"),
        form.action,
        form.state,
        {"owner": "ana", "text": "Call Jane today", "due": None, "about": button["value"]},
    )
    assert "Added #1 to the review for Ana Torres" in ok.text
    [item] = items(c)
    assert item.source_key == alert.key and item.source_text == "Jane Doe (Acme): SLA breached"


# --- the agenda ----------------------------------------------------------------------------------


def test_the_agenda_is_built_from_real_data_once_per_meeting_with_two_replicas(c, make_container):
    other = make_container()  # a second replica on the same database
    a_month(c)
    command(c, "maya", "action ana Call back the Acme leads")
    move_to(c, at_ny(2026, 11, 26, 8, 59))
    other.deps.clock.at = c.deps.now()
    assert run_job(c, "review_agenda").done == 0  # two hours before 11:00 is 09:00
    move_to(c, at_ny(2026, 11, 26, 9, 0))
    other.deps.clock.at = c.deps.now()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # both replicas' schedulers tick at once
        done = list(pool.map(lambda replica: run_job(replica, "review_agenda").done, [c, other]))
    assert sorted(done) == [0, 1]
    assert run_job(c, "review_agenda").done + run_job(other, "review_agenda").done == 0
    [agenda] = outbox(c, key="review:agenda:")
    assert agenda.key == "review:agenda:2026-11-26" and agenda.destination == "channel:company"
    text = text_of(agenda.payload)
    assert "*1. The scoreboard (November 2026)*" in text and "Within SLA: 60%" in text
    assert "*2. Why leads bounced, by campaign" in text and "Pricing ebook: No budget ×1" in text
    assert "*3. Wins by campaign" in text and "Winter webinar: $40,000 sourced (1 won)" in text
    assert "*4. Leads that breached the SLA since the last meeting (2)*" in text
    assert "*5. Schedule conflicts" not in text  # no schedule: the section is left out
    assert f"*#1* Call back the Acme leads — {mention(person_id(c, 'ana'))}, due Thu 26 Nov" in text
    assert "`/smarketing action list`" in text and "`/smarketing sla all`" in text


def test_an_item_not_done_is_carried_and_a_done_item_shows_once(c):
    command(c, "maya", "action ana Call back the Acme leads")
    command(c, "maya", "action kira Fix the form by 2026-12-10")
    move_to(c, at_ny(2026, 11, 26, 9, 0))
    run_job(c, "review_agenda")
    move_to(c, at_ny(2026, 11, 27, 10, 0))
    command(c, "kira", "action done 2")
    move_to(c, at_ny(2026, 12, 3, 9, 0))
    assert run_job(c, "review_agenda").done == 1
    second = text_of(outbox(c, key="review:agenda:2026-12-03")[0].payload)
    assert "Call back the Acme leads" in second and "_carried_" in second
    assert "✅ *#2* Fix the form" in second
    move_to(c, at_ny(2026, 12, 10, 9, 0))
    run_job(c, "review_agenda")
    third = text_of(outbox(c, key="review:agenda:2026-12-10")[0].payload)
    assert "Fix the form" not in third and "Call back the Acme leads" in third


def test_without_a_review_in_the_config_the_commands_say_so(make_container):
    cfg = load_config(None)
    cfg.review = None
    c = make_container(config=cfg)
    assert "No joint review is set up" in command(c, "maya", "action ana Do it").text
    assert run_job(c, "review_agenda").done == 0


@pytest.mark.full  # the whole demo company through a simulated week
def test_the_demo_company_has_open_items_and_moving_time_shows_the_review_cycle(make_container):
    from bot.local import clock, demo_data
    from tests.test_local_demo import posts

    c = make_container(local_workspace=True)  # Monday 23 Nov, 10:00 in New York
    demo_data.load(c)
    c.dispatcher.drain()
    assert len(items(c)) == 3
    clock.advance(c, at_ny(2026, 11, 26, 12, 30) - c.deps.now())  # past Thursday's review
    c.dispatcher.drain()
    keys = [k for d, k, _ in posts(c, "channel:company")]
    assert "review:agenda:2026-11-26" in keys and "review:summary:2026-11-26" in keys
    agenda = next(t for d, k, t in posts(c, "channel:company") if k == "review:agenda:2026-11-26")
    assert "3 open actions" in agenda
    clock.advance(c, at_ny(2026, 12, 1, 12, 0) - c.deps.now())  # the business day before Jonas's item is due
    c.dispatcher.drain()
    assert any(k.startswith("review:remind:") for _, k, _ in posts(c, f"dm:{person_id(c, 'jonas')}"))
