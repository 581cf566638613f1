"""``/smarketing away`` on the in-memory unit of work (tests/fake_uow.py): the command's rules, no
database. The clock is Monday 2026-11-23 10:00 in New York (Ana's timezone). What the flow does
with messages and the stored periods end to end is in tests/test_away.py, on a real database."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.fake_uow import FakeApp
from tests.cooling_helpers import at_ny

UTC = timezone.utc


class Flow(FakeApp):
    def command(self, who: str, text: str) -> str:  # type: ignore[override]
        return super().command(who, text).text

    def periods(self, who: str):
        with self.uow_factory() as uow:
            return uow.away.for_person(self.person_id(who), ending_after=datetime(2000, 1, 1, tzinfo=UTC))


@pytest.fixture
def c() -> Flow:
    return Flow(at=datetime(2026, 11, 23, 15, 0, tzinfo=UTC))


def test_the_fake_holds_the_configs_people_and_their_time_away(c):
    assert c.person_id("ana") != c.person_id("maya")
    with c.uow_factory() as uow:
        configured = uow.away.from_config()
    assert configured and all(p.source == "config" for p in configured)


def test_work_not_committed_is_thrown_away(c):
    with c.uow_factory() as uow:
        uow.away.create(person_id=c.person_id("ana"), starts_at=at_ny(2026, 11, 24), ends_at=at_ny(2026, 11, 25))
    assert c.periods("ana") == []


def test_away_for_oneself_is_days_in_ones_timezone_both_included(c):
    text = c.command("ana", "away 2026-11-24 2026-11-27")
    assert text.startswith("You are away Tue 24 Nov – Fri 27 Nov. Your new leads and alerts go to Maya Patel")
    [p] = c.periods("ana")
    assert (p.starts_at, p.ends_at, p.source) == (at_ny(2026, 11, 24), at_ny(2026, 11, 28), "command")
    assert p.created_by_id == c.person_id("ana")
    assert "Tue 24 Nov – Fri 27 Nov" in c.command("ana", "away")


@pytest.mark.parametrize(
    "text, says",
    [
        (
            "away 2026-11-27 2026-11-24",
            "That period ends on Tue 24 Nov 2026, before it starts (Fri 27 Nov 2026). Nothing changed.",
        ),
        ("away 2026-11-02 2026-11-06", "That period is over already (it ended on Fri 6 Nov 2026). Nothing changed."),
        ("away 24/11", "I can't read '24/11' as a date"),
        ("away 2026-02-30", "I can't read '2026-02-30' as a date"),
        ("away nobody 2026-11-24", "I don't know anyone called 'nobody'"),
        ("away 2026-11-24 2026-11-25 2026-11-26", "Usage: `/smarketing away <from> [to]`"),
        ("away 2026-11-24 2027-06-01", "Keep one period to 92 days at most. Nothing changed."),
    ],
)
def test_bad_away_input_gets_a_specific_answer_and_changes_nothing(c, text, says):
    assert says in c.command("ana", text)
    assert c.periods("ana") == []


def test_an_overlapping_period_is_refused_and_the_first_kept(c):
    c.command("ana", "away 2026-11-24 2026-11-27")
    assert c.command("ana", "away 2026-11-26 2026-12-01") == (
        "You are already away Tue 24 Nov – Fri 27 Nov, which overlaps that. Say `away off` first, or pick other "
        "days. Nothing changed."
    )
    assert len(c.periods("ana")) == 1


def test_a_manager_or_an_admin_sets_time_away_for_their_people_and_no_one_else_does(c):
    assert c.command("ben", "away ana 2026-11-24") == "Only Ana's manager or an admin can set Ana Torres's time away."
    assert c.command("kira", "away ana 2026-11-24").startswith("Only Ana's manager")
    assert c.periods("ana") == []
    assert c.command("maya", "away ana 2026-11-24").startswith("Ana Torres is away Tue 24 Nov.")
    assert c.command("sam", "away ben tomorrow").startswith("Ben Okafor is away Tue 24 Nov.")
    assert c.command("maya", "away ana off") == "Cancelled the time away on Tue 24 Nov."
    assert c.periods("ana") == []


def test_away_off_before_it_starts_cancels_it_and_after_it_started_ends_it_now(c):
    c.command("ana", "away 2026-11-24")
    assert c.command("ana", "away off") == "Cancelled the time away on Tue 24 Nov."
    assert c.command("ana", "away off") == "You are not marked away. Nothing changed."
