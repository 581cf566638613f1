"""Each person's Home on a real database: what each role sees, and the refresh that publishes a
Home again only when what it shows has changed (once per person per batch of changes)."""

from __future__ import annotations

import pytest

from bot.scheduler import run_job
from handlers.home import opened
from handlers.messages import Actions, mention
from tests.cooling_helpers import hot_lead, ingest, outbox, person_id, text_of
from tests.test_scoreboard import a_month, at_ny, command, config_with, move_to


@pytest.fixture
def c(make_container):
    return make_container(config=config_with(leads_per_month=30, within_sla=0.8))


def home_of(c, who: str):
    return command(c, who, "home").message


def test_a_reps_home_lists_their_leads_by_urgency_with_their_buttons_and_their_bounces(c):
    a_month(c)
    ingest(c, hot_lead("L-7", owner="ben", name="Late Larry", at="2026-11-23T18:30:00Z"))
    home = home_of(c, "ben")
    text = text_of(home.to_json())
    assert "Your SLA line (November 2026)" in text
    assert "*Your qualified leads, most urgent first* (2)" in text
    # L-7 waits for its first touch (due 14:30); L-5 was followed up and runs on its cadence (days)
    assert text.index("Late Larry") < text.index("Jane Doe")
    actions = [b for b in home.blocks if isinstance(b, Actions)]
    assert [btn.label for btn in actions[0].buttons] == ["Log follow-up", "Snooze 1 hour", "Bounce to marketing"]
    assert "*Your bounces (last 30 days):*" in text and "No budget" in text


def test_a_managers_home_shows_each_reps_queue_and_the_open_escalations(c):
    a_month(c)
    # Ana's L-2 and L-3 go without sales activity past their cadence (3 business days; Thanksgiving
    # is a holiday) and the manager step: up to Maya.
    move_to(c, at_ny(2026, 11, 30, 16, 0))
    run_job(c, "cooling")
    text = text_of(home_of(c, "maya").to_json())
    ana = person_id(c, "ana")
    assert f"• {mention(ana)} — 3 leads" in text and "queue: " in text
    assert "*Open escalations:*" in text and "`L-2`" in text and "`L-3`" in text
    assert "past due since" in text


def test_a_marketers_home_shows_their_campaigns_bounces_and_sourced_wins(c):
    a_month(c)
    text = text_of(home_of(c, "kira").to_json())
    assert "*Winter webinar* — 3 delivered · 0 bounced · $40,000 sourced (1 won)" in text
    assert "Pricing ebook" not in text
    leo = text_of(home_of(c, "leo").to_json())
    assert "*Bounced, by reason:* No budget 1" in leo


def test_an_admins_home_shows_the_company_and_an_empty_company_is_told_what_will_appear(c):
    assert "Nothing to score for the company" in text_of(home_of(c, "sam").to_json())
    a_month(c)
    assert "Leads delivered: 5 of 30" in text_of(home_of(c, "sam").to_json())


def test_a_home_is_published_again_only_when_what_it_shows_changed(c):
    a_month(c)
    ana, ben = person_id(c, "ana"), person_id(c, "ben")
    assert opened(c.uow_factory, c.deps, ana, force=True) is not None
    assert opened(c.uow_factory, c.deps, ana) is None  # reopened, nothing changed: not published again
    assert opened(c.uow_factory, c.deps, ben, force=True) is not None
    assert run_job(c, "home_refresh").done == 0
    # a batch of changes for Ana: three new leads; Ben's home does not change
    ingest(c, hot_lead("L-10", owner="ana"), hot_lead("L-11", owner="ana"), hot_lead("L-12", owner="ana"))
    assert run_job(c, "home_refresh").done == 1
    assert run_job(c, "home_refresh").done == 0
    [row] = outbox(c, key="home:")
    assert row.destination == f"home:{ana}" and "L-12" in text_of(row.payload)
