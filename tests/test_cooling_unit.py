"""Cooling leads' commands and buttons on the in-memory unit of work (tests/fake_uow.py):
``/smarketing touch``, ``leads`` and ``reassign``, and *Log follow-up*, *Snooze* and *Claim* on the
bot's messages: who may, what changes on the lead, what is stored and queued, and every refusal,
which changes nothing. No database: tests/test_cooling.py keeps the CRM events, the ladder run by the
scheduler, the clocks through holidays and clock changes, and the repository query the fake
imitates. Leads are handed off as the CRM's events do (``lifecycle.handed_off``) but written straight
to the fake. The clock is Monday 2026-11-23 15:00 UTC (10:00 in New York, where Ana, Ben and their
manager Maya work); a hot lead has 1 business hour; Thursday 26 Nov is Thanksgiving."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from handlers import lifecycle
from handlers.commands import run_action
from handlers.messages import Message, mention, moment_fallback
from handlers.ports import Actor
from handlers.registry import MessageRef
from handlers.sla import qualification, timezone_of
from tests.conftest import ladder_config
from tests.cooling_helpers import at_ny, buttons, text_of
from tests.fake_uow import FakeApp, FakeLead

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)


@pytest.fixture
def c() -> FakeApp:
    return FakeApp(config=ladder_config(), at=NOW)


def hand_off(
    c: FakeApp,
    crm_id: str = "L-1",
    *,
    owner: str | None = "ana",
    name: str = "Jane Doe",
    email: str | None = None,
    score: int = 95,
    at: datetime | None = None,
) -> int:
    """A lead qualified ``at`` (default: now) and handed to ``owner`` (None: the sales channel's
    Claim post), with its handoff message queued; its id."""
    at = at or c.deps.now()
    with c.uow_factory() as uow:
        person = uow.people.by_key(owner) if owner else None
        lead = FakeLead(
            crm_id=crm_id,
            email=email or f"{crm_id.lower()}@acme.example",
            name=name,
            company="Acme",
            score=score,
            owner_id=person.id if person else None,
            owner_email=person.email if person else None,
            created_at=at,
            version=1,
        )
        fields = qualification(lead.model_dump(), at=at, tz=timezone_of(person, c.deps.config), config=c.deps.config)
        for k, v in fields.items():
            setattr(lead, k, v)
        uow.leads.add(lead)
        lifecycle.handed_off(uow, c.deps, [lead.model_dump()], people={person.id: person} if person else {})
        uow.commit()
        return lead.id


def lead(c: FakeApp, lead_id: int = 1) -> FakeLead:
    with c.uow_factory() as uow:
        return uow.leads.get(lead_id)


def ref(c: FakeApp, lead_id: int = 1) -> str:
    """What a button on the lead's latest messages names: the lead and its state version."""
    return f"{lead_id}@{lead(c, lead_id).version}"


def queued(c: FakeApp, *, op: str | None = None):
    with c.uow_factory() as uow:
        return [r for r in uow.outbox.rows() if op is None or r.op == op]


def touches(c: FakeApp, lead_id: int = 1):
    with c.uow_factory() as uow:
        return uow.leads.touches(lead_id)


def say(c: FakeApp, who: str, text: str) -> str:
    reply = c.command(who, text)
    return moment_fallback(reply.text if reply.text is not None else text_of(reply.message.to_json()))


def unchanged(c: FakeApp, lead_id: int = 1) -> bool:
    """Nothing happened to the lead since its handoff: no follow-up, no snooze, one message."""
    got = lead(c, lead_id)
    return (
        (got.version, got.touch_count, got.snooze_count) == (1, 0, 0)
        and not touches(c, lead_id)
        and (len(queued(c)) == 1)
    )


# --- touch ------------------------------------------------------------------------------------


def test_touch_satisfies_the_first_touch_clock_and_the_cadence_runs_from_it(c):
    hand_off(c)
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 50)
    # 3 business days (24 business hours) later; Thursday 26 November is Thanksgiving.
    assert say(c, "ana", "touch L-1 left a voicemail") == (
        "Logged your follow-up on Jane Doe (Acme). Next follow-up due by Fri 27 Nov, 10:50 EST."
    )
    got = lead(c)
    assert (got.touch_count, got.last_touch_at, got.first_touch_at) == (1,) + (at_ny(2026, 11, 23, 10, 50),) * 2
    assert (got.sla_window, got.sla_clock, got.sla_due_at, got.version) == (
        2,
        "cadence",
        at_ny(2026, 11, 27, 10, 50),
        2,
    )
    [touch] = touches(c)
    assert (touch.source, touch.note, touch.person_id) == ("command", "left a voicemail", c.person_id("ana"))
    handoff, update = queued(c)
    assert (update.op, update.target_key, update.destination) == ("update", handoff.key, handoff.destination)
    assert f"✅ {mention(c.person_id('ana'))} followed up at 10:50" in text_of(update.payload)
    assert handoff.subject == "lead:1", "a follow-up settles alerts only: the handoff still follows the lead"


def test_touch_names_the_lead_by_crm_id_or_email_and_says_when_none_or_several_match(c):
    hand_off(c, "L-1", email="jane@acme.example")
    hand_off(c, "L-2", email="jane@acme.example")
    hand_off(c, "L-3", email="joe@acme.example")
    assert say(c, "ana", "touch nobody@x.example") == "No lead matches 'nobody@x.example' — use its CRM id or email."
    several = say(c, "ana", "touch JANE@acme.example")
    assert several == (  # the same answer as bounce's (lifecycle.find_lead)
        "Several leads match 'JANE@acme.example' — use the CRM id of the one you mean:\n"
        "• `L-1` Jane Doe, Acme (jane@acme.example)\n• `L-2` Jane Doe, Acme (jane@acme.example)"
    )
    assert say(c, "ana", "touch joe@acme.example").startswith("Logged your follow-up")
    assert [lead(c, i).touch_count for i in (1, 2, 3)] == [0, 0, 1]


@pytest.mark.parametrize(
    "who, text, says",
    [
        ("ana", "touch", "Usage: `/smarketing touch <lead> [note]`, where <lead> is its CRM id or email."),
        ("ana", "touch L-1 " + "n" * 3001, "That note is 3001 characters; keep it under 3000."),
        (
            "ben",
            "touch L-1",
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can follow up on this lead.",
        ),
        ("kira", "touch L-1 called", "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin"),
    ],
)
def test_a_refused_touch_says_why_and_changes_nothing(c, who, text, says):
    hand_off(c)
    assert say(c, who, text).startswith(says)
    assert unchanged(c)


def test_a_lead_back_with_marketing_has_nothing_to_follow_up(c):
    hand_off(c)
    c.command("ana", "bounce L-1 not_ready")
    before = len(queued(c))
    said = say(c, "ana", "touch L-1")
    assert said.startswith("Jane Doe (Acme) is back with marketing (Ana Torres bounced this lead to marketing at 10:00")
    assert said.endswith("so there is nothing to follow up on.")
    assert touches(c) == [] and len(queued(c)) == before


# --- the buttons ------------------------------------------------------------------------------


def test_log_follow_up_updates_the_message_in_place_with_the_new_state(c):
    hand_off(c)
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 42)
    [handoff] = queued(c)
    reply = c.action("ana", "cooling.follow_up", ref(c), MessageRef(outbox_key=handoff.key))
    assert reply.text.startswith("Logged your follow-up on Jane Doe (Acme).")
    [update] = queued(c, op="update")
    assert reply.updated == Message.from_json(update.payload), "the pressed message, as it now reads"
    assert f"✅ {mention(c.person_id('ana'))} followed up at 10:42" in text_of(update.payload)
    assert "New qualified lead" in text_of(update.payload)  # the rest of the message stays
    assert buttons(update.payload) == [
        ("Log follow-up", "cooling.follow_up", ref(c)),
        ("Bounce to marketing", "bounce.open", ref(c)),
    ]
    assert [t.source for t in touches(c)] == ["button"]


def test_a_button_pressed_on_a_message_from_before_the_last_change_changes_nothing_more(c):
    hand_off(c)
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 42)
    stale = ref(c)
    c.action("ana", "cooling.follow_up", stale)
    for action, value in (("cooling.follow_up", stale), ("cooling.snooze", f"{stale}:1h")):
        said = moment_fallback(c.action("maya", action, value).text)
        assert said == (
            "Ana Torres followed up at 10:42 EST. This message is out of date; it now shows where the lead stands."
        )
    got = lead(c)
    assert (got.touch_count, got.snooze_count, got.version) == (1, 0, 2)


def test_a_snooze_pauses_the_ladder_for_a_business_hour_and_is_counted(c):
    hand_off(c)
    c.deps.clock.at = at_ny(2026, 11, 23, 16, 30)  # half an hour before New York's close
    reply = c.action("ana", "cooling.snooze", f"{ref(c)}:1h")
    assert moment_fallback(reply.text) == "Snoozed until Tue 24 Nov, 09:30 EST. I'll remind you then."
    got = lead(c)
    assert (got.snoozed_until, got.next_alert_at, got.snooze_count, got.version) == (
        at_ny(2026, 11, 24, 9, 30),
        at_ny(2026, 11, 24, 9, 30),
        1,
        2,
    )
    assert got.sla_due_at == at_ny(2026, 11, 23, 11), "a snooze does not move the SLA"
    assert got.touch_count == 0


def test_snooze_until_tomorrow_waits_for_the_next_morning_in_the_owners_timezone(c):
    hand_off(c, owner="chloe")  # Chicago
    c.action("chloe", "cooling.snooze", f"{ref(c)}:morning")
    assert lead(c).snoozed_until == datetime(2026, 11, 24, 9, tzinfo=ZoneInfo("America/Chicago"))


@pytest.mark.parametrize("length", ["5h", "", "2h", "evening"])
def test_a_stale_snooze_button_changes_nothing(c, length):
    hand_off(c)
    reply = c.action("ana", "cooling.snooze", f"{ref(c)}:{length}")
    assert reply.text == "That snooze button is out of date; use the ones on the latest alert."
    assert unchanged(c)


@pytest.mark.parametrize(
    "who, allowed", [("ana", True), ("maya", True), ("sam", True), ("ben", False), ("kira", False)]
)
def test_only_the_owner_their_manager_or_an_admin_may_follow_up_or_snooze(c, who, allowed):
    hand_off(c)
    snooze = c.action(who, "cooling.snooze", f"{ref(c)}:morning")
    follow = c.action(who, "cooling.follow_up", ref(c))
    refused = "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can {} this lead."
    assert (follow.text == refused.format("follow up on"), snooze.text == refused.format("snooze")) == (
        not allowed,
        not allowed,
    )
    got = lead(c)
    assert (got.touch_count, got.snooze_count) == ((1, 1) if allowed else (0, 0))


def test_a_person_the_bot_does_not_know_or_a_lead_that_is_gone_is_told_so(c):
    hand_off(c)
    stranger = Actor(None, "slack", "U_NOBODY")
    reply = run_action(c.registry, c.uow_factory, c.deps, stranger, "cooling.follow_up", ref(c), None)
    assert reply.text.startswith("I don't know who you are yet")
    for value in ("99@1", "x@1", ""):
        assert c.action("ana", "cooling.follow_up", value).text == (
            "That lead is gone from Smarketing; the message is out of date."
        )
    assert unchanged(c)


def test_an_unowned_lead_is_posted_to_sales_and_the_first_claim_wins(c):
    hand_off(c, owner=None)
    [post] = queued(c)
    assert (post.destination, post.role) == ("channel:sales", "claim")
    claim = ref(c)
    assert buttons(post.payload) == [("Claim", "cooling.claim", claim)]
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 42)
    reply = c.action("ben", "cooling.claim", claim, MessageRef(outbox_key=post.key))
    assert moment_fallback(reply.text) == "Jane Doe (Acme) is yours. Follow up by Mon 23 Nov, 11:00 EST."
    got = lead(c)
    assert (got.owner_id, got.owner_email, got.claimed_at) == (
        c.person_id("ben"),
        "ben@northwind.example",
        at_ny(2026, 11, 23, 10, 42),
    )
    [update] = queued(c, op="update")
    assert update.target_key == post.key and buttons(update.payload) == []
    assert f"🙋 {mention(c.person_id('ben'))} claimed this lead at 10:42" in text_of(update.payload)
    # Erin's screen still showed the button: nothing happens, and she is told why.
    late = moment_fallback(c.action("erin", "cooling.claim", claim, MessageRef(outbox_key=post.key)).text)
    assert late.startswith("Ben Okafor claimed this lead at 10:42 EST.")
    assert lead(c).owner_id == c.person_id("ben") and len(queued(c, op="update")) == 1


def test_only_sales_may_claim_a_lead(c):
    hand_off(c, owner=None)
    assert c.action("kira", "cooling.claim", ref(c)).text == "Only the sales team can claim leads."
    assert lead(c).owner_id is None and len(queued(c)) == 1


# --- leads ------------------------------------------------------------------------------------


def test_my_leads_are_listed_most_urgent_first_with_business_hours_left(c):
    hand_off(c, "L-1", name="Warm Lead", score=75)
    hand_off(c, "L-2", name="Hot Lead")
    hand_off(c, "L-3", name="Old Lead", at=datetime(2026, 11, 20, 15, tzinfo=timezone.utc))
    hand_off(c, "L-4", name="Bens", owner="ben")
    hand_off(c, "L-5", name="Bounced Lead")
    c.command("ana", "bounce L-5 duplicate")
    c.deps.clock.at = at_ny(2026, 11, 23, 10, 15)
    text = say(c, "ana", "leads")
    assert text.index("Old Lead") < text.index("Hot Lead") < text.index("Warm Lead")
    assert "Bens" not in text and "Bounced Lead" not in text
    assert "overdue by 7 h 15 min" in text  # due Friday 11:00 New York: 6 h on Friday, 1 h 15 min today
    assert "45 min left" in text and "3 h 45 min left" in text


def test_my_leads_are_paged_and_past_the_last_page_is_the_last_page(c):
    for i in range(20):
        hand_off(c, f"L-{i}")
    first, second, far = say(c, "ana", "leads"), say(c, "ana", "leads 2"), say(c, "ana", "leads 99")
    assert first.count("@acme.example`") == 15 and second.count("@acme.example`") == 5
    assert "`/smarketing leads 2` for more" in first
    assert far == second


def test_someone_with_no_leads_hears_so(c):
    hand_off(c)
    assert "no qualified leads waiting" in say(c, "ben", "leads")


# --- reassign ---------------------------------------------------------------------------------


def test_a_manager_reassigns_a_lead_its_clock_runs_on_and_the_new_owner_is_told(c):
    hand_off(c)
    due = lead(c).sla_due_at
    assert say(c, "maya", "reassign L-1 ben") == (
        "Jane Doe (Acme) is Ben Okafor's now; its clock runs on (due Mon 23 Nov, 11:00 EST)."
    )
    got = lead(c)
    assert (got.owner_id, got.owner_email, got.sla_due_at, got.sla_window) == (
        c.person_id("ben"),
        "ben@northwind.example",
        due,
        1,
    )
    handoff, update, to_ben = queued(c)
    assert (update.target_key, handoff.subject) == (handoff.key, None), "Ana's handoff is settled"
    assert (to_ben.destination, to_ben.role, to_ben.subject) == (f"dm:{c.person_id('ben')}", "handoff", "lead:1")


@pytest.mark.parametrize(
    "who, text, says",
    [
        ("ana", "reassign L-1 ben", "Only Maya Patel (Ana's manager) or an admin can reassign this lead."),
        ("maya", "reassign L-1 kira", "Kira Novak is not in sales; give the lead to someone in the sales team."),
        ("maya", "reassign L-1 ana", "Jane Doe (Acme) is already Ana Torres's."),
        ("maya", "reassign L-1 ghost", "I don't know anyone called 'ghost': use their key (like `ben`) or email."),
        ("maya", "reassign L-1", "Usage: `/smarketing reassign <lead> <person>`"),
        ("maya", "reassign L-9 ben", "No lead matches 'L-9' — use its CRM id or email."),
    ],
)
def test_a_refused_reassignment_says_why_and_changes_nothing(c, who, text, says):
    hand_off(c)
    assert say(c, who, text).startswith(says)
    assert lead(c).owner_id == c.person_id("ana") and unchanged(c)
