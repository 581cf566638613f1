"""One lead lifecycle on a real database: each transition updates every message about the lead,
one permission rule per action, stale and concurrent presses, the two SLA clocks over simulated
days. The ``clock`` fixture is Monday 2026-11-23 15:00 UTC (10:00 in New York, where Ana, Ben and
their manager Maya work); a hot lead has 1 business hour to its first follow-up, then a cadence
of 3 business days."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import OutboundWebhook, load_config
from bot.scheduler import run_job
from handlers import lifecycle
from handlers.commands import run_action, run_command, run_form
from handlers.messages import mention, moment_fallback
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.conftest import ladder_config
from tests.cooling_helpers import NY, at_ny, buttons, hot_lead, ingest, lead, outbox, person_id, text_of, touched

UTC = timezone.utc
RAW = ("nurture", "converted", "qualified", "L-1", "Not snoozed")


@pytest.fixture
def c(make_container):
    return make_container(config=ladder_config())  # the ladder step by step (the policy: test_policy.py)


def move_to(c, when: datetime) -> None:
    c.deps.clock.at = when


def job(c) -> int:
    return run_job(c, "cooling").done


def actor(c, key: str) -> Actor:
    return Actor(person_id(c, key), "local")


def command(c, who: str, text: str):
    return run_command(c.registry, c.uow_factory, c.deps, actor(c, who), text)


def press(c, who: str, action: str, value: str, key: str | None = None):
    return run_action(
        c.registry, c.uow_factory, c.deps, actor(c, who), action, value, MessageRef(outbox_key=key) if key else None
    )


def ref(c, crm_id: str = "L-1") -> str:
    got = lead(c, crm_id)
    return f"{got.id}@{got.version}"


def shown(c, key: str) -> dict:
    """What the message posted under ``key`` shows now (its newest queued update)."""
    with c.uow_factory() as uow:
        return uow.outbox.current_payload(key)


def alerted(c, crm_id: str = "L-1") -> dict[str, str]:
    """Ladder step (or handoff) -> outbox key of the lead's posts."""
    lead_id = lead(c, crm_id).id
    return {r.key.split(":")[3]: r.key for r in outbox(c, key=f"cooling:{lead_id}:")}


def breached_and_escalated(c) -> dict[str, str]:
    """A hot lead handed to Ana at 10:00, breached at 11:00, Maya at 13:00, #sales at 15:00."""
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 15))
    job(c)
    return alerted(c)


def plain(text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{raw!r} shown to a person in {text!r}"


# --- every message follows the lead -----------------------------------------------------------


def test_a_follow_up_updates_the_reps_alert_the_managers_dm_and_the_sales_post_in_place(c):
    keys = breached_and_escalated(c)
    assert set(keys) == {"handoff", "breach", "manager", "channel"}
    move_to(c, at_ny(2026, 11, 23, 15, 2))
    command(c, "chloe", "help")  # someone unrelated does something: nothing changes
    reply = press(c, "maya", "cooling.follow_up", ref(c), keys["manager"])
    assert reply.text.startswith("Logged your follow-up on Jane Doe (Acme).")
    maya = person_id(c, "maya")
    # the answer carries the pressed message as it now reads (Teams shows it in place at once)
    assert reply.updated is not None and reply.updated.to_json() == shown(c, keys["manager"])
    assert f"✅ {mention(maya)} followed up at 15:02" in text_of(reply.updated.to_json())
    for step in ("breach", "manager", "channel"):
        now = shown(c, keys[step])
        assert f"✅ {mention(maya)} followed up at 15:02" in text_of(now), step
        assert buttons(now) == [], step  # nothing left to press
        assert "has none yet" not in text_of(now) and "no follow-up" not in text_of(now)
    handoff = shown(c, keys["handoff"])  # the rep's card follows the lead on
    assert f"✅ {mention(maya)} followed up at 15:02" in text_of(handoff)
    assert [b[0] for b in buttons(handoff)] == ["Log follow-up", "Bounce to marketing"]
    assert len(outbox(c, op="post", key="cooling:")) == 4  # updated in place, nothing new posted


def test_a_bounce_from_an_alert_takes_every_button_away_and_a_stale_press_does_nothing(c):
    keys = breached_and_escalated(c)
    stale = ref(c)
    move_to(c, at_ny(2026, 11, 23, 15, 5))
    form = press(c, "ana", "bounce.open", stale, keys["breach"]).form
    done = run_form(
        c.registry,
        c.uow_factory,
        c.deps,
        actor(c, "ana"),
        form.action,
        form.state,
        {"reason": "not_ready", "note": None},
    )
    assert "Bounced" in done.text and lead(c).status == "nurture"
    for step in ("handoff", "breach", "manager", "channel"):
        now = shown(c, keys[step])
        assert buttons(now) == [], step
        assert (
            f"↩️ {mention(person_id(c, 'ana'))} bounced this lead to marketing at 15:05 EST (Not ready to buy)"
            in text_of(now)
        )
    touches = lead(c).touch_count
    for action, value in [("cooling.follow_up", stale), ("cooling.snooze", f"{stale}:1h"), ("bounce.open", stale)]:
        answer = press(c, "ana", action, value, keys["breach"])
        assert moment_fallback(answer.text).startswith("Ana Torres bounced this lead to marketing at 15:05 EST"), (
            answer.text
        )
        assert "out of date" in answer.text
        plain(answer.text)
    got = lead(c)
    assert (got.status, got.touch_count, got.snooze_count, got.bounce_count) == ("nurture", touches, 0, 1)
    typed = command(c, "ana", "touch L-1").text
    assert typed.startswith("Jane Doe (Acme) is back with marketing (Ana Torres bounced this lead to marketing")
    plain(typed)


def test_an_unowned_lead_has_one_claim_post_that_becomes_the_escalation_and_then_says_who_claimed_it(c):
    ingest(c, hot_lead(owner=None))
    move_to(c, at_ny(2026, 11, 23, 16))
    job(c)
    [post] = outbox(c, op="post")
    assert post.destination == "channel:sales" and post.role == "claim"
    assert "has no owner and passed its SLA" in text_of(shown(c, post.key))
    claim = [b for b in buttons(shown(c, post.key)) if b[0] == "Claim"][0][2]
    move_to(c, at_ny(2026, 11, 23, 16, 10))
    assert press(c, "ben", "cooling.claim", claim, post.key).text == "Jane Doe (Acme) is yours."
    now = shown(c, post.key)
    assert f"🙋 {mention(person_id(c, 'ben'))} claimed this lead at 16:10" in text_of(now) and buttons(now) == []
    late = press(c, "chloe", "cooling.claim", claim, post.key)
    assert moment_fallback(late.text).startswith("Ben Okafor claimed this lead at 16:10 EST.")
    assert lead(c).owner_id == person_id(c, "ben")
    move_to(c, at_ny(2026, 11, 24, 16))
    job(c)
    assert len([r for r in outbox(c, op="post") if r.destination == "channel:sales"]) == 1


def test_a_won_deal_updates_every_message_about_its_lead(c):
    keys = breached_and_escalated(c)
    ingest(
        c,
        {
            "id": "won-1",
            "type": "deal.closed_won",
            "occurred_at": "2026-11-23T20:30:00Z",
            "data": {"id": "D-1", "name": "Acme platform", "amount": 48000, "lead_id": "L-1"},
        },
    )
    for key in keys.values():
        now = shown(c, key)
        assert "🏆 Won at 15:00 EST: Acme platform" in text_of(now) and buttons(now) == []


def test_reassigning_gives_the_new_owner_the_lead_settles_the_old_owners_messages_and_keeps_the_clock(c):
    ingest(c, hot_lead())
    due = lead(c).sla_due_at
    keys = alerted(c)
    move_to(c, at_ny(2026, 11, 23, 10, 20))
    assert (
        "Only Maya Patel (Ana's manager) or an admin can reassign this lead."
        == command(c, "ben", "reassign L-1 ben").text
    )
    reply = command(c, "maya", "reassign L-1 ben")
    assert (
        moment_fallback(reply.text)
        == "Jane Doe (Acme) is Ben Okafor's now; its clock runs on (due Mon 23 Nov, 11:00 EST)."
    )
    got = lead(c)
    assert (got.owner_id, got.sla_due_at, got.sla_window) == (person_id(c, "ben"), due, 1)
    old = shown(c, keys["handoff"])
    assert buttons(old) == [] and f"reassigned this lead to {mention(person_id(c, 'ben'))}" in text_of(old)
    [new] = [r for r in outbox(c, op="post") if r.destination == f"dm:{person_id(c, 'ben')}"]
    assert "reassigned to" in text_of(new.payload) and [b[0] for b in buttons(new.payload)] == [
        "Log follow-up",
        "Bounce to marketing",
    ]
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    assert alerted(c)["breach"] and outbox(c)[-1].destination == f"dm:{person_id(c, 'ben')}"


# --- pressing twice, or two people at once ------------------------------------------------------


def test_pressing_log_follow_up_twice_is_one_follow_up(c):
    keys = breached_and_escalated(c)
    value = ref(c)
    first = press(c, "ana", "cooling.follow_up", value, keys["breach"])
    second = press(c, "ana", "cooling.follow_up", value, keys["breach"])
    assert first.text.startswith("Logged your follow-up")
    assert second.text.startswith("Ana Torres followed up at 10:00") or second.text.startswith("Ana Torres followed up")
    assert first.updated is not None and second.updated is None  # the second press changed nothing
    assert lead(c).touch_count == 1
    with c.uow_factory() as uow:
        assert len(uow.leads.touches(lead(c).id)) == 1


def test_two_people_pressing_at_once_make_one_transition_and_see_the_same_message(c):
    keys = breached_and_escalated(c)
    value = ref(c)
    answers: dict[str, str] = {}
    start = threading.Barrier(2)

    def go(who: str, action: str, v: str):
        start.wait()
        answers[who] = press(c, who, action, v, keys[{"ana": "breach", "maya": "manager"}[who]]).text

    threads = [
        threading.Thread(target=go, args=("ana", "cooling.follow_up", value)),
        threading.Thread(target=go, args=("maya", "cooling.snooze", f"{value}:1h")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    got = lead(c)
    assert got.version == int(value.split("@")[1]) + 1  # one transition
    assert got.touch_count + got.snooze_count == 1
    winner = "ana" if got.touch_count else "maya"
    loser = "maya" if winner == "ana" else "ana"
    assert "out of date" in answers[loser]
    final = {step: text_of(shown(c, keys[step])) for step in ("breach", "manager")}
    line = "followed up at" if winner == "ana" else "snoozed this lead until"
    assert all(line in text for text in final.values())


# --- one permission rule per action ------------------------------------------------------------

OWNED = {  # who: (follow up, snooze, bounce, reassign) on Ana's lead
    "ana": (True, True, True, False),
    "maya": (True, True, True, True),
    "sam": (True, True, True, True),  # an admin
    "ben": (False, False, False, False),
    "kira": (False, False, False, False),
}
UNOWNED = {  # who: (follow up, snooze, bounce, reassign, claim) on a lead nobody owns
    "maya": (True, True, True, True, True),
    "sam": (True, True, True, True, True),
    "ben": (False, False, False, False, True),
    "kira": (False, False, False, False, False),
}


@pytest.mark.parametrize("who", sorted(OWNED))
def test_the_permission_table_for_an_owned_lead(c, who):
    ingest(c, hot_lead())
    with c.uow_factory() as uow:
        person, got = uow.people.by_key(who), uow.leads.by_crm_id("L-1")
        owner = uow.people.get(got.owner_id)
        cells = tuple(lifecycle.may(a, person, got, owner) for a in ("follow_up", "snooze", "bounce", "reassign"))
    assert cells == OWNED[who]


@pytest.mark.parametrize("who", sorted(UNOWNED))
def test_the_permission_table_for_an_unowned_lead_is_the_same_for_bouncing_and_following_up(c, who):
    ingest(c, hot_lead(owner=None))
    with c.uow_factory() as uow:
        person, got = uow.people.by_key(who), uow.leads.by_crm_id("L-1")
        cells = tuple(
            lifecycle.may(a, person, got, None) for a in ("follow_up", "snooze", "bounce", "reassign", "claim")
        )
    assert cells == UNOWNED[who]
    bounced = command(c, who, "bounce L-1 not_ready").text
    touched_ = command(c, who, "touch L-1").text
    assert ("Bounced" in bounced) == UNOWNED[who][2]
    if not UNOWNED[who][0]:
        assert "Logged" not in touched_


def test_a_rep_is_told_to_claim_an_unowned_lead_before_following_it_up(c):
    ingest(c, hot_lead(owner=None))
    assert command(c, "ben", "touch L-1").text == (
        "Nobody owns this lead yet: claim it first (its Claim button is in the sales channel)."
    )
    assert lead(c).touch_count == 0


# --- the two clocks ------------------------------------------------------------------------------


def test_a_rep_who_follows_up_every_day_within_the_cadence_is_never_alerted(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10, 30))
    command(c, "ana", "touch L-1 intro call")  # first touch in time
    day = at_ny(2026, 11, 23, 9)
    for _ in range(14):  # two weeks of simulated days, the job every hour
        day += timedelta(days=1)
        for hour in range(0, 24):
            move_to(c, day + timedelta(hours=hour))
            job(c)
            if hour == 1 and day.astimezone(NY).weekday() < 5:  # 10:00 New York on a working day
                command(c, "ana", "touch L-1 daily check-in")
    assert [k for k in alerted(c)] == ["handoff"]  # no warning, no breach, ever
    got = lead(c)
    assert got.sla_clock == "cadence" and got.first_touch_at == at_ny(2026, 11, 23, 10, 30)


def test_a_follow_up_never_reopens_the_first_touch_window(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10))
    command(c, "ana", "touch L-1")
    move_to(c, at_ny(2026, 11, 23, 11))  # an hour later: a hot lead's first-touch SLA would be over
    assert job(c) == 0
    assert lead(c).sla_due_at == at_ny(2026, 11, 27, 10)  # 3 business days; Thanksgiving skipped


def test_no_sales_activity_for_the_cadence_is_cooling_and_climbs_the_same_ladder(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10, 30))
    command(c, "ana", "touch L-1")
    move_to(c, at_ny(2026, 11, 30, 12))  # due Fri 27 Nov 10:30; manager 12:30, channel 14:30
    job(c)
    steps = [k for k in alerted(c) if k != "handoff"]
    assert steps == ["breach", "manager", "channel"]
    breach = outbox(c, key=alerted(c)["breach"])[0]
    assert "Going cold" in text_of(breach.payload) and "3 business days" in text_of(breach.payload)


def test_a_cadence_set_in_the_config_is_used(make_container):
    config = load_config(None)
    config.sla.tiers["hot"].cadence_days = 1
    c = make_container(config=config)
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 10, 30))
    command(c, "ana", "touch L-1")
    assert lead(c).sla_due_at == at_ny(2026, 11, 24, 10, 30)


def test_reassignment_and_alerts_do_not_count_as_follow_ups(c):
    ingest(c, hot_lead())
    move_to(c, at_ny(2026, 11, 23, 11))
    job(c)
    ingest(c, hot_lead(type="lead.upserted", owner="ben"))
    got = lead(c)
    assert (got.touch_count, got.first_touch_at, got.sla_clock, got.sla_window) == (0, None, "first_touch", 1)


# --- what the CRM hears -------------------------------------------------------------------------


def test_a_follow_up_logged_in_chat_is_sent_to_the_crm_once(make_container):
    config = load_config(None)
    config.outbound_webhook = OutboundWebhook(url="https://crm.example/hooks", secret="s3cret-value")
    c = make_container(config=config)
    ingest(c, hot_lead())
    command(c, "ana", "touch L-1 called")
    ingest(c, touched("L-1"))  # from the CRM: it knows already
    [hook] = outbox(c, op="webhook")
    p = hook.payload
    assert (p["type"], p["data"]["lead_id"], p["data"]["by_email"], p["data"]["note"]) == (
        "lead.followed_up",
        "L-1",
        "ana@northwind.example",
        "called",
    )
