"""Chat accounts and people (issue 12, item 5): the first link sticks; a second account whose
profile shows a linked person's email is refused with a clear answer and logged, on Slack and
Teams; an admin's link by hand wins; no transaction is open while the platform is asked."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from handlers import identity
from tests import slack_requests as sr
from tests import teams_standin as ts
from tests.conftest import SIGNING_SECRET
from tests.teams_helpers import make_teams_app, teams, teams_server  # noqa: F401 - fixtures


def person(c, key: str):
    with c.uow_factory() as uow:
        return uow.people.by_key(key)


@pytest.fixture
def slack_app(make_container, slack, live_server):
    return live_server(make_container(slack_mock=slack))


def slash(app, text: str, user: str) -> dict:
    body, ctype = sr.slash_command(text, user_id=user)
    with app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200
    return resp.json()


def test_a_second_slack_account_showing_a_linked_persons_email_is_refused_and_logged(slack_app, slack, caplog):
    first = slash(slack_app, "leads", "U_MAYA")
    assert "don't know who you are" not in first["text"]
    assert person(slack_app.container, "maya").slack_user_id == "U_MAYA"
    slack.add_user("maya@northwind.example", "U_IMPOSTOR", name="maya")
    caplog.set_level(logging.INFO)
    for text in ("leads", "touch L-1 called", "help"):
        answer = slash(slack_app, text, "U_IMPOSTOR")
        assert "another Slack account" in answer["text"] and "won't act on it" in answer["text"]
    assert person(slack_app.container, "maya").slack_user_id == "U_MAYA"  # the first link sticks
    with slack_app.container.uow_factory() as uow:
        assert uow.people.by_slack_id("U_IMPOSTOR") is None
    assert any(
        "refused Slack account U_IMPOSTOR" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
    )
    assert "don't know who you are" not in slash(slack_app, "leads", "U_MAYA")["text"]  # Maya still is Maya


def test_a_second_slack_account_cannot_press_buttons_or_submit_forms_as_the_person(slack_app, slack):
    slash(slack_app, "help", "U_ANA")
    slack.add_user("ana@northwind.example", "U_IMPOSTOR")
    body, ctype = sr.block_actions(
        "cooling.follow_up#0", "1", user_id="U_IMPOSTOR", response_url=slack.response_url("press")
    )
    form, _ = sr.view_submission("schedule.add", {"title": {"title": "x"}}, user_id="U_IMPOSTOR")
    with slack_app.client() as http:
        assert (
            http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype)).status_code
            == 200
        )
        assert (
            http.post("/slack/events", content=form, headers=sr.signed_headers(SIGNING_SECRET, form, ctype)).status_code
            == 200
        )
    said = json.dumps(slack.calls())
    assert said.count("another Slack account") >= 2


def test_the_slack_profile_is_read_with_no_transaction_open(slack_app, slack):
    """users.info is a remote call: while it is held, no database connection is checked out."""
    slack_app.container.dispatcher.stop()  # its polls (every 50 ms here) would check connections out too
    arrived, release = slack.hold_next("users.info")
    result = {}
    worker = threading.Thread(target=lambda: result.update(answer=slash(slack_app, "help", "U_KIRA")))
    worker.start()
    assert arrived.wait(10)
    try:
        # The server's dispatcher may hold a connection for a moment of its own; the request's
        # thread, held inside users.info, would hold one the whole time.
        deadline = time.monotonic() + 5
        checked_out = slack_app.container.engine.pool.checkedout()
        while checked_out and time.monotonic() < deadline:
            time.sleep(0.01)
            checked_out = slack_app.container.engine.pool.checkedout()
    finally:
        release.set()
    worker.join(10)
    assert checked_out == 0
    assert person(slack_app.container, "kira").slack_user_id == "U_KIRA"


def test_a_second_teams_account_showing_a_linked_persons_email_is_refused_and_logged(make_teams_app, teams, caplog):
    app = make_teams_app()
    maya = teams.user("maya@northwind.example")
    with app.client() as http:
        assert http.post("/api/messages", json=ts.message(teams.service_url, "leads", user=maya)).status_code == 200
    assert person(app.container, "maya").teams_user_id == "aad-maya"
    impostor = {**maya, "id": "29:impostor", "aadObjectId": "aad-impostor", "name": "Maya"}
    with teams._lock:
        teams.users["impostor"] = impostor
    caplog.set_level(logging.INFO)
    with app.client() as http:
        assert http.post("/api/messages", json=ts.message(teams.service_url, "leads", user=impostor)).status_code == 200
    sent = json.dumps(teams.sent("a:29:impostor"))
    assert "another Microsoft Teams account" in sent
    assert person(app.container, "maya").teams_user_id == "aad-maya"
    assert any("refused Microsoft Teams account aad-impostor" in r.getMessage() for r in caplog.records)


# --- the rules, on the storage of both databases ---------------------------------------------------


def test_the_first_link_sticks_and_a_link_by_hand_wins(make_container):
    c = make_container()
    with c.uow_factory() as uow:
        ana = uow.people.by_key("ana")
        assert identity.link_by_email(uow, "slack", "U1", "ANA@northwind.example").person_id == ana.id
        refused = identity.link_by_email(uow, "slack", "U2", "ana@northwind.example")
        assert refused.person_id is None and "another Slack account" in refused.refused
        assert identity.link_by_email(uow, "slack", "U1", None).person_id == ana.id  # linked: no email needed
        assert identity.link_by_email(uow, "slack", "U9", "nobody@example.com").person_id is None
        ben = uow.people.by_key("ben")
        assert identity.link_person(uow, "slack", ben.id, "U1") is False  # U1 is Ana's
        assert uow.people.get(ben.id).slack_user_id is None
        identity.link_by_hand(uow, "slack", ben, "U1")  # an admin says U1 is Ben
        uow.people.add(ben)
        uow.commit()
    with c.uow_factory() as uow:
        assert uow.people.by_slack_id("U1").key == "ben"
        assert uow.people.by_key("ana").slack_user_id is None


def test_a_roster_links_each_account_once_and_leaves_linked_people_alone(make_container):
    c = make_container()
    with c.uow_factory() as uow:
        identity.link_by_email(uow, "teams", "aad-ana", "ana@northwind.example")
        linked = identity.link_by_email_many(
            uow,
            "teams",
            {
                "ana@northwind.example": "aad-other",  # Ana is linked already: left alone
                "ben@northwind.example": "aad-ben",
                "kira@northwind.example": "aad-ana",  # Ana's account: not Kira's
                "stranger@example.com": "aad-x",
            },
        )
        uow.commit()
    assert set(linked) == {"ben@northwind.example"}
    assert person(c, "ana").teams_user_id == "aad-ana"
    assert person(c, "kira").teams_user_id is None
