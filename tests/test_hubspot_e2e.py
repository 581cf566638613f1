"""HubSpot end to end: the HubSpot stand-in sends signed webhooks to the real HTTP server, the
connector's worker reads the objects back through the official client, the flows run unchanged and
post to the Slack mock; what reps do in Slack is written back to the stand-in's contacts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.dispatch import wait_until_delivered
from handlers.ports import OffsetClock
from tests import slack_requests as sr
from tests.conftest import SIGNING_SECRET
from tests.hubspot_helpers import (  # noqa: F401 - fixtures
    CLIENT_SECRET,
    changes,
    hubspot,
    hubspot_server,
    hubspot_settings,
    ms,
    shown,
    wait_until,
)
from tests.hubspot_standin import sign_v3
from tests.conftest import demo_config_with_slack, ladder_config


@pytest.fixture
def app(make_container, live_server, slack, hubspot):
    # Real time for the dispatcher's and the worker's waits (tests' settings retry after 0.05 s).
    # On the wall clock: no quiet hours (a run at night would hold the handoff until the morning).
    container = make_container(
        slack_mock=slack,
        clock=OffsetClock(),
        config=ladder_config(demo_config_with_slack()),
        **hubspot_settings(hubspot),
    )
    server = live_server(container)
    hubspot.subscribe(f"{server.url}/webhooks/hubspot", CLIENT_SECRET)
    container.extras["hubspot"].start(poll=0.05)
    return server


def settle(c) -> None:
    from sqlmodel import select

    from storage.models import Outbox

    wait_until(lambda: not changes(c), what="the change queue to empty")
    with c.uow_factory() as uow:
        keys = list(uow.session.exec(select(Outbox.key)))
    assert wait_until_delivered(c.uow_factory, keys, timeout=10)


def new_contact(hubspot, now, **props) -> str:
    base = {
        "email": "jane@acme.example",
        "firstname": "Jane",
        "lastname": "Doe",
        "company": "Acme",
        "lifecyclestage": "marketingqualifiedlead",
        "hubspot_owner_id": "101",
        "hs_analytics_first_touch_converting_campaign": "cmp-webinar",
        "first_conversion_date": (now - timedelta(days=20)).isoformat(),
        "hs_analytics_last_touch_converting_campaign": "cmp-demo",
        "recent_conversion_date": (now - timedelta(days=3)).isoformat(),
    }
    return hubspot.add_contact({**base, **props}, at_ms=ms(now - timedelta(days=1)))


def test_a_contact_reaching_the_qualified_stage_is_handed_to_its_owner_in_slack(app, hubspot, slack):
    now = app.container.deps.now()
    hubspot.add_campaign("cmp-webinar", "Data Summit Webinar", owner_id="201")
    cid = new_contact(hubspot, now)
    assert [r.status_code for r in hubspot.send_webhooks()] == [200]  # the creation: a lead, not yet sales'
    settle(app.container)
    assert slack.messages(slack.dm_channel("U_ANA")) == []

    hubspot.update_contact(cid, {"lifecyclestage": "salesqualifiedlead"})
    [resp] = hubspot.send_webhooks()
    assert resp.status_code == 200 and resp.json() == {"queued": 1, "ignored": 0}
    settle(app.container)
    [handoff] = slack.messages(slack.dm_channel("U_ANA"))
    text = shown(handoff)
    assert "Jane Doe" in text and "Acme" in text
    assert "Data Summit Webinar" in text  # the source campaign, by its HubSpot name
    with app.container.uow_factory() as uow:
        lead = uow.leads.by_crm_id(cid)
    assert lead.status == "qualified" and lead.owner_email == "ana@northwind.example"

    hubspot.update_contact(cid, {"firstname": "Janet"})  # another change: no second handoff
    hubspot.send_webhooks()
    settle(app.container)
    assert len(slack.messages(slack.dm_channel("U_ANA"))) == 1


def test_a_deal_moved_to_closed_won_is_celebrated_crediting_hubspots_campaigns(app, hubspot, slack):
    now = app.container.deps.now()
    hubspot.add_campaign("cmp-webinar", "Data Summit Webinar", owner_id="201")
    hubspot.add_campaign("cmp-demo", "Live Demo Days", owner_id="201")
    cid = new_contact(hubspot, now, lifecyclestage="opportunity")
    deal = hubspot.add_deal(
        {
            "dealname": "Acme platform",
            "amount": "48000",
            "dealstage": "contractsent",
            "hubspot_owner_id": "101",
            "closedate": now.isoformat(),
        },
        contact=cid,
        at_ms=ms(now - timedelta(hours=2)),
    )
    hubspot.send_webhooks()
    settle(app.container)
    assert slack.messages("C_WINS") == []  # not won yet

    hubspot.update_deal(deal, {"dealstage": "closedwon"})
    hubspot.send_webhooks()
    settle(app.container)
    [post] = slack.messages("C_WINS")
    text = shown(post)
    assert "Acme platform" in text and "$48,000" in text and "Ana Torres" in text
    assert "Data Summit Webinar" in text  # first touch converting campaign: sourced it
    assert "Live Demo Days" in text  # last touch converting campaign: converted it

    hubspot.update_deal(deal, {"amount": "49000"})  # edited after the close: celebrated once
    hubspot.send_webhooks()
    settle(app.container)
    assert len(slack.messages("C_WINS")) == 1


def test_a_bounce_in_slack_shows_up_on_the_hubspot_contact(app, hubspot, slack):
    now = app.container.deps.now()
    cid = new_contact(hubspot, now, lifecyclestage="salesqualifiedlead", hs_lead_status="OPEN")
    hubspot.send_webhooks()
    settle(app.container)

    body, ctype = sr.slash_command(f"bounce {cid} not_icp Two-person agency, far too small", user_id="U_ANA")
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200 and "Bounced" in resp.json()["text"]
    settle(app.container)
    contact = hubspot.get("contact", cid)["properties"]
    assert contact["hs_lead_status"] == "UNQUALIFIED"
    assert contact["lifecyclestage"] == "marketingqualifiedlead"  # moved back (cleared, then set)
    [note] = hubspot.notes_of(cid)
    body_html = note["properties"]["hs_note_body"]
    assert "Bounced back to marketing by Ana Torres" in body_html and "Not our customer profile" in body_html
    assert "Two-person agency, far too small" in body_html
    assert note["properties"]["hubspot_owner_id"] == "101"  # written as Ana

    # HubSpot tells us about our own write: the lead stays with marketing, nobody is pinged again.
    hubspot.send_webhooks()
    settle(app.container)
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id(cid).status == "nurture"
    assert len(slack.messages(slack.dm_channel("U_ANA"))) == 1  # only the first handoff


def test_a_follow_up_logged_in_slack_becomes_a_note_on_the_contact(app, hubspot, slack):
    now = app.container.deps.now()
    cid = new_contact(hubspot, now, lifecyclestage="salesqualifiedlead")
    hubspot.send_webhooks()
    settle(app.container)

    body, ctype = sr.slash_command("touch jane@acme.example Called, demo booked for Thursday", user_id="U_ANA")
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert "Logged your follow-up" in resp.json()["text"]
    settle(app.container)
    [note] = hubspot.notes_of(cid)
    assert (
        "Follow-up logged by Ana Torres in Smarketing: Called, demo booked for Thursday"
        in note["properties"]["hs_note_body"]
    )


def test_a_writeback_hubspot_rejects_is_dead_and_counted_not_lost_silently(app, hubspot, slack):
    app.container.config.hubspot.on_bounce.lead_status = "NOT_A_STATUS"  # not an option in HubSpot
    now = app.container.deps.now()
    cid = new_contact(hubspot, now, lifecyclestage="salesqualifiedlead")
    hubspot.send_webhooks()
    settle(app.container)
    body, ctype = sr.slash_command(f"bounce {cid} no_budget", user_id="U_ANA")
    with app.client() as http:
        http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
        settle(app.container)
        metrics = http.get("/metrics").text
    assert 'smarketing_deliveries_total{outcome="dead",platform="hubspot"} 1.0' in metrics
    assert 'smarketing_outbox_messages{status="dead"} 1.0' in metrics
    with app.container.uow_factory() as uow:
        [dead] = uow.outbox.dead()
    assert dead.destination == "webhook:crm" and "NOT_A_STATUS" in dead.last_error


def test_a_forged_or_stale_signature_is_refused_and_nothing_is_stored(app, hubspot):
    url = f"{app.url}/webhooks/hubspot"
    body = json.dumps(
        [
            {
                "objectId": 1001,
                "subscriptionType": "contact.propertyChange",
                "occurredAt": 1,
                "propertyName": "lifecyclestage",
                "propertyValue": "salesqualifiedlead",
            }
        ]
    ).encode()
    stale_ms = ms(app.container.deps.now() - timedelta(minutes=6))
    with app.client() as http:
        forged = http.post(url, content=body, headers=sign_v3("not-the-secret", url, body))
        stale = http.post(url, content=body, headers=sign_v3(CLIENT_SECRET, url, body, timestamp_ms=stale_ms))
        unsigned = http.post(url, content=body, headers={"Content-Type": "application/json"})
        other_url = http.post(url, content=body, headers=sign_v3(CLIENT_SECRET, url + "?x=1", body))
        good = http.post(url, content=body, headers=sign_v3(CLIENT_SECRET, url, body))
        not_json = http.post(url, content=b"[{", headers=sign_v3(CLIENT_SECRET, url, b"[{"))
        too_big = http.post(url, content=b"[" + b" " * (1024 * 1024) + b"]", headers=sign_v3(CLIENT_SECRET, url, b"[]"))
    assert (forged.status_code, forged.json()) == (401, {"error": "signature does not match"})
    assert (stale.status_code, stale.json()) == (401, {"error": "request timestamp is outside the 5-minute window"})
    assert unsigned.status_code == 401 and other_url.status_code == 401
    assert (good.status_code, not_json.status_code, too_big.status_code) == (200, 400, 413)
    with app.container.uow_factory() as uow:
        assert uow.inbound.claim("probe", ["x"], app.container.deps.now())  # the database is fine
    stored = [(c.kind, c.object_id) for c in changes(app.container)] or [("contact", "1001")]
    assert stored == [("contact", "1001")]  # only the good request's (it may already be read)
