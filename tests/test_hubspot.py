"""The HubSpot connector against the stand-in (no HTTP server of ours): rate limits, unreadable
objects, missing scopes, the check, the resumable import, polling, the mapping rules."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config, parse_config
from bot.connectors.hubspot import translate as tr
from bot.connectors.hubspot.api import HubSpotError
from bot.connectors.hubspot.connector import startup_lines
from bot.connectors.hubspot.writeback import HubSpotDeliverer
from tests.hubspot_helpers import (  # noqa: F401 - fixtures
    TOKEN,
    changes,
    hubspot,
    hubspot_server,
    hubspot_settings,
    ms,
)

EARLIER = datetime(2026, 1, 1, tzinfo=timezone.utc)  # an earlier attempt may have written already


@pytest.fixture
def app(make_container, hubspot):
    return make_container(**hubspot_settings(hubspot))


def connector(app):
    return app.extras["hubspot"]


def notify(app, kind: str, *object_ids: str) -> None:
    at = ms(app.deps.now())
    connector(app).accept_notifications(
        [
            {
                "objectId": int(i),
                "subscriptionType": f"{kind}.propertyChange",
                "occurredAt": at,
                "propertyName": "lifecyclestage",
            }
            for i in object_ids
        ]
    )


def lead(app, crm_id: str):
    with app.uow_factory() as uow:
        return uow.leads.by_crm_id(crm_id)


def metric(app, name: str, **labels) -> float:
    return app.metrics.registry.get_sample_value(name, labels) or 0.0


def contact(hubspot, app, n: int = 1, **props) -> str:
    base = {
        "email": f"lead{n}@acme.example",
        "firstname": "Lead",
        "lastname": str(n),
        "company": "Acme",
        "lifecyclestage": "lead",
        "hubspot_owner_id": "101",
    }
    return hubspot.add_contact({**base, **props}, at_ms=ms(app.deps.now() - timedelta(hours=1)), notify=False)


# --- rate limits -----------------------------------------------------------------------------------


def test_a_rate_limited_read_is_waited_out_as_hubspots_headers_say(app, hubspot):
    hubspot.set_limits(burst=100, burst_seconds=0.2)  # the 429's interval header: 200 ms
    cid = contact(hubspot, app)
    notify(app, "contact", cid)
    hubspot.rate_limit_next(2)
    assert connector(app).sync() == 1
    assert lead(app, cid).email == "lead1@acme.example"
    assert hubspot.rate_limited == 2 and connector(app).api.rate_limited == 2
    assert metric(app, "smarketing_connector_requests_total", source="hubspot", outcome="rate_limited") == 2


def test_a_change_still_rate_limited_goes_back_in_the_queue_and_is_read_later(app, hubspot, clock):
    hubspot.set_limits(burst=100, burst_seconds=0.05)
    cid = contact(hubspot, app, lifecyclestage="salesqualifiedlead")
    notify(app, "contact", cid)
    hubspot.rate_limit_next(connector(app).api.max_waits + 1)  # past what one pass waits out
    connector(app).sync()
    [waiting] = changes(app)
    assert waiting.object_id == cid and waiting.attempts == 0 and "rate limit" in waiting.last_error
    assert lead(app, cid) is None
    assert connector(app).sync() == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert connector(app).sync() == 1
    assert lead(app, cid).status == "qualified"  # the change was not lost
    assert changes(app) == []


def test_a_change_that_arrives_while_its_object_is_read_is_read_again(app, hubspot):
    cid = contact(hubspot, app)
    notify(app, "contact", cid)
    c = connector(app)
    with app.uow_factory() as uow:
        claimed = uow.changes.claim(
            "hubspot", worker=c.worker, now=app.deps.now(), lease=timedelta(minutes=1), limit=10
        )
        uow.commit()
    hubspot.update_contact(cid, {"lifecyclestage": "salesqualifiedlead"}, at_ms=ms(app.deps.now()))
    notify(app, "contact", cid)  # arrives mid-read
    c.resolve(claimed)  # read the object; the new notification keeps its row
    assert [ch.object_id for ch in changes(app)] == [cid]
    assert c.sync() == 1 and changes(app) == []
    assert lead(app, cid).status == "qualified"


# --- objects that cannot be read -------------------------------------------------------------------


def test_an_object_the_token_cannot_read_is_logged_once_counted_and_not_retried(app, hubspot, caplog):
    readable, hidden = contact(hubspot, app, 1), contact(hubspot, app, 2)
    hubspot.hide("contact", hidden)
    notify(app, "contact", readable, hidden)
    with caplog.at_level(logging.WARNING, logger="bot.connectors"):
        assert connector(app).sync() == 2
        assert connector(app).sync() == 0  # dropped, not retried
    assert lead(app, readable) is not None and lead(app, hidden) is None
    assert [r.getMessage() for r in caplog.records if hidden in r.getMessage()] == [
        f"hubspot: cannot read contact {hidden} (not_found): HubSpot answers that it does not exist or this token "
        "may not see it; dropped"
    ]
    assert (
        metric(app, "smarketing_connector_unreadable_total", source="hubspot", kind="contact", reason="not_found") == 1
    )
    assert changes(app) == []


def test_deals_without_the_deals_scope_are_counted_and_the_missing_scope_logged_once(app, hubspot, caplog):
    hubspot.add_token(TOKEN, scopes=["crm.objects.contacts.read", "crm.objects.owners.read"])
    d1 = hubspot.add_deal({"dealname": "A", "dealstage": "closedwon"}, notify=False)
    d2 = hubspot.add_deal({"dealname": "B", "dealstage": "closedwon"}, notify=False)
    with caplog.at_level(logging.WARNING, logger="bot.connectors"):
        notify(app, "deal", d1)
        connector(app).sync()
        notify(app, "deal", d2)
        connector(app).sync()
    logged = [r.getMessage() for r in caplog.records if "crm.objects.deals.read" in r.getMessage()]
    assert len(logged) == 1 and "lacks crm.objects.deals.read" in logged[0]
    assert (
        metric(app, "smarketing_connector_unreadable_total", source="hubspot", kind="deal", reason="missing_scopes")
        == 2
    )
    assert changes(app) == []


def test_hubspot_down_is_retried_later_with_backoff(app, hubspot, clock):
    cid = contact(hubspot, app)
    notify(app, "contact", cid)
    hubspot.fail_next(3, status=502, path="/batch/read")
    connector(app).sync()
    [waiting] = changes(app)
    assert waiting.attempts == 1 and "did not answer" in waiting.last_error
    clock.advance(timedelta(seconds=31))
    connector(app).sync()
    assert lead(app, cid) is not None and changes(app) == []


# --- the token: check and start-up -----------------------------------------------------------------


def test_hubspot_check_says_what_the_token_reads_and_which_scopes_are_missing(
    app, hubspot, monkeypatch, capsys, database_url
):
    hubspot.add_token(TOKEN, scopes=["crm.objects.contacts.read", "crm.objects.owners.read"])
    for k, v in {
        "DATABASE_URL": database_url,
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "LOCAL_WORKSPACE": "false",
    }.items():
        monkeypatch.setenv(k, v)
    assert main(["hubspot", "check"]) == 1
    out = capsys.readouterr().out
    assert "HubSpot (hub 4242): the token can read contacts, owners" in out
    assert "missing scope crm.objects.deals.read: deals: wins" in out
    assert "missing scope crm.objects.contacts.write: writing bounces and chat follow-ups back" in out
    assert "missing scope marketing.campaigns.read" in out

    hubspot.add_token(TOKEN)
    assert main(["hubspot", "check"]) == 0
    assert "HubSpot: OK" in capsys.readouterr().out

    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-revoked")
    assert main(["hubspot", "check"]) == 1
    assert "the access token was refused" in capsys.readouterr().out


def test_start_up_names_the_missing_scopes(app, hubspot, caplog):
    hubspot.add_token(TOKEN, scopes=["crm.objects.contacts.read", "crm.objects.contacts.write"])
    with caplog.at_level(logging.WARNING):
        lines = startup_lines(connector(app), "http://127.0.0.1:3000")
    assert "  missing scope crm.objects.deals.read: deals: wins" in lines
    assert "  missing scope crm.objects.owners.read: owners: who owns each lead and deal" in lines
    assert "HubSpot webhooks: http://127.0.0.1:3000/webhooks/hubspot" in lines
    assert any("crm.objects.deals.read" in r.getMessage() for r in caplog.records)


# --- backfill --------------------------------------------------------------------------------------


def seed_quarter(hubspot, app, contacts: int = 450, deals: int = 30) -> None:
    now = app.deps.now()
    hubspot.add_campaign("cmp-1", "Spring Webinar", owner_id="201")
    ids = [
        contact(
            hubspot,
            app,
            n,
            hs_analytics_first_touch_converting_campaign="cmp-1",
            first_conversion_date=(now - timedelta(days=40)).isoformat(),
            lifecyclestage="salesqualifiedlead" if n % 10 == 0 else "lead",
        )
        for n in range(contacts)
    ]
    for n in range(deals):
        hubspot.add_deal(
            {
                "dealname": f"Deal {n}",
                "amount": "1000",
                "dealstage": "closedwon" if n % 3 else "appointmentscheduled",
                "hubspot_owner_id": "102",
                "closedate": (now - timedelta(days=2)).isoformat(),
            },
            contact=ids[n],
            notify=False,
        )


def counts(app) -> dict:
    from sqlmodel import func, select

    from storage.models import CampaignTouch, Deal, Lead, Outbox

    with app.uow_factory() as uow:
        return {
            m.__name__: uow.session.exec(select(func.count()).select_from(m)).one()
            for m in (Lead, Deal, CampaignTouch, Outbox)
        }


def test_the_import_resumes_where_it_stopped_and_a_second_run_changes_nothing(app, hubspot):
    seed_quarter(hubspot, app)
    c = connector(app)
    since = app.deps.now() - timedelta(days=30)
    # HubSpot goes down after the contacts' count and two pages of 200.
    hubspot.fail_next(3, status=503, path="/contacts/search", after=3)
    with pytest.raises(HubSpotError):
        c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    first = counts(app)
    assert first["Lead"] == 400 and first["Deal"] == 0
    state = c.cursor("import")
    assert state["stage"] == "contacts" and state["cursor"]["last_id"] and not state.get("finished")

    report = c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    assert report.resumed
    resumed_from = [r["body"] for r in hubspot.calls("/contacts/search") if r["body"]["limit"] == 200][-1]
    assert {"propertyName": "hs_object_id", "operator": "GT", "value": state["cursor"]["last_id"]} in resumed_from[
        "filterGroups"
    ][0]["filters"]  # it went on from the stored cursor
    assert report.stages["contacts"]["read"] == 450  # 400 before, 50 now: nothing read twice
    second = counts(app)
    assert second["Lead"] == 450 and second["Deal"] == 20  # the 20 won deals of 30
    assert second["CampaignTouch"] == 450

    again = c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    assert not again.resumed and again.accepted == 0
    assert counts(app) == second  # nothing changed


def test_the_import_command_prints_what_it_read(app, hubspot, monkeypatch, capsys, database_url):
    seed_quarter(hubspot, app, contacts=12, deals=3)
    for k, v in {
        "DATABASE_URL": database_url,
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "LOCAL_WORKSPACE": "false",
    }.items():
        monkeypatch.setenv(k, v)
    since = (app.deps.now() - timedelta(days=30)).date().isoformat()
    assert main(["hubspot", "import", "--since", since, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"HubSpot import since {since}:" in out
    assert "contacts: 12 read" in out and "deals: 2 read" in out
    assert main(["hubspot", "import", "--since", since, "--no-progress"]) == 0
    assert "contacts: 12 read, 0 new events" in capsys.readouterr().out


# --- polling ---------------------------------------------------------------------------------------


def test_the_poller_reads_changes_since_its_stored_cursor(make_container, hubspot, clock):
    config = load_config(None)
    config.hubspot.poll = "on"
    app = make_container(config=config, **hubspot_settings(hubspot, hubspot_client_secret=None))
    c = connector(app)
    assert c.polling
    old = contact(hubspot, app, 1)
    assert c.poll_if_due() == 0  # the first poll starts now; the import brings the history
    start = c.cursor("poll")
    assert start["contacts"] == app.deps.now().isoformat()
    clock.advance(timedelta(minutes=5))
    new = hubspot.add_contact(
        {"email": "new@acme.example", "lifecyclestage": "salesqualifiedlead", "hubspot_owner_id": "101"},
        at_ms=ms(app.deps.now()),
        notify=False,
    )
    hubspot.update_contact(old, {"firstname": "Renamed"}, at_ms=ms(app.deps.now() - timedelta(minutes=70)))
    assert c.poll_if_due() == 1
    assert lead(app, new).status == "qualified" and lead(app, old) is None  # older than the cursor
    assert c.cursor("poll")["contacts"] > start["contacts"]
    assert c.poll_if_due() == 0  # not due again before poll_seconds
    clock.advance(timedelta(seconds=61))
    assert c.poll_if_due() == 1  # the overlap re-reads the last one; its events are known
    assert metric(app, "smarketing_connector_events_total", source="hubspot", outcome="duplicate") >= 1


# --- writeback -------------------------------------------------------------------------------------


def test_a_retried_writeback_does_not_write_its_note_twice(app, hubspot):
    cid = contact(hubspot, app)
    deliverer = HubSpotDeliverer(connector(app).api, app.config)
    event = {
        "id": "bounce:1:bounced",
        "type": "lead.bounced",
        "occurred_at": app.deps.now().isoformat(),
        "data": {"lead_id": cid, "reason": "no_budget", "reason_label": "No budget", "by_email": None},
    }
    deliverer.post("webhook:crm", event, key="webhook:bounce:1:bounced", since=None, people={})
    deliverer.post("webhook:crm", event, key="webhook:bounce:1:bounced", since=EARLIER, people={})
    assert len(hubspot.notes_of(cid)) == 1
    assert hubspot.get("contact", cid)["properties"]["hs_lead_status"] == "UNQUALIFIED"


def test_a_lead_from_another_crm_is_found_in_hubspot_by_email(app, hubspot):
    cid = contact(hubspot, app, 7)
    deliverer = HubSpotDeliverer(connector(app).api, app.config)
    event = {
        "id": "f",
        "type": "lead.followed_up",
        "occurred_at": app.deps.now().isoformat(),
        "data": {"lead_id": "L-7", "email": "lead7@acme.example", "note": "called"},
    }
    deliverer.post("webhook:crm", event, key="webhook:f", since=None, people={})
    [note] = hubspot.notes_of(cid)
    assert "called" in note["properties"]["hs_note_body"]


# --- the mapping ---------------------------------------------------------------------------------


def test_lead_statuses_and_custom_won_stages_come_from_the_config():
    config = parse_config(DEMO_WITH_HUBSPOT)
    qualified = {
        "id": "1",
        "updatedAt": "2026-11-23T10:00:00Z",
        "properties": {"lifecyclestage": "lead", "hs_lead_status": "CONNECTED"},
    }
    [lead_event] = [e for e in tr.contact_events(qualified, config, {}) if e["type"] == "lead.upserted"]
    assert lead_event["data"]["status"] == "SQL"  # the shared definition's first qualified status
    deal = {
        "id": "9",
        "properties": {
            "dealname": "X",
            "amount": "10.555",
            "dealstage": "1234567",
            "closedate": "2026-11-20T10:00:00Z",
        },
    }
    [won] = tr.deal_events(deal, config, {}, None)
    assert won["data"]["amount"] == "10.56" and won["data"]["currency"] == "EUR"
    assert (
        tr.deal_events({**deal, "properties": {**deal["properties"], "dealstage": "closedwon"}}, config, {}, None) == []
    )


def test_a_contact_without_a_converting_campaign_credits_its_original_source():
    config = load_config(None)
    c = {
        "id": "5",
        "updatedAt": "2026-11-23T10:00:00Z",
        "properties": {
            "email": "x@y.example",
            "hs_analytics_source": "PAID_SEARCH",
            "createdate": "2026-10-01T10:00:00Z",
        },
    }
    events = tr.contact_events(c, config, {})
    [campaign] = [e for e in events if e["type"] == "campaign.upserted"]
    assert campaign["data"] == {"id": "hubspot-source:PAID_SEARCH", "name": "Paid search", "kind": "source"}
    [touch] = [e for e in events if e["type"] == "campaign.touch"]
    assert touch["data"]["campaign_id"] == "hubspot-source:PAID_SEARCH"
    config.hubspot.credit_original_source = False
    assert [e["type"] for e in tr.contact_events(c, config, {})] == ["lead.upserted"]


def test_owners_are_people_by_email_or_by_the_configs_mapping(make_container, hubspot):
    hubspot.add_owner("300", "ana.torres@old-domain.example", "Ana", "Torres")
    config = parse_config(DEMO_WITH_HUBSPOT)
    app = make_container(config=config, **hubspot_settings(hubspot))
    emails = connector(app).owner_emails()
    assert emails["101"] == "ana@northwind.example" and emails["300"] == "ana@northwind.example"
    assert tr.owner_record(hubspot.owners["300"]) == {
        "id": "300",
        "email": "ana.torres@old-domain.example",
        "name": "Ana Torres",
        "teams": ["Sales"],
        "active": True,
    }


def test_the_hubspot_config_names_the_key_at_fault():
    with pytest.raises(ConfigError) as e:
        parse_config(DEMO_WITH_HUBSPOT.replace("ana.torres@old-domain.example: ana", "x@y.example: nobody"), "a.yaml")
    assert "hubspot.owners.x@y.example: no person with key 'nobody'" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config(DEMO_WITH_HUBSPOT.replace("follow_ups: task", "follow_ups: email"), "a.yaml")
    assert "hubspot.follow_ups: Input should be 'note', 'task' or 'off'" in str(e.value)


def test_without_a_token_the_hubspot_webhook_says_how_to_turn_it_on(make_container, live_server):
    app = live_server(make_container())
    with app.client() as http:
        resp = http.post("/webhooks/hubspot", content=b"[]")
    assert resp.status_code == 503 and "HUBSPOT_CLIENT_SECRET" in resp.json()["error"]


def test_an_unreachable_hubspot_is_an_error_the_admin_can_read(make_container):
    app = make_container(hubspot_access_token=TOKEN, hubspot_api_url="http://127.0.0.1:9")
    with pytest.raises(HubSpotError) as e:
        connector(app).api.batch_read("contacts", ["1"], ["email"])
    assert "HubSpot did not answer a batch read of contacts" in str(e.value)


DEMO_WITH_HUBSPOT = (
    load_config.__globals__["DEMO_CONFIG"].read_text()
    + """
wins:
  currency: EUR
hubspot:
  qualified:
    lifecycle_stages: [salesqualifiedlead]
    lead_statuses: [CONNECTED]
  closed_won_stages: ["1234567"]
  owners:
    ana.torres@old-domain.example: ana
  follow_ups: task
"""
)


def test_merges_and_association_changes_queue_the_record_they_are_about(app):
    from bot.connectors.hubspot.webhook import changes_from, problems_in

    notes = [
        {
            "subscriptionType": "contact.merge",
            "objectId": 5,
            "primaryObjectId": 7,
            "mergedObjectIds": [5],
            "occurredAt": 1,
        },
        {
            "subscriptionType": "deal.associationChange",
            "fromObjectId": 9,
            "toObjectId": 7,
            "associationType": "DEAL_TO_CONTACT",
            "occurredAt": 1,
        },
        {"subscriptionType": "object.propertyChange", "objectTypeId": "0-3", "objectId": 11, "occurredAt": 1},
        {"subscriptionType": "contact.deletion", "objectId": 12, "occurredAt": 1},
        {"subscriptionType": "company.creation", "objectId": 13, "occurredAt": 1},
    ]
    assert problems_in(notes) == []
    found, ignored = changes_from(notes)
    assert [(k, i) for k, i, _ in found] == [("contact", "7"), ("deal", "9"), ("deal", "11")] and ignored == 2
    assert problems_in([{"subscriptionType": "contact.creation"}]) == [
        "[0].objectId: must be a number",
        "[0].occurredAt: must be milliseconds since the epoch",
    ]


def test_a_sales_activity_logged_in_hubspot_is_a_follow_up_and_a_new_owner_follows(app, hubspot, clock):
    cid = contact(hubspot, app, lifecyclestage="salesqualifiedlead")
    notify(app, "contact", cid)
    connector(app).sync()
    handed = lead(app, cid)
    assert handed.status == "qualified" and handed.touch_count == 0 and handed.owner_email == "ana@northwind.example"
    clock.advance(timedelta(hours=1))
    called = app.deps.now() - timedelta(minutes=5)
    hubspot.update_contact(
        cid, {"notes_last_contacted": called.isoformat(), "hubspot_owner_id": "102"}, at_ms=ms(app.deps.now())
    )
    notify(app, "contact", cid)
    connector(app).sync()
    after = lead(app, cid)
    assert after.touch_count == 1 and after.first_touch_at == called  # the SLA clock restarted
    assert after.owner_email == "ben@northwind.example"
    assert after.sla_window == handed.sla_window + 1
    notify(app, "contact", cid)  # read again, nothing new: no second follow-up
    connector(app).sync()
    assert lead(app, cid).touch_count == 1


def test_follow_ups_can_be_written_as_completed_tasks(app, hubspot):
    app.config.hubspot.follow_ups = "task"
    cid = contact(hubspot, app)
    deliverer = HubSpotDeliverer(connector(app).api, app.config, owner_ids=connector(app).owner_id_for)
    event = {
        "id": "f",
        "type": "lead.followed_up",
        "occurred_at": app.deps.now().isoformat(),
        "data": {"lead_id": cid, "note": "demo booked", "by_email": "ana@northwind.example"},
    }
    deliverer.post("webhook:crm", event, key="webhook:f2", since=None, people={})
    assert hubspot.notes_of(cid) == []
    [task] = hubspot.notes_of(cid, kind="tasks")
    assert task["properties"]["hs_task_status"] == "COMPLETED" and task["properties"]["hubspot_owner_id"] == "101"
    assert "demo booked" in task["properties"]["hs_task_subject"]
