"""The joint review's action items on the in-memory unit of work (tests/fake_uow.py):
``/smarketing action <person> <text> [by <date>]``, ``action list``, ``action done <n>``, the *Add
to review* button and its form, and the owner's reminder and the summary after the meeting. No
database: tests/test_review.py keeps the config, the agenda built from real data (scoreboard, bounces,
wins) and the repository queries the fake imitates.

The demo config's review is on Thursdays at 11:00 New York, for an hour. The clock is Monday
2026-11-23 15:00 UTC (10:00 in New York); Thursday 26 Nov is Thanksgiving, a US holiday."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from handlers.commands import run_command
from handlers.config import load_config
from handlers.messages import mention
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.cooling_helpers import at_ny, text_of
from tests.fake_uow import FakeApp

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)


@pytest.fixture
def c() -> FakeApp:
    return FakeApp(at=NOW)


def say(c: FakeApp, who: str, text: str) -> str:
    reply = c.command(who, text)
    return reply.text if reply.text is not None else text_of(reply.message.to_json())


def items(c: FakeApp):
    with c.uow_factory() as uow:
        return uow.review.open_items() + uow.review.done_since(datetime(2000, 1, 1, tzinfo=timezone.utc))


def queued(c: FakeApp, prefix: str = ""):
    with c.uow_factory() as uow:
        return [r for r in uow.outbox.rows() if r.key.startswith(prefix)]


def run(c: FakeApp, job: str, when: datetime):
    c.deps.clock.at = when
    return c.registry.jobs[job](c.uow_factory, c.deps)


# --- action items -------------------------------------------------------------------------------


def test_an_action_is_owned_dated_and_due_at_the_next_meeting_by_default(c):
    assert say(c, "maya", "action ana Call back the Acme leads") == (
        "Added #1 for Ana Torres, due Thu 26 Nov: Call back the Acme leads"
    )
    [item] = items(c)
    assert (item.owner_id, item.created_by_id, item.status) == (c.person_id("ana"), c.person_id("maya"), "open")
    assert (item.text, item.due_on, item.meeting_on, item.created_at) == (
        "Call back the Acme leads",
        date(2026, 11, 26),
        date(2026, 11, 26),
        NOW,
    )
    assert (item.source_key, item.source_text, item.reminded_at, item.done_at) == (None, None, None, None)


@pytest.mark.parametrize(
    "text, owner, due",
    [
        ("action kira@northwind.example Fix the webinar form by 2026-12-04", "kira", date(2026, 12, 4)),
        ("action KIRA@northwind.example Fix the webinar form by 4 Dec", "kira", date(2026, 12, 4)),
        ("action @ben Share the deck by fri", "ben", date(2026, 11, 27)),
        ("action ben Share the deck by Friday.", "ben", date(2026, 11, 27)),
        ("action ben Share the deck by mon", "ben", date(2026, 11, 30)),  # the next Monday, not today
        ("action ben Share the deck by today", "ben", date(2026, 11, 23)),
        ("action ben Share the deck BY tomorrow", "ben", date(2026, 11, 24)),
        ("action ben Share the deck by Dec 10, 2026", "ben", date(2026, 12, 10)),
    ],
)
def test_the_owner_is_named_by_key_email_or_mention_and_the_due_date_in_many_ways(c, text, owner, due):
    assert say(c, "maya", text).startswith("Added #1 for ")
    [item] = items(c)
    assert (item.owner_id, item.due_on, item.text) == (
        c.person_id(owner),
        due,
        "Share the deck" if owner == "ben" else "Fix the webinar form",
    )


def test_a_mention_names_the_person_it_resolves_to(c):
    with c.uow_factory() as uow:
        uow.people.get(c.person_id("ben")).slack_user_id = "U0BEN"
        uow.commit()
    say(c, "maya", "action <@U0BEN|ben> Share the deck")
    say(c, "maya", f"action <person:{c.person_id('kira')}> Fix the form")
    assert [i.owner_id for i in items(c)] == [c.person_id("ben"), c.person_id("kira")]


@pytest.mark.parametrize(
    "text, answer",
    [
        (
            "action ghost Do it",
            "`ghost` is not a person I know: use their key (like `ana`), their email or an @mention.",
        ),
        ("action <@U0NOBODY> Do it", "`<@U0NOBODY>` is not a person I know"),
        ("action ana", "Say what is to be done: `/smarketing action ana Call back the Acme leads`."),
        ("action ana by fri", "Say what is to be done"),
        (
            "action ana Do it by someday",
            "I can't read `someday` as a date: use `2026-12-10`, `10 Dec`, `fri` or `tomorrow`.",
        ),
        ("action ana Do it by 2026-11-01", "1 Nov 2026 is in the past: give a date from today on."),
        ("action ana Do it by 2026-02-30", "I can't read `2026-02-30` as a date"),
        ("action ana Do it by 31 Nov", "I can't read `31 Nov` as a date"),
        ("action ana " + "x" * 1001, "That is 1001 characters; keep an action under 1000."),
    ],
)
def test_bad_actions_get_a_specific_answer_and_store_nothing(c, text, answer):
    assert say(c, "maya", text).startswith(answer)
    assert items(c) == []


def test_the_list_shows_open_items_soonest_due_first_with_their_owners(c):
    assert "No open action items." in say(c, "ben", "action list")
    say(c, "maya", "action kira Fix the form by 2026-12-10")
    say(c, "maya", "action ana Call back the Acme leads")
    say(c, "maya", "action ben Share the deck by tomorrow")
    say(c, "ana", "action done 2")
    listed = c.command("ben", "action list").message
    assert listed.text == "Open action items: 2"
    lines = [x for x in text_of(listed.to_json()).splitlines() if x.startswith("• *#")]
    assert lines == [
        f"• *#3* Share the deck — {mention(c.person_id('ben'))}, due Tue 24 Nov",
        f"• *#1* Fix the form — {mention(c.person_id('kira'))}, due Thu 10 Dec",
    ]
    assert say(c, "ben", "action") == say(c, "ben", "action list")


def test_only_the_owner_their_manager_or_an_admin_closes_an_item(c):
    say(c, "sam", "action ana Call back the Acme leads")
    assert say(c, "ben", "action done 1") == "Only Ana Torres (its owner), their manager or an admin can close #1."
    assert say(c, "kira", "action done #1").startswith("Only Ana Torres (its owner)")
    assert items(c)[0].status == "open"
    assert say(c, "maya", "action done 1") == "Done: #1 Call back the Acme leads. It shows in the next agenda."
    [item] = items(c)
    assert (item.status, item.done_at, item.done_by_id) == ("done", NOW, c.person_id("maya"))
    assert say(c, "ana", "action done 1") == "#1 is already done."
    assert items(c)[0].done_by_id == c.person_id("maya")


@pytest.mark.parametrize(
    "text, answer",
    [
        ("action done 9", "There is no action item #9."),
        ("action done", "Which item? `/smarketing action done 12` (numbers are in `/smarketing action list`)."),
        ("action done first", "Which item? `/smarketing action done 12` (numbers are in `/smarketing action list`)."),
    ],
)
def test_closing_an_item_that_is_not_there_says_so(c, text, answer):
    say(c, "maya", "action ana Call back the Acme leads")
    assert say(c, "ana", text) == answer
    assert items(c)[0].status == "open"


def test_someone_the_bot_does_not_know_can_list_but_not_add_or_close(c):
    say(c, "maya", "action ana Call back the Acme leads")
    stranger = Actor(None, "slack", "U_STRANGER")
    for text in ("action ana Do it", "action done 1"):
        reply = run_command(c.registry, c.uow_factory, c.deps, stranger, text)
        assert reply.text.startswith("I don't know who you are yet")
    listed = run_command(c.registry, c.uow_factory, c.deps, stranger, "action list")
    assert listed.message.text == "Open action items: 1"
    assert [i.status for i in items(c)] == ["open"]


def test_without_a_review_in_the_config_the_commands_and_the_button_say_so():
    config = load_config(None)
    config.review = None
    c = FakeApp(config=config, at=NOW)
    for text in ("action ana Do it", "action list"):
        assert say(c, "maya", text).startswith("No joint review is set up")
    assert c.action("maya", "review.add", "Jane Doe").text.startswith("No joint review is set up")
    assert items(c) == []
    assert run(c, "review_reminders", NOW).done == 0 and run(c, "review_summary", NOW).done == 0


# --- Add to review -----------------------------------------------------------------------------


def test_add_to_review_opens_a_short_form_and_its_item_keeps_where_it_came_from(c):
    source = MessageRef(outbox_key="cooling:1:1:manager")
    form = c.action("maya", "review.add", "Jane Doe (Acme): SLA breached", source).form
    assert form.action == "review.add" and form.state == "cooling:1:1:manager"
    assert form.blocks[0].text == "*About:* Jane Doe (Acme): SLA breached"
    owner, text, due, about = form.inputs
    assert [o.value for o in owner.options][:3] == ["ana", "ben", "chloe"]  # by name
    assert len(owner.options) == 20
    assert (text.initial, due.initial, about.initial) == (
        "Follow up: Jane Doe (Acme): SLA breached",
        "2026-11-26",
        "Jane Doe (Acme): SLA breached",
    )
    bad = c.form("maya", "review.add", {"owner": "", "text": "x", "due": None, "about": about.initial}, form.state)
    assert list(bad.errors) == ["owner"] and items(c) == []
    bad = c.form("maya", "review.add", {"owner": "ana", "text": "x", "due": "someday", "about": None}, form.state)
    assert list(bad.errors) == ["due"] and items(c) == []
    ok = c.form(
        "maya",
        "review.add",
        {"owner": "ana", "text": "Call Jane today", "due": None, "about": about.initial},
        form.state,
    )
    assert ok.text == "Added #1 to the review for Ana Torres, due Thu 26 Nov."
    [item] = items(c)
    assert (item.owner_id, item.text, item.source_key, item.source_text) == (
        c.person_id("ana"),
        "Call Jane today",
        "cooling:1:1:manager",
        "Jane Doe (Acme): SLA breached",
    )


def test_the_form_from_a_message_the_bot_did_not_post_keeps_no_source(c):
    form = c.action("kira", "review.add", "", None).form
    assert form.state == "" and form.blocks == [] and form.inputs[1].initial is None
    c.form("kira", "review.add", {"owner": "leo", "text": "Plan Q1", "due": "2026-12-17", "about": ""}, form.state)
    [item] = items(c)
    assert (item.source_key, item.source_text, item.due_on) == (None, None, date(2026, 12, 17))


def test_the_button_is_added_to_a_copy_and_the_message_it_was_given_is_left_as_it_was(c):
    from handlers.messages import Actions, Button, Message, Section
    from handlers.review_messages import reviewable

    full = Actions(buttons=[Button(label=f"B{i}", action="x") for i in range(5)])
    two = Actions(buttons=[Button(label="Claim", action="x"), Button(label="Snooze", action="y")])
    given = Message(text="Jane Doe", blocks=[Section(text="Jane Doe"), full, two])
    before = given.to_json()
    shown = reviewable(c.deps.config, given, "Jane Doe: SLA breached")
    assert given.to_json() == before
    labels = [[b.label for b in block.buttons] for block in shown.blocks if isinstance(block, Actions)]
    assert labels == [[f"B{i}" for i in range(5)], ["Claim", "Snooze", "Add to review"]]  # the first row is full
    as_json = reviewable(c.deps.config, before, "Jane Doe: SLA breached")
    assert as_json == shown.to_json() and given.to_json() == before
    alone = reviewable(c.deps.config, Message(text="Hi", blocks=[Section(text="Hi")]), "Hi")
    assert [type(b).__name__ for b in alone.blocks] == ["Section", "Actions"]
    assert alone.blocks[1].buttons[0].value == "Hi"


# --- the reminder and the summary ---------------------------------------------------------------


def test_the_owner_is_reminded_once_at_the_start_of_the_business_day_before_it_is_due(c):
    say(c, "maya", "action ana Prepare the QBR by 2026-11-30")  # due Monday: reminded Friday 09:00 New York
    assert run(c, "review_reminders", at_ny(2026, 11, 27, 8, 59)).done == 0
    assert run(c, "review_reminders", at_ny(2026, 11, 27, 9, 0)).done == 1
    assert run(c, "review_reminders", at_ny(2026, 11, 27, 9, 5)).done == 0, "once"
    [row] = queued(c, "review:remind:")
    assert row.destination == f"dm:{c.person_id('ana')}"
    assert "Reminder: #1 Prepare the QBR is due Mon 30 Nov." in text_of(row.payload)
    assert items(c)[0].reminded_at == at_ny(2026, 11, 27, 9, 0)


def test_a_reminder_skips_the_holiday_and_a_done_item_is_not_reminded(c):
    say(c, "maya", "action ana Send the deck by 2026-11-27")  # due Friday; Thursday is Thanksgiving
    say(c, "maya", "action ben Book the room by 2026-11-27")
    say(c, "ben", "action done 2")
    assert run(c, "review_reminders", at_ny(2026, 11, 24, 17)).done == 0
    assert run(c, "review_reminders", at_ny(2026, 11, 25, 9)).done == 1  # Wednesday, the last business day
    [row] = queued(c)
    assert (row.key, row.destination) == ("review:remind:1", f"dm:{c.person_id('ana')}")


def test_after_the_meeting_a_summary_says_what_was_decided_and_who_owns_what(c):
    say(c, "maya", "action ana Old item")
    c.deps.clock.at = at_ny(2026, 11, 26, 11, 20)  # during the meeting
    say(c, "jonas", "action kira Two webinars for EMEA by 2026-12-10")
    assert run(c, "review_summary", at_ny(2026, 11, 26, 11, 59)).done == 0
    assert run(c, "review_summary", at_ny(2026, 11, 26, 12, 0)).done == 1
    assert run(c, "review_summary", at_ny(2026, 11, 26, 15, 0)).done == 0, "once"
    [summary] = queued(c)
    assert (summary.key, summary.destination) == ("review:summary:2026-11-26", "channel:company")
    text = text_of(summary.payload)
    decided = text.split("*Decided:*")[1].split("*Who owns what:*")[0]
    assert "Two webinars for EMEA" in decided and "Old item" not in decided
    assert f"{mention(c.person_id('ana'))}: #1" in text and f"{mention(c.person_id('kira'))}: #2" in text
    assert run(c, "review_summary", at_ny(2026, 11, 27, 12, 1)).done == 0, "a day after it ended: too late"


def test_an_item_due_today_is_overdue_only_once_the_reviews_day_is_over(c):
    say(c, "maya", "action ana Call back the Acme leads by 2026-11-23")  # due today, Monday in New York
    c.deps.clock.at = at_ny(2026, 11, 23, 20, 0)  # Monday evening in New York, already Tuesday in UTC
    assert "overdue" not in say(c, "ana", "action list")
    c.deps.clock.at = at_ny(2026, 11, 24, 0, 30)  # Tuesday in New York
    assert "due Mon 23 Nov · *overdue*" in say(c, "ana", "action list")


def test_an_action_cannot_go_to_someone_who_has_left_and_the_form_does_not_offer_them(c):
    with c.uow_factory() as uow:
        uow.people.get(c.person_id("ben")).active = False
        uow.commit()
    assert say(c, "maya", "action ben Share the deck") == (
        "Ben Okafor has left: give the action to someone who is still here."
    )
    assert items(c) == []
    form = c.action("maya", "review.add", "Jane Doe (Acme): SLA breached", None).form
    owners = [o.value for o in form.inputs[0].options]
    assert "ben" not in owners and len(owners) == 19
    left = c.form("maya", "review.add", {"owner": "ben", "text": "x", "due": None, "about": None}, form.state)
    assert list(left.errors) == ["owner"] and items(c) == []
