"""People from the CRM's owners (``owner.upserted``): created and updated, the CRM's manager chain
used for escalations, the YAML overriding what is synced, leavers, and bad input that is listed
and never half-applied. The ``clock`` fixture is Monday 2026-11-23 15:00 UTC."""

from __future__ import annotations

import logging

import pytest

from bot.config import parse_config
from bot.scheduler import run_job
from handlers.commands import run_command
from handlers.ports import Actor
from tests.cooling_helpers import hot_lead, ingest, lead, outbox, text_of
from tests.directory_helpers import owner
from tests.salesforce_helpers import app_keys, salesforce, salesforce_server  # noqa: F401 - fixtures


NO_PEOPLE = """
company: Acme
channels:
  wins: {title: "#wins"}
  sales: {title: "#sales"}
  marketing: {title: "#marketing"}
teams:
  sales: {channel: sales, timezone: America/New_York}
  marketing: {channel: marketing, timezone: Europe/London}
"""


@pytest.fixture
def c(make_container):
    return make_container(config=parse_config(NO_PEOPLE))


def people(c) -> dict:
    with c.uow_factory() as uow:
        everyone = {p.id: p for p in uow.people.all()}
    return {
        p.email: (p.name, p.team, everyone[p.manager_id].email if p.manager_id else None, p.active, p.source)
        for p in everyone.values()
    }


def problems(c) -> list[tuple[str, str, str]]:
    with c.uow_factory() as uow:
        return [(p.kind, p.subject, p.detail) for p in uow.directory.problems()]


def pid(c, email) -> int:
    with c.uow_factory() as uow:
        return uow.people.by_email(email).id


def test_owner_events_create_people_and_the_manager_chain_in_any_order(c):
    # The rep arrives before their manager: the link is made when the manager does.
    ingest(c, owner("rep@acme.example", "Rita Rep", manager="boss@acme.example"))
    assert people(c)["rep@acme.example"] == ("Rita Rep", "sales", None, True, "crm")
    ingest(c, owner("boss@acme.example", "Bea Boss"), owner("mk@acme.example", "Max Mark", team="marketing"))
    got = people(c)
    assert got["rep@acme.example"] == ("Rita Rep", "sales", "boss@acme.example", True, "crm")
    assert got["mk@acme.example"] == ("Max Mark", "marketing", None, True, "crm")
    # An update changes what the CRM says, and the same event again is a duplicate.
    ev = owner("rep@acme.example", "Rita Renamed", manager="boss@acme.example")
    assert ingest(c, ev) == (1, 0)
    assert ingest(c, ev) == (0, 1)
    assert people(c)["rep@acme.example"][0] == "Rita Renamed"


def test_handoffs_go_to_the_crm_owner_and_escalations_to_the_crm_manager(c):
    ingest(
        c, owner("boss@acme.example", "Bea Boss"), owner("rep@acme.example", "Rita Rep", manager="boss@acme.example")
    )
    ingest(c, hot_lead("L-1", owner=None, owner_email="rep@acme.example"))
    rep, boss = pid(c, "rep@acme.example"), pid(c, "boss@acme.example")
    assert [r.destination for r in outbox(c, key="cooling:")] == [f"dm:{rep}"]
    from datetime import timedelta

    c.deps.clock.at += timedelta(hours=4)  # a hot lead: breached, then the manager's step
    run_job(c, "cooling")
    dests = [(r.key.split(":")[3], r.destination) for r in outbox(c, key="cooling:")]
    assert ("manager", f"dm:{boss}") in dests


def test_a_leaver_receives_nothing_and_their_leads_go_to_the_manager_who_is_told_once(c):
    ingest(
        c, owner("boss@acme.example", "Bea Boss"), owner("rep@acme.example", "Rita Rep", manager="boss@acme.example")
    )
    ingest(
        c,
        hot_lead("L-1", owner=None, owner_email="rep@acme.example"),
        hot_lead("L-2", owner=None, owner_email="rep@acme.example"),
    )
    rep, boss = pid(c, "rep@acme.example"), pid(c, "boss@acme.example")
    ingest(c, owner("rep@acme.example", "Rita Rep", manager="boss@acme.example", active=False))
    assert people(c)["rep@acme.example"][3] is False
    assert lead(c, "L-1").owner_id == boss and lead(c, "L-2").owner_id == boss
    told = outbox(c, key="people:left:")
    assert [r.destination for r in told] == [f"dm:{boss}"]
    assert "Rita Rep has left" in text_of(told[0].payload) and "2 open lead(s)" in text_of(told[0].payload)
    # Told once: the CRM saying it again changes nothing.
    ingest(c, owner("rep@acme.example", "Rita Rep", manager="boss@acme.example", active=False))
    assert len(outbox(c, key="people:left:")) == 1
    # Anything later for the leader goes to the manager; nothing is addressed to the leaver.
    ingest(c, hot_lead("L-3", owner=None, owner_email="rep@acme.example"))
    l3 = outbox(c, key=f"cooling:{lead(c, 'L-3').id}:")
    assert [r.destination for r in l3] == [f"dm:{boss}"]
    assert "has left, so this comes to you" in text_of(l3[0].payload)
    assert not [
        r
        for r in outbox(c, op=None)
        if r.destination == f"dm:{rep}"
        and r.key.split(":")[1] != str(lead(c, "L-1").id)
        and r.key.split(":")[1] != str(lead(c, "L-2").id)
    ]
    # And they cannot act.
    reply = run_command(c.registry, c.uow_factory, c.deps, Actor(rep, "local"), "leads")
    assert "left the company" in (reply.text or "")


def test_two_owners_with_one_email_and_no_email_are_listed_and_the_rest_goes_on(c, caplog):
    caplog.set_level(logging.WARNING)
    assert ingest(
        c,
        owner("dup@acme.example", "One", id="1"),
        owner("dup@acme.example", "Two", id="2"),
        {**owner("x@acme.example"), "data": {"name": "Nomail Nora", "id": "77"}},
        owner("ok@acme.example", "Okay Olga"),
    ) == (4, 0)
    got = people(c)
    assert "dup@acme.example" not in got and "ok@acme.example" in got
    kinds = {(k, s) for k, s, _ in problems(c)}
    assert ("duplicate_email", "dup@acme.example") in kinds
    assert ("no_email", "crm:77") in kinds
    assert "two crm owners have the email dup@acme.example" in caplog.text
    assert "Nomail Nora (id 77) has no email" in caplog.text
    # Against an owner already known by another id, too: nothing of it applied.
    ingest(c, owner("ok@acme.example", "Okay Olga", id="10"))
    ingest(c, owner("ok@acme.example", "Impostor", id="11"))
    assert people(c)["ok@acme.example"][0] == "Okay Olga"


def test_a_manager_loop_is_refused_and_listed(c):
    ingest(c, owner("a@acme.example", manager="b@acme.example"), owner("b@acme.example", manager="c@acme.example"))
    ingest(c, owner("c@acme.example", manager="a@acme.example"), owner("d@acme.example", manager="a@acme.example"))
    got = people(c)
    assert got["a@acme.example"][2] == "b@acme.example" and got["b@acme.example"][2] == "c@acme.example"
    assert got["c@acme.example"][2] is None  # the link that would close the loop
    assert got["d@acme.example"][2] == "a@acme.example"  # the rest goes on
    ((kind, subject, detail),) = problems(c)
    assert kind == "manager_loop" and subject == "c@acme.example"
    assert "c@acme.example → a@acme.example → b@acme.example → c@acme.example" in detail
    # Fixed in the CRM: the line goes.
    ingest(c, owner("c@acme.example", manager=None))
    assert problems(c) == []


def test_the_yaml_overrides_what_the_crm_syncs(make_container):
    cfg = parse_config(
        NO_PEOPLE
        + """
people:
  - {key: rita, name: Rita From Yaml, email: rep@acme.example, team: marketing, role: marketer, admin: true}
  - {key: zed, name: Zed Lead, email: zed@acme.example, team: sales, role: manager}
  - {key: ann, name: Ann Yaml, email: ann@acme.example, team: sales, manager: zed}
"""
    )
    c = make_container(config=cfg)
    ingest(
        c,
        owner("boss@acme.example", "Bea Boss"),
        owner("rep@acme.example", "Rita Crm", team="sales", manager="boss@acme.example"),
        owner("ann@acme.example", "Ann Crm", manager="boss@acme.example"),
    )
    got = people(c)
    # Name, team and role are the config's; the CRM's manager is used when the config names none.
    assert got["rep@acme.example"] == ("Rita From Yaml", "marketing", "boss@acme.example", True, "yaml")
    assert got["ann@acme.example"] == ("Ann Yaml", "sales", "zed@acme.example", True, "yaml")
    # A restart (the config read again) keeps the CRM's manager.
    from handlers.core import sync_people

    with c.uow_factory() as uow:
        sync_people(uow, cfg)
        uow.commit()
    assert people(c)["rep@acme.example"][2] == "boss@acme.example"
    # Someone synced first and listed by hand later becomes the config's.
    cfg2 = parse_config(
        NO_PEOPLE
        + """
people:
  - {key: bea, name: Beatrice, email: boss@acme.example, team: sales, role: manager}
"""
    )
    with c.uow_factory() as uow:
        sync_people(uow, cfg2)
        uow.commit()
    assert people(c)["boss@acme.example"][0::4] == ("Beatrice", "yaml")


def test_people_lists_what_to_fix_for_admins_only_with_a_button_for_each(make_container):
    from handlers.commands import run_action, run_form

    cfg = parse_config(
        NO_PEOPLE
        + """
people:
  - {key: adm, name: Ada Admin, email: adm@acme.example, team: sales, role: manager, admin: true, slack_id: U0ADM}
"""
    )
    c = make_container(config=cfg)
    ingest(
        c,
        owner("rep@acme.example", "Rita Rep"),
        owner("a@acme.example", manager="b@acme.example"),
        owner("b@acme.example", manager="a@acme.example"),
    )
    adm, rep = Actor(pid(c, "adm@acme.example"), "local"), Actor(pid(c, "rep@acme.example"), "local")
    refused = run_command(c.registry, c.uow_factory, c.deps, rep, "people")
    assert "Only admins" in refused.text
    reply = run_command(c.registry, c.uow_factory, c.deps, adm, "people")
    text = text_of(reply.message.to_json())
    assert "manager loop" in text and "[Mark fixed]" in text
    assert "Rita Rep <rep@acme.example> (sales, from the CRM)" in text and "[Link by hand]" in text
    assert len(reply.message.blocks) <= 50
    # Link Rita by hand: a wrong id is told what to give, a right one links.
    form = run_action(c.registry, c.uow_factory, c.deps, adm, "people.link", str(pid(c, "rep@acme.example"))).form
    bad = run_form(c.registry, c.uow_factory, c.deps, adm, "people.link", form.state, {"account": "rita"})
    assert "U012AB3CD" in bad.errors["account"]
    ok = run_form(c.registry, c.uow_factory, c.deps, adm, "people.link", form.state, {"account": "U0RITA"})
    assert "linked to Slack account U0RITA" in ok.text
    with c.uow_factory() as uow:
        assert uow.people.by_email("rep@acme.example").slack_user_id == "U0RITA"
        problem_id = uow.directory.problems()[0].id
    assert "Marked fixed" in run_action(c.registry, c.uow_factory, c.deps, adm, "people.dismiss", str(problem_id)).text
    assert problems(c) == []
    text = text_of(run_command(c.registry, c.uow_factory, c.deps, adm, "people").message.to_json())
    assert "Rita Rep <rep" not in text and "manager loop" not in text


def test_an_admins_home_says_how_many_people_need_a_look(make_container):
    from handlers.home import build_home

    cfg = parse_config(
        NO_PEOPLE
        + """
people:
  - {key: adm, name: Ada Admin, email: adm@acme.example, team: sales, role: admin, admin: true, slack_id: U0ADM}
"""
    )
    c = make_container(config=cfg)
    ingest(c, owner("rep@acme.example", "Rita Rep"))
    with c.uow_factory() as uow:
        home = build_home(uow, c.deps, uow.people.by_email("adm@acme.example"))
        rep_home = build_home(uow, c.deps, uow.people.by_email("rep@acme.example"))
    assert "1 without a chat account" in text_of(home.to_json())
    assert "People to check" not in text_of(rep_home.to_json())


@pytest.fixture
def hs(request):
    from tests.hubspot_helpers import TOKEN
    from tests.hubspot_standin import HubSpotStandIn

    with HubSpotStandIn(burst=100, burst_seconds=1.0, search_per_second=5) as server:
        server.add_token(TOKEN)
        yield server


def test_hubspot_owners_sync(make_container, hs):
    from tests.hubspot_helpers import hubspot_settings

    hs.add_owner("1", "hank@acme.example", "Hank", "Hub", teams=["Sales EMEA"])
    hs.add_owner("2", "mona@acme.example", "Mona", "Mkt", teams=["Marketing"])
    hs.add_owner("3", None, "No", "Email")
    c = make_container(config=parse_config(NO_PEOPLE), **hubspot_settings(hs))
    c.extras["hubspot"].owners(refresh=True)
    got = people(c)
    assert got["hank@acme.example"][:2] == ("Hank Hub", "sales") and got["mona@acme.example"][:2] == (
        "Mona Mkt",
        "marketing",
    )
    assert ("no_email", "hubspot:3") in {(k, s) for k, s, _ in problems(c)}
    # Hank's owner record is archived in HubSpot: he left.
    hs.owners["1"]["archived"] = True
    c.extras["hubspot"].owners(refresh=True)
    assert people(c)["hank@acme.example"][3] is False


def test_salesforce_users_are_people_with_their_manager_chain(make_container, salesforce, app_keys):
    from tests.salesforce_helpers import salesforce_settings

    boss = salesforce.add_user("sboss@acme.example", "Sal", "Boss", department="Sales")
    salesforce.add_user("srep@acme.example", "Sam", "Rep", manager=boss, department="Sales")
    salesforce.add_user("smk@acme.example", "Sue", "Mkt", department="Marketing")
    c = make_container(config=parse_config(NO_PEOPLE), **salesforce_settings(salesforce, app_keys))
    assert run_job(c, "salesforce_people").done > 0
    got = people(c)
    assert got["srep@acme.example"][:3] == ("Sam Rep", "sales", "sboss@acme.example")
    assert got["smk@acme.example"][1] == "marketing"
    assert run_job(c, "salesforce_people").detail == "not due"  # once a day, whatever replicas run
    # Sam is deactivated in Salesforce: the next day's sync makes him a leaver.
    salesforce.records["User"][
        salesforce.user_ids.get("srep@acme.example")
        or next(i for i, r in salesforce.records["User"].items() if r["Email"] == "srep@acme.example")
    ]["IsActive"] = False
    from datetime import timedelta

    c.deps.clock.at += timedelta(days=1)
    run_job(c, "salesforce_people")
    assert people(c)["srep@acme.example"][3] is False


def test_people_in_the_local_workspace(make_container, live_server):
    cfg = parse_config(
        NO_PEOPLE
        + """
people:
  - {key: adm, name: Ada Admin, email: adm@acme.example, team: sales, role: manager, admin: true}
"""
    )
    app = live_server(make_container(config=cfg, local_workspace=True, demo_data=False), local=True)
    c = app.container
    ingest(c, owner("x@acme.example", "Xena Twice", id="1"), owner("x@acme.example", "Xena Again", id="2"))
    with app.client() as http:
        body = http.post(
            "/local/api/command", json={"person_id": pid(c, "adm@acme.example"), "text": "/smarketing people"}
        ).json()
    assert "two crm owners have the email x@acme.example" in body["ephemeral"] and "Mark fixed" in body["ephemeral"]
