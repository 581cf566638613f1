"""The demo company and the simulated clock: a believable company loaded through the product's own
paths, and time that moves so leads cool, deals are celebrated and Monday's digests go out."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ladder_config

from bot.config import load_config
from bot.local import clock, demo_data
from handlers.events import validate_events
from handlers.ports import OffsetClock
from handlers.registry import Registry
from sqlmodel import func, select
from storage.models import Lead, LeadEvent

ANCHOR = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def posts(container, destination_prefix=""):
    """Delivered posts (destination, key, text), oldest first."""
    with container.uow_factory() as uow:
        rows = uow.outbox.since(0, limit=100_000, ops=("post",))
    return [
        (r.destination, r.key, r.payload.get("text", ""))
        for r in rows
        if r.status == "sent" and r.destination.startswith(destination_prefix)
    ]


@pytest.fixture
def demo(make_container):
    """A local workspace container with the demo company loaded and delivered."""
    c = make_container(local_workspace=True, config=ladder_config())  # every DM now (no quiet-hours hold)
    demo_data.load(c)
    c.dispatcher.drain()
    return c


# --- the generated company --------------------------------------------------------------------


def test_the_same_anchor_always_gives_the_same_company():
    config = load_config(None)
    assert demo_data.generate(config, ANCHOR).events == demo_data.generate(config, ANCHOR).events


def test_the_company_has_campaigns_hundreds_of_leads_in_every_stage_deals_and_two_teams_schedules():
    config = load_config(None)
    company = demo_data.generate(config, ANCHOR)
    types = Counter(e["type"] for e in company.events)
    marketers = {p.email for p in config.people if p.team == "marketing"}
    assert types["campaign.upserted"] >= 8
    assert all(e["data"]["owner_email"] in marketers for e in company.of_type("campaign.upserted"))
    assert types["lead.upserted"] >= 250 and types["campaign.touch"] >= types["lead.upserted"]
    assert set(Counter(l.stage for l in company.leads)) == {
        "new",
        "fresh",
        "working",
        "cooling",
        "opportunity",
        "customer",
        "nurture",
        "disqualified",
    }
    assert 5 <= types["deal.closed_won"] <= 20
    schedule = company.of_type("schedule.upserted")
    assert {e["data"]["team"] for e in schedule} == {"sales", "marketing"}
    days = {datetime.fromisoformat(e["data"]["start"].replace("Z", "+00:00")).date() for e in schedule}
    assert len(days) >= 5
    events, problems = validate_events(company.events)
    assert problems == [] and len(events) == len(company.events)
    assert all(datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) <= ANCHOR for e in company.events)


def test_a_few_leads_were_handed_over_days_ago_and_never_followed_up():
    company = demo_data.generate(load_config(None), ANCHOR)
    cooling = {l.crm_id for l in company.leads if l.stage == "cooling"}
    handed = {e["data"]["id"]: e["occurred_at"] for e in company.of_type("lead.qualified")}
    followed = {e["data"]["lead_id"] for e in company.of_type("lead.touched")}
    assert len(cooling) >= 3
    assert all(handed[c] < "2026-11-23" for c in cooling)  # on an earlier working day
    assert not cooling & followed


# --- loading through the product's paths -------------------------------------------------------


def test_the_demo_loads_through_ingest_and_the_flows_post_their_own_messages(demo):
    company = demo_data.generate(demo.config, ANCHOR)
    with demo.uow_factory() as uow:
        assert uow.leads.by_crm_id(company.leads[0].crm_id) is not None
        assert uow.campaigns.by_crm_id("cmp-webinar-forecast").owner_id is not None
    delivered = posts(demo)
    destinations = Counter(d for d, _, _ in delivered)
    if "deal.closed_won" in demo.registry.events:
        assert destinations["channel:wins"] >= 5
    if "lead.qualified" in demo.registry.events:
        # Each lead already cooling has its owner told about it (the jobs ran after loading).
        owners = {l.owner_email for l in company.leads if l.stage == "cooling"}
        with demo.uow_factory() as uow:
            owner_ids = set(uow.people.ids_by_email(owners).values())
        assert owner_ids <= {int(d[3:]) for d in destinations if d.startswith("dm:")}


def test_loading_again_adds_nothing(demo):
    before = len(posts(demo))
    assert demo_data.ensure(demo) is None  # not empty any more, nothing left to catch up
    demo.dispatcher.drain()
    assert len(posts(demo)) == before


def test_an_empty_database_is_filled_on_start_only_when_demo_data_is_on(make_container):
    c = make_container(local_workspace=True, demo_data=False)
    assert demo_data.ensure(c) is None
    assert demo_data.is_empty(c)


def test_event_types_no_flow_handles_yet_are_skipped_with_a_log_line_then_fed_when_one_does(make_container, caplog):
    c = make_container(local_workspace=True)
    full = c.registry
    if "deal.closed_won" not in full.events:
        pytest.skip("no flow handles deal.closed_won in this tree")
    c.registry = Registry.build([f for f in full.flows if "deal.closed_won" not in f.events])
    with caplog.at_level(logging.INFO, logger="bot.local.demo_data"):
        loaded = demo_data.ensure(c)
    assert loaded.skipped == {"deal.closed_won": 9}
    assert "deal.closed_won event(s) skipped: no flow handles deal.closed_won yet" in caplog.text
    with c.uow_factory() as uow:
        assert (
            uow.deals.by_crm_id(
                "D-" + demo_data.generate(c.config, ANCHOR).of_type("deal.closed_won")[0]["data"]["lead_id"][2:]
            )
            is None
        )

    c.registry = full  # a later version of the product, started on the same database
    caught = demo_data.ensure(c)
    assert caught.accepted == 9
    assert demo_data.ensure(c) is None


# --- time passing -----------------------------------------------------------------------------


def test_a_day_passing_cools_the_leads_just_handed_over(demo):
    if "cooling" not in demo.registry.jobs:
        pytest.skip("no cooling job in this tree")
    company = demo_data.generate(demo.config, ANCHOR)
    fresh_owners = {l.owner_email for l in company.leads if l.stage == "fresh"}
    with demo.uow_factory() as uow:
        fresh_ids = {f"dm:{i}" for i in uow.people.ids_by_email(fresh_owners).values()}
    before = Counter(d for d, _, _ in posts(demo))
    result = clock.advance(demo, timedelta(days=1))
    demo.dispatcher.drain()
    after = Counter(d for d, _, _ in posts(demo))
    assert result.steps == 48 and result.jobs["cooling"] > 0
    assert any(after[d] > before[d] for d in fresh_ids)
    assert after["channel:sales"] > before["channel:sales"]  # escalations reach the channel


def test_next_monday_brings_both_teams_weekly_digest(demo):
    if "digest" not in demo.registry.jobs:
        pytest.skip("no digest job in this tree")
    now = demo.deps.now()
    target = clock.next_monday(now, ["America/New_York", "Europe/London"])
    before = Counter(d for d, _, _ in posts(demo))
    result = clock.advance(demo, target - now)
    demo.dispatcher.drain()
    after = Counter(d for d, _, _ in posts(demo))
    assert result.jobs["digest"] >= 2
    assert after["channel:sales"] > before["channel:sales"] and after["channel:marketing"] > before["channel:marketing"]


def test_next_monday_is_nine_oclock_in_every_teams_timezone():
    tzs = ["America/New_York", "Europe/London"]
    # Monday 10:00 in London, 05:00 in New York: New York's Monday morning is still to come.
    assert clock.next_monday(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc), tzs) == datetime(
        2026, 11, 23, 14, 0, tzinfo=timezone.utc
    )
    # Monday 15:00 UTC: both have had theirs; next week's.
    assert clock.next_monday(ANCHOR, tzs) == datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)


def test_the_simulated_clock_offset_is_kept_in_the_database_and_restored_on_start(make_container):
    first = make_container(local_workspace=True, demo_data=False, clock=OffsetClock())
    clock.advance(first, timedelta(hours=5), step=timedelta(hours=5))
    second = make_container(local_workspace=True, demo_data=False, clock=OffsetClock())
    assert clock.restore(second) == timedelta(hours=5)
    assert clock.describe(second)["ahead"] == "+5 h ahead of real time"


def test_a_running_workspace_catches_up_with_time_moved_elsewhere_but_never_goes_back(make_container):
    server = make_container(local_workspace=True, demo_data=False, clock=OffsetClock(timedelta(hours=3)))
    cli = make_container(local_workspace=True, demo_data=False, clock=OffsetClock())
    clock.advance(cli, timedelta(hours=1), step=timedelta(hours=1))  # saves 1 h: behind the server
    clock.sync(server)
    assert server.deps.clock.offset == timedelta(hours=3)
    clock.advance(cli, timedelta(hours=4), step=timedelta(hours=4))  # now 5 h
    clock.sync(server)
    assert server.deps.clock.offset == timedelta(hours=5)


def test_time_only_moves_forward_and_by_at_most_two_months():
    with pytest.raises(ValueError, match="forward"):
        clock.advance(None, timedelta(0))
    with pytest.raises(ValueError, match="at most 62 days"):
        clock.advance(None, timedelta(days=100))


# --- python -m bot demo --------------------------------------------------------------------------


def test_python_m_bot_demo_loads_the_company_moves_time_and_prints_what_was_posted(
    engine, database_url, monkeypatch, capsys
):
    from bot.cli import main

    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "TEAMS_CLIENT_ID", "LOCAL_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert main(["demo", "--hours", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "demo company loaded:" in out
    assert "(4 steps; jobs done:" in out
    assert "new message(s) posted" in out

    assert main(["demo", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert "demo company loaded" not in out and "(48 steps;" in out


def test_python_m_bot_demo_refuses_to_run_against_a_slack_deployment(database_url, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.delenv("LOCAL_WORKSPACE", raising=False)
    assert main(["demo", "--days", "1"]) == 2
    assert "only in the local workspace" in capsys.readouterr().err


def test_the_demo_company_lives_on_while_the_workspace_clock_moves(make_container):
    from bot.local.workspace import LocalWorkspace

    c = make_container(local_workspace=True, demo_life=True)
    demo_data.load(c)
    c.dispatcher.drain()
    with c.uow_factory() as uow:
        leads_before = uow.session.exec(select(func.count()).select_from(Lead)).one()
        touches_before = uow.session.exec(
            select(func.count()).select_from(LeadEvent).where(LeadEvent.kind == "follow_up")
        ).one()
    answer = LocalWorkspace(c).move_clock(to="day")
    with c.uow_factory() as uow:
        leads_after = uow.session.exec(select(func.count()).select_from(Lead)).one()
        touches_after = uow.session.exec(
            select(func.count()).select_from(LeadEvent).where(LeadEvent.kind == "follow_up")
        ).one()
    assert leads_after > leads_before, "new leads arrive"
    assert touches_after > touches_before, "reps follow up"
    assert "The company went on:" in answer["notice"] and "new leads" in answer["notice"]


def test_the_demo_company_keeps_still_when_told_to(make_container):
    from bot.local.workspace import LocalWorkspace

    c = make_container(local_workspace=True, demo_life=False)
    demo_data.load(c)
    answer = LocalWorkspace(c).move_clock(to="hour")
    assert "The company went on" not in answer["notice"]


def test_what_the_company_did_is_said_in_plain_words():
    from bot.local.life import LifeStats

    result = clock.Advance(ANCHOR, ANCHOR, life=LifeStats(leads=3, follow_ups=1, deals=1))
    assert clock.told(result) == "The company went on: 3 new leads, 1 follow-up, 1 deal won."
    assert clock.told(clock.Advance(ANCHOR, ANCHOR, life=LifeStats())) == ""
