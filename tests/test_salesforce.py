"""The Salesforce connector against the stand-in (no HTTP server of ours): signing in, polling
from cursors, API limits, the resumable import, the org check, the writeback, the mapping."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config, parse_config
from bot.connectors.salesforce import translate as tr
from bot.connectors.salesforce.api import AuthError, SalesforceError
from bot.connectors.salesforce.writeback import SalesforceDeliverer
from bot.dispatch import PermanentError, TransientError
from tests.salesforce_helpers import (  # noqa: F401 - fixtures
    CONSUMER_KEY,
    CONSUMER_SECRET,
    app_keys,
    salesforce,
    salesforce_server,
    salesforce_settings,
)
from tests.salesforce_standin import make_key_pair

EARLIER = datetime(2026, 1, 1, tzinfo=timezone.utc)  # an earlier attempt may have written already


@pytest.fixture
def app(make_container, salesforce, app_keys):
    return make_container(**salesforce_settings(salesforce, app_keys))


def connector(app):
    return app.extras["salesforce"]


def lead(app, crm_id: str):
    with app.uow_factory() as uow:
        return uow.leads.by_crm_id(crm_id)


def metric(app, name: str, **labels) -> float:
    return app.metrics.registry.get_sample_value(name, labels) or 0.0


def new_lead(salesforce, n: int = 1, owner: str = "ana@northwind.example", **fields) -> str:
    base = dict(
        FirstName="Lead",
        LastName=str(n),
        Email=f"lead{n}@acme.example",
        Company="Acme",
        Status="Working",
        OwnerId=salesforce.user_ids[owner],
    )
    return salesforce.add("Lead", **{**base, **fields})


def start_polling(app) -> None:
    """The first poll starts the cursors now (the import brings the history)."""
    assert connector(app).poll_once() == 0


# --- signing in ------------------------------------------------------------------------------------


def test_the_jwt_is_signed_with_the_apps_key_and_a_wrong_key_is_refused_clearly(make_container, salesforce, app_keys):
    good = make_container(**salesforce_settings(salesforce, app_keys))
    assert connector(good).api.query("SELECT Id FROM Lead", "a test").records == []
    [token_call] = salesforce.calls("/services/oauth2/token")
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in token_call["body"]

    other_key, _ = make_key_pair()
    bad = make_container(**salesforce_settings(salesforce, app_keys, salesforce_private_key=other_key))
    with pytest.raises(AuthError) as e:
        connector(bad).api.query("SELECT Id FROM Lead", "a test")
    assert (
        "Salesforce refused the JWT bearer as integration@northwind.example sign-in (invalid_grant: invalid "
        "assertion)" in str(e.value)
    )
    assert "certificate on the connected app matches SALESFORCE_PRIVATE_KEY" in str(e.value)


def test_a_user_not_pre_authorised_for_the_app_is_told_how_to_fix_it(make_container, salesforce, app_keys):
    salesforce.add_app(CONSUMER_KEY, certificate=app_keys[1], users=())
    app = make_container(**salesforce_settings(salesforce, app_keys))
    with pytest.raises(AuthError) as e:
        connector(app).api.client()
    assert "user hasn't approved this consumer" in str(e.value) and "Admin approved users are pre-authorized" in str(
        e.value
    )


def test_the_client_credentials_flow_signs_in_with_the_consumer_secret(make_container, salesforce, app_keys):
    app = make_container(
        salesforce_client_id=CONSUMER_KEY, salesforce_client_secret=CONSUMER_SECRET, salesforce_login_url=salesforce.url
    )
    lid = new_lead(salesforce)
    assert [r["Id"] for r in connector(app).api.query("SELECT Id FROM Lead", "a test").records] == [lid]
    assert connector(app).api.auth.flow == "client_credentials"
    wrong = make_container(
        salesforce_client_id=CONSUMER_KEY, salesforce_client_secret="nope", salesforce_login_url=salesforce.url
    )
    with pytest.raises(AuthError, match="invalid_client: invalid client credentials"):
        connector(wrong).api.client()


def test_an_expired_session_is_signed_in_again_once_and_the_call_repeated(app, salesforce):
    api = connector(app).api
    new_lead(salesforce)
    assert len(api.query("SELECT Id FROM Lead", "a test").records) == 1
    salesforce.expire_tokens()  # the next call answers 401 INVALID_SESSION_ID
    assert len(api.query("SELECT Id FROM Lead", "a test").records) == 1
    assert len(salesforce.calls("/services/oauth2/token")) == 2


def test_credentials_that_are_incomplete_are_an_error_naming_the_variables(make_container, salesforce):
    with pytest.raises(ConfigError) as e:
        make_container(salesforce_client_id=CONSUMER_KEY, salesforce_username="x@y.example")
    assert "SALESFORCE_PRIVATE_KEY" in str(e.value) and "SALESFORCE_CLIENT_SECRET" in str(e.value)


def test_hubspot_and_salesforce_together_are_refused_clearly(make_container, salesforce, app_keys):
    with pytest.raises(ConfigError) as e:
        make_container(hubspot_access_token="pat-x", **salesforce_settings(salesforce, app_keys))
    assert "HubSpot and Salesforce are both configured" in str(e.value) and "connect one CRM at a time" in str(e.value)


def test_the_commands_refuse_both_crms_at_once_saying_why(salesforce, app_keys, monkeypatch, capsys, database_url):
    for k, v in {
        "DATABASE_URL": database_url,
        "SALESFORCE_CLIENT_ID": CONSUMER_KEY,
        "SALESFORCE_CLIENT_SECRET": CONSUMER_SECRET,
        "SALESFORCE_LOGIN_URL": salesforce.url,
        "HUBSPOT_ACCESS_TOKEN": "pat-x",
        "LOCAL_WORKSPACE": "false",
    }.items():
        monkeypatch.setenv(k, v)
    assert main(["salesforce", "check"]) == 2
    assert "connect one CRM at a time" in capsys.readouterr().err
    monkeypatch.delenv("SALESFORCE_CLIENT_ID")
    assert main(["salesforce", "check"]) == 2
    assert "Salesforce is not configured: set SALESFORCE_CLIENT_ID" in capsys.readouterr().err


# --- polling ---------------------------------------------------------------------------------------


def test_the_poller_reads_changes_since_its_stored_cursor(app, salesforce, clock):
    c = connector(app)
    old = new_lead(salesforce, 1, at=clock.now() - timedelta(hours=1))
    start_polling(app)
    start = c.cursor("poll")
    assert start["Lead"] == clock.now().isoformat() and lead(app, old) is None
    clock.advance(timedelta(minutes=5))
    new = new_lead(salesforce, 2, Status="Qualified")
    assert c.poll_if_due() == 1
    assert lead(app, new).status == "qualified" and lead(app, old) is None  # older than the cursor
    assert c.cursor("poll")["Lead"] == clock.now().isoformat()
    [q] = [
        r
        for r in salesforce.calls("/query")
        if "FROM Lead" in r["query"].get("q", "") and "SystemModstamp >" in r["query"]["q"]
    ][-1:]
    assert "ORDER BY SystemModstamp, Id" in q["query"]["q"]
    assert c.poll_if_due() == 0  # not due again before poll_seconds
    clock.advance(timedelta(seconds=61))
    assert c.poll_if_due() == 1  # the look-back reads the last one again; its event is known
    assert metric(app, "smarketing_connector_events_total", source="salesforce", outcome="duplicate") >= 1
    assert metric(app, "smarketing_connector_events_total", source="salesforce", outcome="accepted") == 1


def test_pages_are_read_with_query_more_and_the_cursor_moves_only_after_a_page_is_stored(app, salesforce, clock):
    c = connector(app)
    start_polling(app)
    clock.advance(timedelta(minutes=1))
    ids = []
    for n in range(2500):  # two pages of 2,000
        ids.append(new_lead(salesforce, n, at=clock.now() + timedelta(milliseconds=n)))
    clock.advance(timedelta(minutes=1))
    salesforce.fail_next(5, status=503, path="/query/01g")  # queryMore fails: Salesforce is down
    assert c.poll_once() == 0
    first_page_end = c.cursor("poll")["Lead"]
    with app.uow_factory() as uow:
        assert uow.leads.by_crm_id(ids[1999]) is not None and uow.leads.by_crm_id(ids[2000]) is None
    assert first_page_end == (clock.now() - timedelta(minutes=1) + timedelta(milliseconds=1999)).isoformat()
    assert c.poll_once() == 2500  # from the stored cursor, less the look-back: the first page's events are known
    assert lead(app, ids[-1]) is not None


def test_request_limit_exceeded_stops_the_poll_and_no_change_is_lost(app, salesforce, clock, caplog):
    c = connector(app)
    start_polling(app)
    clock.advance(timedelta(minutes=1))
    lid = new_lead(salesforce, 1, Status="Qualified")
    salesforce.set_usage(100_000, 100_000)  # the org's daily requests are used up: 403 REQUEST_LIMIT_EXCEEDED
    with caplog.at_level(logging.WARNING, logger="bot.connectors"):
        assert c.poll_once() == 0
    assert any(
        "Salesforce poll paused" in r.getMessage() and "request limit is exceeded" in r.getMessage()
        for r in caplog.records
    )
    assert lead(app, lid) is None and c.cursor("poll")["Lead"] == (clock.now() - timedelta(minutes=1)).isoformat()
    assert metric(app, "smarketing_connector_requests_total", source="salesforce", outcome="rate_limited") >= 1
    salesforce.set_usage(10, 100_000)  # the 24-hour window moved on
    clock.advance(timedelta(minutes=1))
    assert c.poll_once() == 1
    assert lead(app, lid).status == "qualified"


def test_the_poller_keeps_to_its_share_of_the_daily_requests(app, salesforce, clock, caplog):
    c = connector(app)
    start_polling(app)
    new_lead(salesforce, 1)
    salesforce.set_usage(85_000, 100_000)
    c.api.query("SELECT Id FROM Lead LIMIT 1", "a test")  # any answer carries Sforce-Limit-Info
    assert c.api.usage == (85_001, 100_000)
    assert metric(app, "smarketing_connector_api_usage", source="salesforce", kind="used") == 85_001
    with caplog.at_level(logging.WARNING, logger="bot.connectors"):
        before = len(salesforce.requests)
        assert c.poll_once() == 0
        assert [r["path"] for r in salesforce.requests[before:]] == ["/services/data/v64.0/limits/"]  # usage checked
        assert c.poll_once() == 0
        assert len(salesforce.requests) == before + 1  # and not again within the minute
    assert any(
        "85,001 of the org's 100,000 daily requests (salesforce.api_share: 0.8)" in r.getMessage()
        for r in caplog.records
    )


# --- the import ------------------------------------------------------------------------------------


def seed_quarter(salesforce, clock, leads: int = 450, opportunities: int = 30) -> list[str]:
    camp = salesforce.add(
        "Campaign", Name="Spring Webinar", Type="Webinar", OwnerId=salesforce.user_ids["kira@northwind.example"]
    )
    ids = [new_lead(salesforce, n, Status="Qualified" if n % 10 == 0 else "Working") for n in range(leads)]
    for n, lid in enumerate(ids):
        salesforce.add("CampaignMember", CampaignId=camp, LeadId=lid, Status="Responded" if n % 2 else "Sent")
    for n in range(opportunities):
        contact = salesforce.add("Contact", FirstName="C", LastName=str(n), Email=f"lead{n}@acme.example")
        opp = salesforce.add(
            "Opportunity",
            Name=f"Deal {n}",
            Amount=1000,
            StageName="Closed Won" if n % 3 else "Negotiation",
            CloseDate=(clock.now() - timedelta(days=2)).date(),
            CampaignId=camp,
            ContactId=contact,
            OwnerId=salesforce.user_ids["ben@northwind.example"],
        )
        salesforce.convert(ids[n], contact_id=contact, opportunity_id=opp)
    return ids


def counts(app) -> dict:
    from sqlmodel import func, select

    from storage.models import Campaign, CampaignTouch, Deal, Lead, Outbox

    with app.uow_factory() as uow:
        return {
            m.__name__: uow.session.exec(select(func.count()).select_from(m)).one()
            for m in (Lead, Deal, CampaignTouch, Campaign, Outbox)
        }


def test_the_import_reads_in_bulk_resumes_where_it_stopped_and_a_second_run_changes_nothing(
    app, salesforce, clock, monkeypatch
):
    from bot.connectors.salesforce import api as sa, connector as sc

    monkeypatch.setattr(sa, "BULK_PAGE", 200)  # results pages of 200 (Salesforce's are larger), ingested
    monkeypatch.setattr(sc, "SUB_BATCH", 100)  # 100 a transaction
    ids = seed_quarter(salesforce, clock)
    c = connector(app)
    since = clock.now() - timedelta(days=30)
    # Salesforce goes down while the leads' job results are read: after the first page of 200.
    c.api.sleep = lambda s: None
    salesforce.fail_next(3, status=503, path="/results", after=1)
    with pytest.raises(SalesforceError):
        c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    salesforce.fail_next(0)
    first = counts(app)
    state = c.cursor("import")
    assert state["stage"] == "leads" and not state.get("finished")
    assert first["Lead"] == 200 and state["cursor"]["locator"] and state["cursor"]["skip"] == 0

    jobs_before = len(salesforce.jobs)
    report = c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    assert report.resumed and report.stages["leads"]["read"] == 450  # 200 before, 250 now: nothing read twice
    leads_job = next(j for j in salesforce.jobs.values() if j["object"] == "Lead")
    locators = [r["query"].get("locator") for r in salesforce.calls(f"/jobs/query/{leads_job['id']}/results")]
    assert locators[0] is None and locators[-2] == state["cursor"]["locator"]  # went on from the stored page
    assert len([j for j in salesforce.jobs.values() if j["object"] == "Lead"]) == 1  # the same job went on
    assert len(salesforce.jobs) == jobs_before + 3  # members, opportunities, tasks
    second = counts(app)
    assert second["Lead"] == 450 and second["Deal"] == 20 and second["CampaignTouch"] == 450
    assert second["Campaign"] == 1
    with app.uow_factory() as uow:
        deal = uow.deals.by_crm_id(next(r for r in salesforce.records["Opportunity"].values() if r["IsWon"])["Id"])
        converted = uow.leads.get(deal.lead_id)
    assert converted.crm_id in ids[:30] and converted.status == "converted"  # the won deal's lead: its alerts stop

    again = c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    assert not again.resumed and again.accepted == 0
    assert counts(app) == second  # nothing changed


def test_a_bulk_job_gone_before_the_import_resumes_is_started_again(app, salesforce, clock, monkeypatch):
    from bot.connectors.salesforce import api as sa

    monkeypatch.setattr(sa, "BULK_PAGE", 100)
    seed_quarter(salesforce, clock, leads=250, opportunities=0)
    c = connector(app)
    since = clock.now() - timedelta(days=30)
    c.api.sleep = lambda s: None
    salesforce.fail_next(3, status=503, path="/results", after=1)
    with pytest.raises(SalesforceError):
        c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    salesforce.drop_jobs()  # results are kept 7 days: past that, the job is gone
    report = c.run_import(c.import_stages(since), since=since.date().isoformat(), progress=False)
    assert report.resumed and counts(app)["Lead"] == 250


def test_the_import_command_shows_what_it_read_and_stops_cleanly_at_the_request_limit(
    app, salesforce, clock, monkeypatch, capsys, database_url, app_keys
):
    seed_quarter(salesforce, clock, leads=12, opportunities=3)
    env = {
        "DATABASE_URL": database_url,
        "SALESFORCE_CLIENT_ID": CONSUMER_KEY,
        "SALESFORCE_USERNAME": "integration@northwind.example",
        "SALESFORCE_PRIVATE_KEY": app_keys[0].replace("\n", "\\n"),
        "SALESFORCE_LOGIN_URL": salesforce.url,
        "LOCAL_WORKSPACE": "false",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    since = (clock.now() - timedelta(days=30)).date().isoformat()
    assert main(["salesforce", "import", "--since", since, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"Salesforce import since {since}:" in out
    assert "leads: 12 read" in out and "opportunities: 2 read" in out and "campaign members: 12 read" in out
    assert main(["salesforce", "import", "--since", since, "--no-progress"]) == 0
    assert "leads: 12 read, 0 new events" in capsys.readouterr().out

    salesforce.set_usage(99_990, 100_000)
    assert main(["salesforce", "import", "--since", since, "--no-progress", "--restart"]) == 1
    err = capsys.readouterr().err
    assert "Salesforce import stopped:" in err and "Run it again later: it goes on where it stopped." in err


# --- the org check ---------------------------------------------------------------------------------


def test_salesforce_check_names_what_is_missing_and_the_api_usage(
    make_container, salesforce, app_keys, monkeypatch, capsys, database_url, tmp_path
):
    config = tmp_path / "sf.yaml"
    config.write_text(
        load_config.__globals__["DEMO_CONFIG"].read_text()
        + """
salesforce:
  score_field: Lead_Score__c
  on_bounce: {lead_status: Recycled, reason_field: Bounce_Reason__c}
"""
    )
    salesforce.add_field("Lead", "Bounce_Reason__c")
    salesforce.hide_field("Lead", "Title")  # field-level security hides it from the integration user
    salesforce.deny("Task", "create")
    salesforce.set_usage(1234, 15_000)
    key_file = tmp_path / "server.key"
    key_file.write_text(app_keys[0])
    for k, v in {
        "DATABASE_URL": database_url,
        "SALESFORCE_CLIENT_ID": CONSUMER_KEY,
        "SALESFORCE_USERNAME": "integration@northwind.example",
        "SALESFORCE_PRIVATE_KEY_FILE": str(key_file),
        "SALESFORCE_LOGIN_URL": salesforce.url,
        "SMARKETING_CONFIG": str(config),
        "LOCAL_WORKSPACE": "false",
    }.items():
        monkeypatch.setenv(k, v)
    assert main(["salesforce", "check"]) == 1
    out = capsys.readouterr().out
    assert (
        f"Salesforce ({salesforce.url}, JWT bearer as integration@northwind.example): can read Lead, Contact, "
        "CampaignMember, Opportunity, Task, Campaign" in out
    )
    assert "missing field Lead.Title: not in this org, or hidden from the integration user" in out
    assert "missing field Lead.Lead_Score__c (salesforce.score_field)" in out
    assert (
        "Lead.Status has no value 'Recycled' (salesforce.on_bounce.lead_status); its values: New, Nurturing, "
        "Qualified, Unqualified, Working" in out
    )
    assert "cannot create Tasks: bounce reasons and chat follow-ups cannot be written" in out
    assert "API requests: 1,2" in out and "of 15,000 used in the last 24 hours" in out
    assert "Bulk API 2.0 query jobs: 10,000 of 10,000 left today" in out

    config.write_text(load_config.__globals__["DEMO_CONFIG"].read_text())
    salesforce.denied.clear()
    salesforce.hidden.clear()
    assert main(["salesforce", "check"]) == 0
    assert "Salesforce: OK" in capsys.readouterr().out


def test_start_up_says_which_salesforce_field_is_missing(make_container, salesforce, app_keys, caplog):
    config = load_config(None)
    config.salesforce.on_bounce.reason_field = "Bounce_Reason__c"
    app = make_container(config=config, **salesforce_settings(salesforce, app_keys))
    with caplog.at_level(logging.WARNING):
        lines = connector(app).startup_lines("http://127.0.0.1:3000")
    assert (
        "  missing field Lead.Bounce_Reason__c (salesforce.on_bounce.reason_field): not in this org, or hidden "
        "from the integration user (field-level security)" in lines
    )
    assert "Salesforce polling every 60 s" in lines
    assert any("Lead.Bounce_Reason__c" in r.getMessage() for r in caplog.records)


def test_a_field_the_org_lacks_is_left_out_of_the_queries(app, salesforce, clock):
    app.config.salesforce.score_field = "Lead_Score__c"  # configured, not in the org
    start_polling(app)
    clock.advance(timedelta(minutes=1))
    lid = new_lead(salesforce)
    assert connector(app).poll_once() == 1 and lead(app, lid) is not None
    polls = [
        r["query"]["q"]
        for r in salesforce.calls("/query")
        if "FROM Lead WHERE SystemModstamp" in r["query"].get("q", "")
    ]
    assert (
        polls
        and "Lead_Score__c" not in polls[-1]
        and "CurrencyIsoCode" not in " ".join(r["query"].get("q", "") for r in salesforce.calls("/query"))
    )


# --- writeback -------------------------------------------------------------------------------------


def bounce_event(lead_id: str, **data) -> dict:
    return {
        "id": "bounce:1:bounced",
        "type": "lead.bounced",
        "occurred_at": "2026-11-23T15:00:00+00:00",
        "data": {
            "lead_id": lead_id,
            "reason": "no_budget",
            "reason_label": "No budget",
            "by_email": "ana@northwind.example",
            "by_name": "Ana Torres",
            **data,
        },
    }


def test_a_retried_writeback_does_not_write_its_task_twice(app, salesforce):
    lid = new_lead(salesforce, Status="Qualified")
    d = SalesforceDeliverer(connector(app).api, connector(app))
    d.post("webhook:crm", bounce_event(lid), key="webhook:bounce:1:bounced", since=None, people={})
    d.post("webhook:crm", bounce_event(lid), key="webhook:bounce:1:bounced", since=EARLIER, people={})
    [task] = salesforce.tasks_of(lid)
    assert task["Status"] == "Completed" and task["Subject"].startswith("Bounced back to marketing: No budget [smk-")
    assert task["OwnerId"] == salesforce.user_ids["ana@northwind.example"]
    assert "Bounced back to marketing by Ana Torres in Smarketing: No budget." in task["Description"]
    assert salesforce.get("Lead", lid)["Status"] == "Nurturing"


def test_the_reason_goes_to_a_configured_field_and_per_reason_statuses_apply(app, salesforce):
    salesforce.add_field("Lead", "Bounce_Reason__c")
    app.config.salesforce.on_bounce.reason_field = "Bounce_Reason__c"
    app.config.salesforce.on_bounce.lead_status_by_reason = {"no_budget": "Unqualified"}
    app.config.salesforce.on_bounce.task = False
    lid = new_lead(salesforce, Status="Qualified")
    SalesforceDeliverer(connector(app).api, connector(app)).post(
        "webhook:crm", bounce_event(lid), key="webhook:b2", since=None, people={}
    )
    rec = salesforce.get("Lead", lid)
    assert (rec["Status"], rec["Bounce_Reason__c"]) == ("Unqualified", "No budget")
    assert salesforce.tasks_of(lid) == []


def test_a_status_salesforce_refuses_is_permanent_and_the_limit_is_transient(app, salesforce):
    lid = new_lead(salesforce, Status="Qualified")
    d = SalesforceDeliverer(connector(app).api, connector(app))
    app.config.salesforce.on_bounce.lead_status = "Recycled"
    with pytest.raises(PermanentError, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        d.post("webhook:crm", bounce_event(lid), key="webhook:b3", since=None, people={})
    app.config.salesforce.on_bounce.lead_status = "Nurturing"
    salesforce.set_usage(100_000, 100_000)
    with pytest.raises(TransientError) as e:
        d.post("webhook:crm", bounce_event(lid), key="webhook:b3", since=EARLIER, people={})
    assert e.value.retry_after == 1800


def test_a_lead_from_elsewhere_is_found_by_email_and_a_follow_up_is_a_completed_task(app, salesforce):
    lid = new_lead(salesforce, 7)
    event = {
        "id": "f",
        "type": "lead.followed_up",
        "occurred_at": "2026-11-23T15:00:00+00:00",
        "data": {
            "lead_id": "L-7",
            "email": "lead7@acme.example",
            "note": "called, demo on Thursday",
            "by_email": "ben@northwind.example",
        },
    }
    SalesforceDeliverer(connector(app).api, connector(app)).post(
        "webhook:crm", event, key="webhook:f", since=None, people={}
    )
    [task] = salesforce.tasks_of(lid)
    assert task["Subject"].startswith("Follow-up: called, demo on Thursday [smk-") and task["IsClosed"]
    assert task["OwnerId"] == salesforce.user_ids["ben@northwind.example"]
    assert task["ActivityDate"].isoformat() == "2026-11-23"


# --- the mapping ---------------------------------------------------------------------------------


def test_owners_follow_the_users_email_or_the_configs_mapping_and_a_queue_owns_nobody():
    config = parse_config(DEMO_WITH_SALESFORCE)
    assert (
        tr.owner_email({"OwnerId": "005A", "Owner.Email": "Ben@Northwind.example"}, config) == "ben@northwind.example"
    )
    assert (
        tr.owner_email({"OwnerId": "005B", "Owner.Email": "ana.torres@old.example"}, config) == "ana@northwind.example"
    )
    assert tr.owner_email({"OwnerId": "005C", "Owner.Email": "x@y.example"}, config) == "chloe@northwind.example"
    assert tr.owner_email({"OwnerId": "00G1", "Owner.Email": None}, config) is None


def test_statuses_conversion_rating_and_our_own_tasks_map_as_configured():
    config = parse_config(DEMO_WITH_SALESFORCE)
    [e] = tr.lead_events(
        {
            "Id": "00Q1",
            "Status": "SQL",
            "Rating": "Hot",
            "SystemModstamp": "2026-11-23T10:00:00.000Z",
            "IsConverted": "false",
        },
        config,
    )
    assert e["data"]["status"] == "SQL" and e["data"]["tier"] == "Hot"
    [e] = tr.lead_events(
        {"Id": "00Q2", "Status": "Working", "IsConverted": True, "SystemModstamp": "2026-11-23T10:00:00.000+0000"},
        config,
    )
    assert e["data"]["status"] == config.qualified.statuses[0]  # converted: sales accepted it
    [e] = tr.lead_events({"Id": "00Q3", "Status": "Working", "IsConverted": False, "SystemModstamp": None}, config)
    assert e["data"]["status"] == "Working"
    ours = {
        "Id": "00T1",
        "WhoId": "00Q1",
        "IsClosed": True,
        "Subject": "Follow-up [smk-0123456789]",
        "SystemModstamp": "2026-11-23T10:00:00.000Z",
    }
    assert tr.task_events(ours, config, lead_id="00Q1") == []
    theirs = {**ours, "Subject": "Call", "TaskSubtype": "Call"}
    [t] = tr.task_events(theirs, config, lead_id="00Q1")
    assert t["type"] == "lead.touched" and t["data"]["kind"] == "call"
    assert tr.task_events({**theirs, "TaskSubtype": "Task", "Type": None}, config, lead_id="00Q1") == []  # types


def test_a_won_opportunity_closes_at_the_end_of_its_close_day_and_names_its_primary_campaign():
    config = parse_config(DEMO_WITH_SALESFORCE)
    opp = {
        "Id": "006A",
        "Name": "Acme",
        "Amount": "48000.0",
        "IsWon": "true",
        "CloseDate": "2026-11-20",
        "CampaignId": "701A",
        "Contact.Email": "Jane@Acme.example",
        "SystemModstamp": "2026-11-23T10:00:00.000Z",
        "CurrencyIsoCode": "EUR",
    }
    [won] = tr.deal_events(opp, config, converted_lead="00QA")
    assert won["data"]["closed_at"] == "2026-11-21T04:59:59+00:00"  # 23:59:59 in New York
    assert (won["data"]["amount"], won["data"]["currency"], won["data"]["campaign_id"]) == ("48000.00", "EUR", "701A")
    assert (won["data"]["lead_id"], won["data"]["contact_email"]) == ("00QA", "jane@acme.example")
    assert tr.deal_events({**opp, "IsWon": "false"}, config) == []


def test_the_salesforce_config_names_the_key_at_fault():
    with pytest.raises(ConfigError) as e:
        parse_config(DEMO_WITH_SALESFORCE.replace("005C: chloe", "005C: nobody"), "a.yaml")
    assert "salesforce.owners.005C: no person with key 'nobody'" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config(DEMO_WITH_SALESFORCE.replace("follow_up_types: [Call]", "follow_ups: note"), "a.yaml")
    assert "salesforce.follow_ups: Input should be 'task' or 'off'" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_config(DEMO_WITH_SALESFORCE + "  score_field: Lead Score\n", "a.yaml")
    assert "salesforce.score_field: String should match pattern" in str(e.value)


DEMO_WITH_SALESFORCE = (
    load_config.__globals__["DEMO_CONFIG"].read_text()
    + """
salesforce:
  qualified: {lead_statuses: [SQL, Qualified]}
  owners:
    ana.torres@old.example: ana
    005C: chloe
  follow_up_types: [Call]
"""
)


# --- the change queue ------------------------------------------------------------------------------


def test_records_named_in_the_change_queue_are_read_and_unknown_ones_dropped(app, salesforce, clock):
    lid = new_lead(salesforce, Status="Qualified")
    c = connector(app)
    c.enqueue([("Lead", lid, clock.now()), ("Lead", "00Q999999999999AAA", clock.now())])
    assert c.sync() == 2
    assert lead(app, lid).status == "qualified"
    assert (
        metric(app, "smarketing_connector_unreadable_total", source="salesforce", kind="Lead", reason="not_found") == 1
    )
