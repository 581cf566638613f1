"""Safe to expose: forged, oversized and malformed requests on every endpoint get a 4xx with a
short reason, and nothing is processed, stored or logged from them (issue 12, items 1-3)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from bot.inbound import CHAT_MAX_BYTES
from bot.settings import Settings
from bot.signing import HEADER, sign
from tests import slack_requests as sr
from tests.conftest import ROOT, SIGNING_SECRET, WEBHOOK_SECRET
from tests.teams_helpers import make_teams_app, teams, teams_server  # noqa: F401 - fixtures

MARKER = "BODY-MARKER-7f3a"
DEEP = ("[" * 1000 + "]" * 1000).encode()
DEEP_OBJECT = ('{"a":' * 1000 + "1" + "}" * 1000).encode()
# Bodies that are not what Slack sends, each sent as JSON and as a form.
MALFORMED = [
    (b"{x", sr.JSON),
    (b"payload=x", sr.FORM),
    (b"payload=%5B%5D", sr.FORM),  # payload=[]
    (b'\xff\xfe{"type": "x"}', sr.JSON),  # not UTF-8
    (b"[]", sr.JSON),
    (b"null", sr.JSON),
    (DEEP, sr.JSON),
    (DEEP_OBJECT, sr.JSON),
    (b'{"type": "event_callback", "event": []}', sr.JSON),
    (b'{"type": "block_actions", "actions": "x", "user": {"id": "U_ANA"}}', sr.JSON),
    (b'{"type": "view_submission", "view": {"callback_id": 3}}', sr.JSON),
    (b"command=%2Fsmarketing&text=help&user_id=1", sr.FORM),  # ok shape: answered, not refused
]
MALFORMED_IDS = [
    "brace",
    "payload-x",
    "payload-list",
    "not-utf8",
    "list",
    "null",
    "deep-list",
    "deep-object",
    "event-list",
    "actions-string",
    "callback-number",
    "numeric-user-form",
]


def processed(c) -> dict:
    """What a request could have changed: inbound ids, outbox rows, linked chat accounts."""
    from sqlmodel import func, select

    from storage.models import Outbox, Person, ProcessedInbound

    with c.uow_factory() as uow:
        s = uow.session
        return {
            "inbound": s.exec(select(func.count()).select_from(ProcessedInbound)).one(),
            "outbox": s.exec(select(func.count()).select_from(Outbox)).one(),
            "linked": sorted(p.key for p in s.exec(select(Person).where(Person.slack_user_id.is_not(None)))),
        }


@pytest.fixture
def slack_app(make_container, slack, live_server):
    return live_server(make_container(slack_mock=slack))


# --- item 1: no signing secret, no /slack/events --------------------------------------------------


def test_without_a_signing_secret_a_forged_slash_command_gets_404_and_nothing_is_processed(
    make_container, slack, live_server
):
    app = live_server(make_container(slack_mock=slack, slack_signing_secret=None, slack_app_token="xapp-1-test"))
    before = processed(app.container)
    body, ctype = sr.slash_command("leads", user_id="U_MAYA")
    with app.client() as http:
        unsigned = http.post("/slack/events", content=body, headers={"Content-Type": ctype})
        signed = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    for resp in (unsigned, signed):
        assert resp.status_code == 404
        assert "Socket Mode" in resp.json()["error"] and "SLACK_SIGNING_SECRET" in resp.json()["error"]
    assert slack.calls() == []  # not even users.info for the claimed user
    assert processed(app.container) == before


def test_a_slack_token_with_neither_a_signing_secret_nor_an_app_token_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET .* or SLACK_APP_TOKEN"):
        Settings(_env_file=None, slack_bot_token="xoxb-1")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SLACK_BOT_TOKEN": "xoxb-1"}
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET" in proc.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(
    "over, expected",
    [
        (
            {"slack_app_token": "xapp-1", "slack_signing_secret": None},
            "Slack: Socket Mode (POST /slack/events is off: no SLACK_SIGNING_SECRET)",
        ),
        ({}, "Slack: HTTP at http://127.0.0.1:3000/slack/events (signed requests only) (no Socket Mode"),
        ({"slack_app_token": "xapp-1"}, "Slack: Socket Mode, and HTTP at http://127.0.0.1:3000/slack/events"),
    ],
    ids=["socket", "http", "both"],
)
def test_the_start_banner_says_which_slack_mode_is_on(make_container, slack, capsys, over, expected):
    from bot.cli import _banner

    c = make_container(slack_mock=slack, **over)
    _banner(c.settings, c)
    assert expected in capsys.readouterr().out


# --- item 2: a byte limit before anything reads the body; no body in the log ----------------------


def test_an_oversized_unsigned_slack_body_is_refused_with_413_while_it_streams(slack_app, slack):
    sent = 0

    def chunks():  # no Content-Length: the limit must be counted, not read from a header
        nonlocal sent
        for _ in range(64):
            sent += 256 * 1024
            yield b"x" * (256 * 1024)

    with slack_app.client() as http:
        resp = http.post("/slack/events", content=chunks(), headers={"Content-Type": sr.FORM})
    assert resp.status_code == 413
    assert str(CHAT_MAX_BYTES) in resp.json()["error"]
    with slack_app.client() as http:
        declared = http.post("/slack/events", content=b"x" * (CHAT_MAX_BYTES + 1), headers={"Content-Type": sr.FORM})
    assert declared.status_code == 413
    assert slack.calls() == []


def test_a_badly_signed_body_is_never_logged(slack_app, slack, caplog):
    caplog.set_level(logging.DEBUG)
    body, ctype = sr.slash_command(f"leads {MARKER}", user_id="U_MAYA")
    with slack_app.client() as http:
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers("not-the-secret", body, ctype))
    assert resp.status_code == 401
    assert not [r for r in caplog.records if MARKER in r.getMessage()]


def test_bolt_itself_never_logs_a_request_body(slack_app, caplog):
    """bolt's own verification (behind ours) logs a failed body at INFO; its loggers are filtered."""
    from slack_bolt import BoltRequest

    caplog.set_level(logging.DEBUG)
    body, ctype = sr.slash_command(f"leads {MARKER}", user_id="U_MAYA")
    headers = sr.signed_headers("not-the-secret", body, ctype)
    resp = slack_app.container.slack.app.dispatch(BoltRequest(body=body.decode(), headers=headers))
    assert resp.status == 401
    assert any("Invalid request signature" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if MARKER in r.getMessage()]


# --- item 3: verify first; malformed is a 4xx with a short reason ---------------------------------


@pytest.mark.parametrize("raw, ctype", MALFORMED, ids=MALFORMED_IDS)
def test_unsigned_malformed_slack_bodies_get_401_and_nothing_is_processed(slack_app, slack, raw, ctype):
    before = processed(slack_app.container)
    with slack_app.client() as http:
        resp = http.post("/slack/events", content=raw, headers={"Content-Type": ctype})
        stale = http.post(
            "/slack/events",
            content=raw,
            headers=sr.signed_headers(SIGNING_SECRET, raw, ctype, timestamp=int(time.time()) - 600),
        )
    for r in (resp, stale):
        assert r.status_code == 401
        assert "invalid request" in r.json()["error"]
    assert slack.calls() == []
    assert processed(slack_app.container) == before


@pytest.mark.parametrize("raw, ctype", MALFORMED[:-1], ids=MALFORMED_IDS[:-1])
def test_signed_malformed_slack_bodies_get_a_4xx_with_a_short_reason(slack_app, slack, raw, ctype):
    before = processed(slack_app.container)
    with slack_app.client() as http:
        headers = {"Content-Type": ctype, **sr.sign(SIGNING_SECRET, raw)}
        resp = http.post("/slack/events", content=raw, headers=headers)
    assert 400 <= resp.status_code < 500, resp.text
    assert len(resp.text) < 300 and "Traceback" not in resp.text
    assert processed(slack_app.container) == before


def test_a_well_formed_form_with_an_unknown_user_is_answered_not_refused(slack_app):
    raw, ctype = MALFORMED[-1]
    with slack_app.client() as http:
        resp = http.post("/slack/events", content=raw, headers={"Content-Type": ctype, **sr.sign(SIGNING_SECRET, raw)})
    assert resp.status_code == 200 and "Commands" in resp.json()["text"]


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT], ids=["list", "object"])
def test_deeply_nested_json_is_a_400_on_the_crm_webhook(make_container, live_server, raw):
    app = live_server(make_container())
    with app.client() as http:
        resp = http.post(
            "/webhooks/crm",
            content=raw,
            headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, raw)},
        )
        deep_extra = json.dumps(
            {
                "id": "e1",
                "type": "campaign.upserted",
                "occurred_at": "2026-11-20T10:00:00Z",
                "data": {"id": "c1", "name": "x", "deep": json.loads(b'{"a":' * 100 + b"1" + b"}" * 100)},
            }
        ).encode()
        extra = http.post(
            "/webhooks/crm",
            content=deep_extra,
            headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, deep_extra)},
        )
    assert resp.status_code == 400 and "nested deeper than" in resp.json()["error"]
    assert extra.status_code == 400 and "nested deeper than" in extra.json()["error"]


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT], ids=["list", "object"])
def test_deeply_nested_json_is_a_400_on_the_teams_endpoint_with_or_without_a_token(make_teams_app, teams, raw):
    for allow in (True, False):
        app = make_teams_app(dangerously_allow_unauthenticated_requests=allow)
        with app.client() as http:
            resp = http.post("/api/messages", content=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400 and "nested deeper than" in resp.json()["error"]
    assert teams.requests == []


def test_deeply_nested_json_is_a_400_in_the_local_workspace(make_container, live_server):
    app = live_server(make_container(local_workspace=True, demo_data=False), local=True)
    with app.client() as http:
        resp = http.post("/local/api/command", content=DEEP_OBJECT, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "nested deeper than" in resp.json()["error"]


def test_an_activity_the_teams_sdk_cannot_read_is_a_400_after_the_token_check(make_teams_app, teams):
    from tests import teams_standin as ts

    user = teams.user("ana@northwind.example")
    bad = [
        dict(ts.message(teams.service_url, "help", user=user), type=5),
        dict(ts.message(teams.service_url, "help", user=user), conversation=[]),
        dict(ts.card_action(teams.service_url, user=user, verb="x", data={}), value="x"),
    ]
    open_app = make_teams_app()
    checked = make_teams_app(dangerously_allow_unauthenticated_requests=False)
    for activity in bad:
        with open_app.client() as http:
            resp = http.post("/api/messages", json=activity)
        assert resp.status_code == 400 and resp.json()["error"].startswith("malformed activity"), resp.text
        with checked.client() as http:
            assert http.post("/api/messages", json=activity).status_code == 401  # the token first
    assert teams.requests == []


def test_a_teams_form_submission_carrying_an_unusable_or_crafted_form_gets_a_plain_answer(make_teams_app, teams):
    from tests import teams_standin as ts

    app = make_teams_app()
    with app.container.uow_factory() as uow:
        leo = uow.people.by_key("leo")
        leo.teams_user_id = "aad-leo"
        uow.people.add(leo)
        uow.commit()
    user = teams.user("ana@northwind.example")
    crafted = {
        "title": "Add",
        "action": "schedule.add",
        "blocks": [{"type": "section", "text": f"hello \ue000person:{leo.id}\ue001"}],
        "inputs": [{"name": "title", "label": "T"}],
    }
    for form_def in ({"nope": True}, crafted):
        data = {"_smarketing": {"form": "schedule.add", "def": form_def}, "title": ""}
        with app.client() as http:
            resp = http.post(
                "/api/messages", json=ts.card_action(teams.service_url, user=user, verb="schedule.add", data=data)
            )
        assert resp.status_code == 200, resp.text
        assert "Something went wrong" not in resp.text
        assert "aad-leo" not in resp.text  # a mention smuggled in the card's data stays text
