"""The Slack adapter through the real HTTP server, with a local stand-in for Slack's Web API."""

from __future__ import annotations

import time

import pytest

from tests import slack_requests as sr
from tests.conftest import SIGNING_SECRET


@pytest.fixture
def app(make_container, slack, live_server):
    c = make_container(slack_mock=slack)
    return live_server(c)


def post_slack(client, body: bytes, content_type: str, *, secret=SIGNING_SECRET, timestamp=None, extra=None):
    headers = sr.signed_headers(secret, body, content_type, timestamp=timestamp)
    headers.update(extra or {})
    return client.post("/slack/events", content=body, headers=headers)


def test_help_is_answered_ephemerally_within_slacks_three_seconds(app):
    body, ctype = sr.slash_command("help", user_id="U_ANA")
    with app.client() as http:
        started = time.perf_counter()
        resp = post_slack(http, body, ctype)
        elapsed = time.perf_counter() - started
    assert resp.status_code == 200
    assert elapsed < 3.0
    answer = resp.json()
    assert answer["response_type"] == "ephemeral"
    assert "/smarketing help" in answer["text"]


def test_an_unknown_sub_command_gets_a_short_specific_answer(app):
    body, ctype = sr.slash_command("frobnicate now", user_id="U_ANA")
    with app.client() as http:
        resp = post_slack(http, body, ctype)
    assert resp.status_code == 200
    text = resp.json()["text"]
    assert "I don't know `frobnicate`" in text
    assert "/smarketing help" in text


@pytest.mark.parametrize(
    "secret, age", [("wrong-secret", 0), (SIGNING_SECRET, 6 * 60)], ids=["bad signature", "stale signature"]
)
def test_bad_or_stale_slack_signatures_are_refused_and_nothing_is_stored(app, slack, secret, age):
    event = {"type": "app_mention", "user": "U_ANA", "text": "<@UBOT> help", "channel": "C1", "ts": "1.1"}
    body, ctype = sr.event_callback(event, event_id="EvBad")
    with app.client() as http:
        resp = post_slack(http, body, ctype, secret=secret, timestamp=int(time.time()) - age)
    assert resp.status_code == 401
    with app.container.uow_factory() as uow:
        assert uow.inbound.claim("slack_event", ["EvBad"], app.container.deps.now()) == {"EvBad"}
    assert slack.calls("chat.postMessage") == []


def test_a_retried_slack_event_is_handled_once(app, slack):
    event = {"type": "app_mention", "user": "U_ANA", "text": "<@UBOT> help", "channel": "C_SALES", "ts": "1.1"}
    body, ctype = sr.event_callback(event, event_id="Ev42")
    with app.client() as http:
        first = post_slack(http, body, ctype)
        retry = post_slack(http, body, ctype, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == 200 and retry.status_code == 200
    slack.wait_for("chat.postMessage", 1)  # the answer is queued with the event's id, then delivered
    app.container.dispatcher.drain()  # nothing else is on its way
    posts = slack.calls("chat.postMessage")
    assert len(posts) == 1 and posts[0]["channel"] == "C_SALES"
    assert "/smarketing help" in posts[0]["text"]


def test_a_direct_message_is_read_as_a_command(app, slack):
    event = {"type": "message", "channel_type": "im", "user": "U_ANA", "text": "help", "channel": "D_ANA", "ts": "2.1"}
    body, ctype = sr.event_callback(event, event_id="EvDM")
    with app.client() as http:
        assert post_slack(http, body, ctype).status_code == 200
    posts = slack.wait_for("chat.postMessage", 1)
    assert len(posts) == 1 and "Commands" in posts[0]["text"] and posts[0]["channel"] == "D_ANA"


def test_url_verification_answers_the_challenge(app):
    body, ctype = sr.url_verification("challenge-123")
    with app.client() as http:
        resp = post_slack(http, body, ctype)
    assert resp.status_code == 200
    assert "challenge-123" in resp.text


def test_an_error_in_a_listener_gives_the_user_a_brief_answer_and_a_reference(app, slack, monkeypatch):
    from bot.slack import app as slack_app

    def boom(*a, **k):
        raise RuntimeError("database on fire")

    # The failure is injected below the adapter (in the command runner it calls).
    monkeypatch.setattr(slack_app, "run_command", boom)
    body, ctype = sr.slash_command("help", user_id="U_ANA")
    with app.client() as http:
        resp = post_slack(http, body, ctype)
    assert resp.status_code == 200
    text = resp.json()["text"]
    assert "Something went wrong" in text and "ref slack-" in text
    assert "database on fire" not in text
