"""Preferences (``/smarketing prefs``, handlers/prefs.py) on a real database: the text form sets and
clears them and says where each setting comes from; what a role must get cannot be muted and a
refused or unreadable choice changes nothing; the delivery policy applies them (a rep's warnings
one by one, a muted kind not sent, each digest at its reader's own time). The clock is the
injected one, moved to New York times as in tests/test_policy.py."""

from __future__ import annotations

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.scheduler import run_job
from handlers.commands import run_action, run_command, run_form
from handlers.ports import Actor
from tests.conftest import ladder_config
from tests.cooling_helpers import buttons, hot_lead, ingest, lead, outbox, person_id, text_of

UTC = timezone.utc
NY = ZoneInfo("America/New_York")


@pytest.fixture
def c(make_container):
    return make_container()


def at_ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)


def tick(c, when: datetime) -> None:
    """The scheduler's jobs at ``when``: the ladder, then the digests."""
    c.deps.clock.at = when
    run_job(c, "cooling")
    run_job(c, "digests")


def prefs(c, who: str, text: str = "") -> str:
    """What ``/smarketing prefs …`` answers ``who`` (everything the reply shows)."""
    reply = run_command(c.registry, c.uow_factory, c.deps, Actor(person_id(c, who), "local"), f"prefs {text}")
    return reply.text if reply.text is not None else text_of(reply.message.to_json())


def stored(c, who: str):
    with c.uow_factory() as uow:
        pref = uow.prefs.get(person_id(c, who))
        return None if pref is None else (pref.digest_time, pref.warn, pref.manager, list(pref.muted))


def dms(c, who: str, key: str = "cooling:"):
    return [r for r in outbox(c, key=key) if r.destination == f"dm:{person_id(c, who)}"]


# --- the text form ----------------------------------------------------------------------------


def test_the_text_form_sets_each_preference_says_where_each_comes_from_and_reset_clears_them(c):
    shown = prefs(c, "ana", "show")
    assert "Morning digest at 09:00 America/New_York — company default" in shown
    assert "Warnings (a lead of yours about to breach): in your morning digest — company default" in shown
    assert "Change preferences" in shown

    said = prefs(c, "ana", "warn realtime")
    assert "Your warnings come one message each, as they happen from now on." in said
    assert (
        "Warnings (a lead of yours about to breach): one message each, as they happen — yours "
        "(company default: in your morning digest)"
    ) in said
    said = prefs(c, "ana", "digest 10:30")
    assert "Your morning digest comes at 10:30 your time from now on." in said
    assert "Morning digest at 10:30 America/New_York — yours (company default: 09:00)" in said
    said = prefs(c, "ana", "mute warn")
    assert "Muted: warn (a lead of yours about to breach) is not sent to you any more." in said
    assert stored(c, "ana") == (time(10, 30), "realtime", None, ["warn"])

    said = prefs(c, "ana", "unmute warn")
    assert "Unmuted: warn" in said and stored(c, "ana") == (time(10, 30), "realtime", None, [])
    said = prefs(c, "ana", "warn default")
    assert "Your warnings come as the company sets it again." in said
    said = prefs(c, "ana", "reset")
    assert (
        "Back to the company defaults." in said and "Morning digest at 09:00 America/New_York — company default" in said
    )
    assert stored(c, "ana") is None
    assert "You had no preferences of your own: nothing changed." in prefs(c, "ana", "reset")


def test_a_manager_chooses_how_escalations_come_but_cannot_mute_them(c):
    said = prefs(c, "maya", "manager realtime")
    assert "Your escalations come one message each, as they happen from now on." in said
    said = prefs(c, "maya", "mute manager")
    assert said.startswith("You can't mute 'manager': a manager acts on their team's escalations")
    assert said.endswith("Nothing changed.")
    assert stored(c, "maya") == (None, None, "realtime", [])


@pytest.mark.parametrize(
    "text, says",
    [
        (
            "mute breach",
            "You can't mute 'breach': a breach of your own lead is the alert you must act on. Nothing changed.",
        ),
        ("mute handoff", "You can't mute 'handoff': a lead handed to you is yours to act on now. Nothing changed."),
        ("mute reminder", "You can't mute 'reminder': the end of your snooze is the follow-up you asked for."),
        (
            "mute claim",
            "'claim' (a lead nobody owns, to claim) is posted in a team channel, not sent to you: there is "
            "nothing of yours to mute. Nothing changed.",
        ),
        (
            "mute foo",
            "unknown kind 'foo'; kinds: handoff, breach, reminder, claim, warn, manager, channel, bounce_post. "
            "Nothing changed.",
        ),
        ("unmute breach", "'breach' is not muted for you. Nothing changed."),
        ("digest 25:00", "'25:00' is not a time; use HH:MM, e.g. 09:30. Nothing changed."),
        ("digest soon", "'soon' is not a time; use HH:MM, e.g. 09:30. Nothing changed."),
        (
            "digest 08:30",
            "08:30 is outside your business hours (09:00–17:00, America/New_York): nothing reaches you "
            "outside them, so your digest would not come then. Pick a time from 09:00 to before 17:00. "
            "Nothing changed.",
        ),
        ("digest 17:00", "17:00 is outside your business hours"),
        (
            "warn sometimes",
            "'sometimes' is not a way to get warnings; use realtime, digest or default. Nothing changed.",
        ),
        ("breach digest", "unknown setting 'breach'; settings: show, digest, warn, manager, mute, unmute, reset."),
        ("warn", "`prefs warn` takes one word."),
    ],
)
def test_a_refused_or_unreadable_choice_says_why_and_changes_nothing(c, text, says):
    prefs(c, "ana", "digest 10:00")
    before = stored(c, "ana")
    assert says in prefs(c, "ana", text)
    assert stored(c, "ana") == before == (time(10, 0), None, None, [])


def test_the_form_shows_what_applies_and_its_submission_saves_or_comes_back_with_the_errors(c):
    ana = Actor(person_id(c, "ana"), "local")
    form = run_command(c.registry, c.uow_factory, c.deps, ana, "prefs").form
    assert form.action == "prefs.save" and [i.name for i in form.inputs] == ["digest_time", "warn"]
    warn = form.inputs[1]
    assert [o.value for o in warn.options] == ["default", "digest", "realtime", "mute"] and warn.initial == "default"
    assert "Morning digest at 09:00" in form.blocks[0].text
    maya_form = run_command(c.registry, c.uow_factory, c.deps, Actor(person_id(c, "maya"), "local"), "prefs").form
    manager = next(i for i in maya_form.inputs if i.name == "manager")
    assert "mute" not in [o.value for o in manager.options], "a manager's escalations cannot be muted"

    bad = run_form(c.registry, c.uow_factory, c.deps, ana, "prefs.save", "", {"digest_time": "7pm", "warn": "realtime"})
    assert bad.errors == {"digest_time": "'7pm' is not a time; use HH:MM, e.g. 09:30. Nothing changed."}
    assert stored(c, "ana") is None
    good = run_form(c.registry, c.uow_factory, c.deps, ana, "prefs.save", "", {"digest_time": "10:15", "warn": "mute"})
    assert good.errors is None and "Saved." in text_of(good.message.to_json())
    assert stored(c, "ana") == (time(10, 15), None, None, ["warn"])
    again = run_command(c.registry, c.uow_factory, c.deps, ana, "prefs").form
    assert (again.inputs[0].initial, again.inputs[1].initial) == ("10:15", "mute")
    run_form(c.registry, c.uow_factory, c.deps, ana, "prefs.save", "", {"digest_time": "", "warn": "default"})
    assert stored(c, "ana") is None, "everything back to the company's: no row of their own"


def test_a_submitted_mute_the_form_does_not_offer_is_refused_on_its_field_and_nothing_is_saved(c):
    maya = Actor(person_id(c, "maya"), "local")
    reply = run_form(
        c.registry,
        c.uow_factory,
        c.deps,
        maya,
        "prefs.save",
        "",
        {"digest_time": "10:00", "warn": "realtime", "manager": "mute"},
    )
    assert list(reply.errors) == ["manager"]
    assert reply.errors["manager"].startswith("You can't mute 'manager': a manager acts on their team's escalations")
    assert stored(c, "maya") is None


def test_the_home_has_a_preferences_button_that_opens_the_form(c):
    ana = Actor(person_id(c, "ana"), "local")
    home = run_command(c.registry, c.uow_factory, c.deps, ana, "home").message
    assert ("Preferences", "prefs.open", "") in buttons(home.to_json())
    reply = run_action(c.registry, c.uow_factory, c.deps, ana, "prefs.open", "", None)
    assert reply.form is not None and reply.form.action == "prefs.save"


# --- the policy applies them ------------------------------------------------------------------


def test_a_rep_who_chose_warnings_one_by_one_gets_a_warning_dm_instead_of_the_digest(c):
    prefs(c, "ana", "warn realtime")
    c.deps.clock.at = at_ny(2026, 11, 23, 10)
    ingest(
        c,
        hot_lead("L-1", owner="ana", at=at_ny(2026, 11, 23, 10)),
        hot_lead("L-2", owner="ben", name="Bob Roe", email="bob@acme.example", at=at_ny(2026, 11, 23, 10)),
    )
    tick(c, at_ny(2026, 11, 23, 10, 50))  # past the warning (10:45), before the breach (11:00)
    [warning] = [r for r in dms(c, "ana") if r.key.endswith(":warn")]
    assert "Jane Doe" in text_of(warning.payload)
    assert not outbox(c, key=f"digest:followups:{person_id(c, 'ana')}:"), "nothing folded for Ana"
    # Ben kept the company's default: his warning is a line in his morning follow-ups.
    assert not [r for r in dms(c, "ben") if r.key.endswith(":warn")]
    assert outbox(c, key=f"digest:followups:{person_id(c, 'ben')}:2026-11-23")


def test_a_muted_kind_is_not_delivered_but_what_the_role_must_get_still_is(make_container):
    c = make_container(config=ladder_config())  # warnings one by one for everyone
    prefs(c, "ana", "mute warn")
    c.deps.clock.at = at_ny(2026, 11, 23, 10)
    ingest(
        c,
        hot_lead("L-1", owner="ana", at=at_ny(2026, 11, 23, 10)),
        hot_lead("L-2", owner="ben", name="Bob Roe", email="bob@acme.example", at=at_ny(2026, 11, 23, 10)),
    )
    tick(c, at_ny(2026, 11, 23, 10, 50))
    assert not [r for r in dms(c, "ana") if r.key.endswith(":warn")], "muted: not sent at all"
    assert [r for r in dms(c, "ben") if r.key.endswith(":warn")]
    tick(c, at_ny(2026, 11, 23, 11, 1))
    assert [r for r in dms(c, "ana") if r.key.endswith(":breach")], "a breach of her own lead still comes"


def test_a_muted_warning_means_no_morning_follow_ups_either(c):
    prefs(c, "ana", "mute warn")
    c.deps.clock.at = at_ny(2026, 11, 23, 10)
    ingest(c, hot_lead("L-1", owner="ana", at=at_ny(2026, 11, 23, 10)))
    tick(c, at_ny(2026, 11, 23, 10, 50))
    assert not outbox(c, key="digest:followups:")
    assert not [r for r in dms(c, "ana") if r.key.endswith(":warn")]


def test_a_stored_mute_of_something_the_role_must_get_is_not_applied(c):
    """Someone who muted escalations and became a manager gets them: MUST_GET is applied on delivery too."""
    from storage.models import DeliveryPref

    with c.uow_factory() as uow:
        uow.prefs.save(DeliveryPref(person_id=person_id(c, "maya"), manager="realtime", muted=["manager"]))
        uow.commit()
    c.deps.clock.at = at_ny(2026, 11, 23, 9)
    ingest(c, hot_lead("L-1", owner="ana", score=75, at=at_ny(2026, 11, 23, 9)))  # warm: not urgent
    for hour in (13, 15):
        tick(c, at_ny(2026, 11, 23, hour, 1))
    assert [r for r in dms(c, "maya") if r.key.endswith(":manager")]
    assert "but a manager acts on their team's escalations" in prefs(c, "maya", "show")


def test_a_personal_digest_time_moves_that_persons_digest_and_no_one_elses(c):
    prefs(c, "ana", "digest 10:30")
    c.deps.clock.at = at_ny(2026, 11, 23, 8)
    ingest(
        c,
        hot_lead("L-1", owner="ana", score=75, at=at_ny(2026, 11, 23, 8)),  # due 13:00 (warm)
        hot_lead("L-2", owner="ben", score=75, name="Bob Roe", email="bob@acme.example", at=at_ny(2026, 11, 23, 8)),
    )
    ana, ben = person_id(c, "ana"), person_id(c, "ben")
    tick(c, at_ny(2026, 11, 23, 9, 5))
    assert outbox(c, key=f"digest:followups:{ben}:2026-11-23"), "Ben: the company's 09:00"
    assert not outbox(c, key=f"digest:followups:{ana}:")
    tick(c, at_ny(2026, 11, 23, 10, 25))
    assert not outbox(c, key=f"digest:followups:{ana}:")
    tick(c, at_ny(2026, 11, 23, 10, 31))
    [digest] = outbox(c, key=f"digest:followups:{ana}:2026-11-23")
    assert "Jane Doe" in text_of(digest.payload) and digest.destination == f"dm:{ana}"
    assert lead(c, "L-1").owner_id == ana
