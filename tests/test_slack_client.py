"""The Slack Web API client the bot uses (``bot.slack.client.make_client``): its calls go over
kept-alive connections, one per thread, as Slack's API allows, instead of a new connection (a TCP
and a TLS handshake) per call; failures read as they did before. Against the local stand-in of
Slack's Web API (``tests/slack_mock.py``), which speaks HTTP/1.1 as Slack does."""

from __future__ import annotations

import threading

import pytest
from slack_sdk.errors import SlackApiError

from bot.dispatch import TransientError
from bot.slack.client import classify, make_client
from tests.conftest import free_port
from tests.slack_mock import SlackMock

TOKEN = "xoxb-test"


@pytest.fixture
def slack():
    with SlackMock(tokens=[TOKEN]) as mock:
        yield mock


def texts(slack: SlackMock, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel)]


@pytest.mark.parametrize("retries", ["none", "idempotent", "all"])
def test_many_posts_go_over_one_connection_per_thread(slack, retries):
    client = make_client(TOKEN, slack.base_url, retries=retries)
    before = slack.connections
    for i in range(20):
        assert client.chat_postMessage(channel="C1", text=f"post {i}")["ok"]
    assert texts(slack, "C1") == [f"post {i}" for i in range(20)]
    assert slack.connections - before == 1

    def post_from_another_thread():
        for i in range(5):
            client.chat_postMessage(channel="C2", text=f"other {i}")

    worker = threading.Thread(target=post_from_another_thread)
    worker.start()
    worker.join()
    assert texts(slack, "C2") == [f"other {i}" for i in range(5)]
    assert slack.connections - before == 2  # the other thread's own connection, kept for its 5 posts


def test_a_connection_slack_closed_while_idle_is_replaced_without_a_failed_call(slack):
    client = make_client(TOKEN, slack.base_url, retries="none")
    client.chat_postMessage(channel="C1", text="before")
    slack.close_idle_connections()  # as a load balancer does with a connection idle too long
    client.chat_postMessage(channel="C1", text="after")
    assert texts(slack, "C1") == ["before", "after"]
    assert [c.get("_status") for c in slack.calls("chat.postMessage")] == [None, None]  # no failed attempt
    assert slack.connections == 2


def test_a_rate_limit_reads_as_before_and_keeps_the_connection(slack):
    client = make_client(TOKEN, slack.base_url, retries="none")
    client.chat_postMessage(channel="C1", text="first")
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="limited")
    assert caught.value.response.status_code == 429
    err = classify(caught.value)
    assert isinstance(err, TransientError) and err.retry_after == 7 and err.reached is False
    client.chat_postMessage(channel="C1", text="then")
    assert texts(slack, "C1") == ["first", "then"] and slack.connections == 1


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_an_error_answer_and_a_server_error_read_as_before(slack):
    client = make_client(TOKEN, slack.base_url, retries="none")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="")
    assert caught.value.response["error"] == "no_text"
    slack.fail_next("chat.postMessage", 503)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="x")
    assert caught.value.response.status_code == 503
    assert classify(caught.value).reached is True  # a 5xx: Slack may have acted


def test_nobody_listening_is_a_failure_that_did_not_reach_slack():
    client = make_client(TOKEN, f"http://127.0.0.1:{free_port()}/api/", retries="none", timeout=2)
    with pytest.raises(Exception) as caught:
        client.chat_postMessage(channel="C1", text="x")
    err = classify(caught.value)
    assert isinstance(err, TransientError) and err.reached is False  # refused: nothing was sent
