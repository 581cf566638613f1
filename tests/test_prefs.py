"""Preferences (``/smarketing prefs``, handlers/prefs.py) on a real database: the repository the
in-memory unit of work imitates, the Home's button, and the delivery policy applying them (a rep's
warnings one by one, a muted kind not sent, each digest at its reader's own time). The command's
rules are in tests/test_prefs_unit.py. The clock is the injected one, moved to New York times as in
tests/test_policy.py."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from bot.scheduler import run_job
from handlers.commands import run_action, run_command
from handlers.ports import Actor
from tests.conftest import ladder_config
from tests.cooling_helpers import at_ny, buttons, hot_lead, ingest, lead, outbox, person_id, text_of

UTC = timezone.utc


@pytest.fixture
def c(make_container):
    return make_container()


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


# The command's and the form's rules (what is stored, what is refused and why, what the answer
# says) are in tests/test_prefs_unit.py, on the in-memory unit of work; here, storage and delivery.


# --- storage: what tests/fake_uow.py stands in for --------------------------------------------


def test_the_prefs_repository_keeps_one_row_a_person_and_none_for_the_defaults(c):
    from storage.models import DeliveryPref

    ana, ben = person_id(c, "ana"), person_id(c, "ben")
    with c.uow_factory() as uow:
        assert uow.prefs.get(ana) is None and uow.prefs.many([ana, ben]) == {}
        blank = uow.prefs.get_or_blank(ana)
        assert (blank.person_id, blank.muted) == (ana, [])
        assert blank.digest_time is None and blank.warn is None and blank.manager is None
        uow.commit()
    assert stored(c, "ana") is None, "a blank set is not stored until saved"
    with c.uow_factory() as uow:
        uow.prefs.save(DeliveryPref(person_id=ana, warn="realtime", muted=["warn"]))
        uow.commit()
    with c.uow_factory() as uow:
        pref = uow.prefs.get_or_blank(ana)
        assert (pref.warn, pref.muted) == ("realtime", ["warn"])
        pref.digest_time = time(10, 0)
        uow.prefs.save(pref)  # the stored row, changed: still one row
        uow.commit()
    with c.uow_factory() as uow:
        assert list(uow.prefs.many([ana, ben, ana])) == [ana]
        assert uow.prefs.remove(ben) is False
        assert uow.prefs.remove(ana) is True
        uow.commit()
    assert stored(c, "ana") is None


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
