"""``/smarketing prefs`` on the in-memory unit of work (tests/fake_uow.py): the text form and the form
set and clear someone's preferences and say where each setting comes from; what a role must get
cannot be muted; a refused or unreadable choice says why and changes nothing. No database: how the
delivery policy applies what is stored (digests, warnings, muted kinds) is in tests/test_prefs.py,
with the scheduler and the outbox on a real one. The clock is Monday 2026-11-23 10:00 in New York."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from handlers.ports import Actor
from tests.cooling_helpers import text_of
from tests.fake_uow import FakeApp, FakeDeliveryPref

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


@pytest.fixture
def c() -> FakeApp:
    return FakeApp(at=NOW)


def prefs(c: FakeApp, who: str, text: str = "") -> str:
    """What ``/smarketing prefs …`` answers ``who`` (everything the reply shows)."""
    reply = c.command(who, f"prefs {text}")
    return reply.text if reply.text is not None else text_of(reply.message.to_json())


def stored(c: FakeApp, who: str):
    with c.uow_factory() as uow:
        pref = uow.prefs.get(c.person_id(who))
        return None if pref is None else (pref.digest_time, pref.warn, pref.manager, list(pref.muted))


# --- the text form ----------------------------------------------------------------------------


def test_the_text_form_sets_each_preference_says_where_each_comes_from_and_reset_clears_them(c):
    shown = prefs(c, "ana", "show")
    assert "Morning digest at 09:00 America/New_York — company default" in shown
    assert "Warnings (a lead of yours about to breach): in your morning digest — company default" in shown
    assert "Change preferences" in shown
    assert stored(c, "ana") is None, "showing stores nothing"

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
    assert "Warnings (a lead of yours about to breach): muted — yours (company default: in your morning digest)" in said
    assert stored(c, "ana") == (time(10, 30), "realtime", None, ["warn"])

    said = prefs(c, "ana", "unmute warn")
    assert "Unmuted: warn" in said and stored(c, "ana") == (time(10, 30), "realtime", None, [])
    said = prefs(c, "ana", "warn default")
    assert "Your warnings come as the company sets it again." in said
    assert stored(c, "ana") == (time(10, 30), None, None, [])
    said = prefs(c, "ana", "reset")
    assert (
        "Back to the company defaults." in said and "Morning digest at 09:00 America/New_York — company default" in said
    )
    assert stored(c, "ana") is None
    assert "You had no preferences of your own: nothing changed." in prefs(c, "ana", "reset")


def test_what_is_stored_is_the_persons_own_and_dated_and_nobody_elses(c):
    prefs(c, "ana", "digest 11:00")
    with c.uow_factory() as uow:
        pref = uow.prefs.get(c.person_id("ana"))
        assert pref.updated_at == NOW
        assert uow.prefs.many([c.person_id("ana"), c.person_id("ben")]) == {c.person_id("ana"): pref}
    assert "Morning digest at 09:00 America/New_York — company default" in prefs(c, "ben", "show")


def test_choosing_the_company_default_again_leaves_no_row_of_ones_own(c):
    prefs(c, "ana", "digest 10:00")
    said = prefs(c, "ana", "digest default")
    assert "Your digest comes at the company's time again." in said
    assert "Morning digest at 09:00 America/New_York — company default" in said
    assert stored(c, "ana") is None
    prefs(c, "ana", "mute warn")
    prefs(c, "ana", "warn default")  # choosing a way for a muted kind unmutes it
    assert stored(c, "ana") is None


def test_a_digest_time_is_in_the_persons_own_timezone(c):
    said = prefs(c, "chloe", "digest 09:15")
    assert "Morning digest at 09:15 America/Chicago — yours (company default: 09:00)" in said


def test_what_is_shown_is_what_reaches_the_person(c):
    ana = prefs(c, "ana", "show")
    assert "Warnings" in ana and "Escalations" not in ana
    maya = prefs(c, "maya", "show")
    assert "Escalations (a breached lead of your team): in your morning digest — company default" in maya
    kira = prefs(c, "kira", "show")
    assert "Warnings" not in kira and "Escalations" not in kira, "a marketer owns no leads, manages no one"
    assert "escalations of hot leads at once (quiet hours hold the rest until your business hours)." in kira


def test_a_manager_chooses_how_escalations_come_but_cannot_mute_them(c):
    said = prefs(c, "maya", "manager realtime")
    assert "Your escalations come one message each, as they happen from now on." in said
    said = prefs(c, "maya", "mute manager")
    assert said.startswith("You can't mute 'manager': a manager acts on their team's escalations")
    assert said.endswith("Nothing changed.")
    assert stored(c, "maya") == (None, None, "realtime", [])


def test_a_stored_mute_of_what_the_role_must_get_is_shown_as_still_coming(c):
    """Someone who muted escalations and then became a manager: the mute is kept but not applied."""
    maya = c.person_id("maya")
    with c.uow_factory() as uow:
        uow.prefs.save(FakeDeliveryPref(person_id=maya, manager="realtime", muted=["manager"]))
        uow.commit()
    shown = c.command("maya", "prefs show").message.text
    [line] = [x for x in shown.splitlines() if x.startswith("• Escalations")]
    assert line.startswith("• Escalations (a breached lead of your team): muted — but a manager acts on their team's")
    assert line.endswith("so they still come — yours (company default: in your morning digest)")


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
        ("unmute foo", "unknown kind 'foo'"),
        ("digest 25:00", "'25:00' is not a time; use HH:MM, e.g. 09:30. Nothing changed."),
        ("digest 12:60", "'12:60' is not a time"),
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
        ("warn realtime now", "`prefs warn` takes one word."),
        ("reset all", "`prefs reset` takes nothing more."),
    ],
)
def test_a_refused_or_unreadable_choice_says_why_and_changes_nothing(c, text, says):
    prefs(c, "ana", "digest 10:00")
    before = stored(c, "ana")
    assert says in prefs(c, "ana", text)
    assert stored(c, "ana") == before == (time(10, 0), None, None, [])


def test_someone_the_bot_does_not_know_or_who_left_changes_nothing(c):
    reply = c.command("ana", "prefs")  # known: the form
    assert reply.form is not None
    from handlers.commands import run_command

    stranger = run_command(c.registry, c.uow_factory, c.deps, Actor(None, "local"), "prefs digest 10:00")
    assert stranger.text.startswith("I don't know who you are yet")
    with c.uow_factory() as uow:
        uow.people.get(c.person_id("ana")).active = False
        uow.commit()
    assert prefs(c, "ana", "digest 10:00").startswith("Your account is marked as having left the company")
    assert stored(c, "ana") is None


# --- the form ---------------------------------------------------------------------------------


def test_the_form_shows_what_applies_and_its_submission_saves_or_comes_back_with_the_errors(c):
    form = c.command("ana", "prefs").form
    assert form.action == "prefs.save" and [i.name for i in form.inputs] == ["digest_time", "warn"]
    warn = form.inputs[1]
    assert [o.value for o in warn.options] == ["default", "digest", "realtime", "mute"] and warn.initial == "default"
    assert "Morning digest at 09:00" in form.blocks[0].text
    maya_form = c.command("maya", "prefs").form
    assert [i.name for i in maya_form.inputs] == ["digest_time", "warn", "manager"]
    manager = maya_form.inputs[2]
    assert "mute" not in [o.value for o in manager.options], "a manager's escalations cannot be muted"
    assert [i.name for i in c.command("kira", "prefs").form.inputs] == ["digest_time"]

    bad = c.form("ana", "prefs.save", {"digest_time": "7pm", "warn": "realtime"})
    assert bad.errors == {"digest_time": "'7pm' is not a time; use HH:MM, e.g. 09:30. Nothing changed."}
    assert stored(c, "ana") is None
    good = c.form("ana", "prefs.save", {"digest_time": "10:15", "warn": "mute"})
    assert good.errors is None and "Saved." in text_of(good.message.to_json())
    assert stored(c, "ana") == (time(10, 15), None, None, ["warn"])
    again = c.command("ana", "prefs").form
    assert (again.inputs[0].initial, again.inputs[1].initial) == ("10:15", "mute")
    c.form("ana", "prefs.save", {"digest_time": "", "warn": "default"})
    assert stored(c, "ana") is None, "everything back to the company's: no row of their own"


def test_every_bad_field_of_the_form_is_named_and_nothing_is_saved(c):
    reply = c.form("maya", "prefs.save", {"digest_time": "18:00", "warn": "often", "manager": "mute"})
    assert set(reply.errors) == {"digest_time", "warn", "manager"}
    assert reply.errors["digest_time"].startswith("18:00 is outside your business hours")
    assert (
        reply.errors["warn"]
        == "'often' is not a way to get warnings; use realtime, digest or default. Nothing changed."
    )
    assert reply.errors["manager"].startswith("You can't mute 'manager': a manager acts on their team's escalations")
    assert stored(c, "maya") is None


def test_the_preferences_button_opens_the_form_with_what_is_stored(c):
    prefs(c, "ana", "warn realtime")
    reply = c.action("ana", "prefs.open")
    assert reply.form is not None and reply.form.action == "prefs.save"
    assert reply.form.inputs[1].initial == "realtime"
