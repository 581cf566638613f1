"""Salesforce end to end: the connector polls the Salesforce stand-in (HTTPS, signed in with the JWT
bearer flow), the flows run unchanged and post to the Slack mock through the real HTTP server;
what reps do in Slack is written back to the stand-in's leads as statuses and Tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.dispatch import wait_until_delivered
from handlers.ports import OffsetClock
from storage.models import Outbox
from tests import slack_requests as sr
from tests.conftest import demo_config_with_slack, ladder_config
from tests.conftest import SIGNING_SECRET
from tests.hubspot_helpers import shown
from tests.salesforce_helpers import (  # noqa: F401 - fixtures
    app_keys,
    salesforce,
    salesforce_server,
    salesforce_settings,
)


@pytest.fixture
def app(make_container, live_server, slack, salesforce, app_keys):
    # On the wall clock: no quiet hours (a run at night would hold the handoff until the morning).
    container = make_container(
        slack_mock=slack,
        clock=OffsetClock(),
        config=ladder_config(demo_config_with_slack()),
        **salesforce_settings(salesforce, app_keys),
    )
    salesforce.now = container.deps.now
    server = live_server(container)
    assert container.extras["salesforce"].poll_once() == 0  # the cursors start now
    return server


def poll(app) -> None:
    """A poll (what the worker does every ``salesforce.poll_seconds``), then every message delivered."""
    c = app.container
    c.extras["salesforce"].poll_once()
    with c.uow_factory() as uow:
        keys = list(uow.session.exec(select(Outbox.key)))
    assert wait_until_delivered(c.uow_factory, keys, timeout=10)


def slash(app, text: str, user: str = "U_ANA") -> dict:
    body, ctype = sr.slash_command(text, user_id=user)
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200
    return resp.json()


def settle(app) -> None:
    c = app.container
    with c.uow_factory() as uow:
        keys = list(uow.session.exec(select(Outbox.key)))
    assert wait_until_delivered(c.uow_factory, keys, timeout=10)


def new_lead(salesforce, **fields) -> str:
    base = dict(
        FirstName="Jane",
        LastName="Doe",
        Email="jane@acme.example",
        Company="Acme",
        Title="VP Data",
        Status="Working",
        Rating="Warm",
        OwnerId=salesforce.user_ids["ana@northwind.example"],
    )
    return salesforce.add("Lead", **{**base, **fields})


def webinar(salesforce) -> str:
    return salesforce.add(
        "Campaign", Name="Data Summit Webinar", Type="Webinar", OwnerId=salesforce.user_ids["kira@northwind.example"]
    )


def test_a_salesforce_lead_turning_qualified_is_handed_to_its_owner_in_slack(app, salesforce, slack):
    camp = webinar(salesforce)
    lid = new_lead(salesforce)
    salesforce.add("CampaignMember", CampaignId=camp, LeadId=lid, Status="Responded")
    poll(app)
    assert slack.messages(slack.dm_channel("U_ANA")) == []  # working it: not sales' yet

    salesforce.update("Lead", lid, Status="Qualified")
    poll(app)
    [handoff] = slack.messages(slack.dm_channel("U_ANA"))
    text = shown(handoff)
    assert "Jane Doe" in text and "Acme" in text
    assert "Data Summit Webinar" in text  # the campaign the lead came from, by its Salesforce name
    with app.container.uow_factory() as uow:
        lead = uow.leads.by_crm_id(lid)
    assert lead.status == "qualified" and lead.owner_email == "ana@northwind.example"

    salesforce.update("Lead", lid, Title="Chief Data Officer")  # another change: no second handoff
    poll(app)
    assert len(slack.messages(slack.dm_channel("U_ANA"))) == 1


def test_a_won_opportunity_is_celebrated_crediting_its_primary_campaign_source(app, salesforce, slack):
    camp = webinar(salesforce)
    lid = new_lead(salesforce, Status="Qualified")
    contact = salesforce.add(
        "Contact",
        FirstName="Jane",
        LastName="Doe",
        Email="jane@acme.example",
        OwnerId=salesforce.user_ids["ana@northwind.example"],
    )
    opp = salesforce.add(
        "Opportunity",
        Name="Acme platform",
        Amount=48000,
        StageName="Negotiation",
        CloseDate=app.container.deps.now().date(),
        CampaignId=camp,
        ContactId=contact,
        OwnerId=salesforce.user_ids["ana@northwind.example"],
    )
    salesforce.convert(lid, contact_id=contact, opportunity_id=opp)
    poll(app)
    assert slack.messages("C_WINS") == []  # not won yet

    salesforce.update("Opportunity", opp, StageName="Closed Won")
    poll(app)
    [post] = slack.messages("C_WINS")
    text = shown(post)
    assert "Acme platform" in text and "$48,000" in text and "Ana Torres" in text
    assert "Data Summit Webinar" in text  # Salesforce's Primary Campaign Source, credited
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id(lid).status == "converted"  # the lead it came from: no more alerts

    salesforce.update("Opportunity", opp, Amount=49000)  # edited after the close: celebrated once
    poll(app)
    assert len(slack.messages("C_WINS")) == 1


def test_a_bounce_in_slack_sets_the_lead_status_and_records_the_reason_as_a_task(app, salesforce, slack):
    lid = new_lead(salesforce, Status="Qualified")
    poll(app)
    reply = slash(app, f"bounce {lid} not_icp Two-person agency, far too small")
    assert "Bounced" in reply["text"]
    settle(app)
    assert salesforce.get("Lead", lid)["Status"] == "Nurturing"
    [task] = salesforce.tasks_of(lid)
    assert task["Subject"].startswith("Bounced back to marketing: Not our customer profile [smk-")
    assert task["Status"] == "Completed" and task["OwnerId"] == salesforce.user_ids["ana@northwind.example"]
    assert (
        "Bounced back to marketing by Ana Torres in Smarketing: Not our customer profile. Note: Two-person "
        "agency, far too small" in task["Description"]
    )

    # The next poll reads our own write: the lead stays with marketing, nobody is pinged again.
    poll(app)
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id(lid).status == "nurture"
    assert len(slack.messages(slack.dm_channel("U_ANA"))) == 1  # only the first handoff


def test_a_follow_up_logged_in_slack_becomes_a_completed_task_counted_once(app, salesforce, slack):
    lid = new_lead(salesforce, Status="Qualified")
    poll(app)
    reply = slash(app, "touch jane@acme.example Called, demo booked for Thursday")
    assert "Logged your follow-up" in reply["text"]
    settle(app)
    [task] = salesforce.tasks_of(lid)
    assert task["Subject"].startswith("Follow-up: Called, demo booked for Thursday [smk-") and task["IsClosed"]
    assert "Follow-up logged by Ana Torres in Smarketing: Called, demo booked for Thursday" in task["Description"]

    poll(app)  # the Task we wrote comes back in the poll: it is not a second follow-up
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id(lid).touch_count == 1

    call = salesforce.add(
        "Task",
        WhoId=lid,
        Subject="Call",
        TaskSubtype="Call",
        Status="Completed",
        OwnerId=salesforce.user_ids["ana@northwind.example"],
    )
    poll(app)  # a call the rep logged in Salesforce is one
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id(lid).touch_count == 2
    assert salesforce.get("Task", call)["IsClosed"]


def test_a_writeback_salesforce_refuses_is_dead_and_counted_not_lost_silently(app, salesforce, slack):
    app.container.config.salesforce.on_bounce.lead_status = "Recycled"  # not a value of Lead.Status
    lid = new_lead(salesforce, Status="Qualified")
    poll(app)
    slash(app, f"bounce {lid} no_budget")
    settle(app)
    with app.client() as http:
        metrics = http.get("/metrics").text
    assert 'smarketing_deliveries_total{outcome="dead",platform="salesforce"} 1.0' in metrics
    assert 'smarketing_outbox_messages{status="dead"} 1.0' in metrics
    assert 'smarketing_connector_api_usage{kind="max",source="salesforce"} 100000.0' in metrics
    with app.container.uow_factory() as uow:
        [dead] = uow.outbox.dead()
    assert dead.destination == "webhook:crm" and "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in dead.last_error
    assert salesforce.get("Lead", lid)["Status"] == "Qualified"


def test_a_writeback_while_salesforce_is_down_is_retried_until_it_lands(app, salesforce, slack):
    lid = new_lead(salesforce, Status="Qualified")
    poll(app)
    salesforce.fail_next(3, status=503, path="/sobjects/Lead/")
    app.container.extras["salesforce"].api.sleep = lambda s: None
    slash(app, f"bounce {lid} no_budget")
    settle(app)
    assert salesforce.get("Lead", lid)["Status"] == "Nurturing"
    assert len(salesforce.tasks_of(lid)) == 1
    with app.client() as http:
        metrics = http.get("/metrics").text
    assert 'smarketing_deliveries_total{outcome="retry",platform="salesforce"} 1.0' in metrics


def test_hand_off_timing_uses_the_leads_own_stamp(app, salesforce):
    """A lead qualified a minute ago is handed off as of then, not as of the poll."""
    lid = new_lead(salesforce, Status="Qualified", at=app.container.deps.now() - timedelta(minutes=1))
    poll(app)
    with app.container.uow_factory() as uow:
        lead = uow.leads.by_crm_id(lid)
    assert abs((lead.qualified_at - (app.container.deps.now() - timedelta(minutes=1))).total_seconds()) < 5
