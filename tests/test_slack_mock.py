"""The Slack test doubles themselves, exercised through the real slack_sdk / slack_bolt clients."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier

from tests.slack_mock import SlackMock
from tests.slack_requests import (
    block_actions,
    event_callback,
    sign,
    signed_headers,
    slash_command,
    url_verification,
    view_submission,
)

SECRET = "test-signing-secret"


@pytest.fixture
def slack():
    with SlackMock(users={"ana@example.com": "U_ANA"}, missing_channels={"C_GONE"}) as mock:
        yield mock


@pytest.fixture
def client(slack):
    return WebClient(token="xoxb-test", base_url=slack.base_url, retry_handlers=[])


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def button(action_id: str, text: str = "Go", value: str = "v") -> dict:
    return {"type": "button", "action_id": action_id, "text": plain(text), "value": value}


def actions(*elements: dict) -> dict:
    return {"type": "actions", "elements": list(elements)}


def retrying_client(slack: SlackMock, handler) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.base_url, retry_handlers=[handler])


def test_post_then_update_changes_messages(slack, client):
    first = client.chat_postMessage(channel="C1", text="hello", blocks=[section("hello")])
    second = client.chat_postMessage(channel="U_ANA", text="dm")  # lands in the user's DM
    assert first["ts"] < second["ts"] and second["channel"] == "D_ANA"

    client.chat_update(channel="C1", ts=first["ts"], text="bye", blocks=[section("bye")])
    (message,) = slack.messages("C1")
    assert message["text"] == "bye" and message["blocks"][0]["text"]["text"] == "bye"
    assert [m["text"] for m in slack.messages("U_ANA")] == ["dm"]

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.2", text="x")
    assert err.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C_GONE", text="x")
    assert err.value.response["error"] == "channel_not_found"
    failed = [c["_error"] for c in slack.calls() if "_status" in c]
    assert failed == ["message_not_found", "channel_not_found"]


def test_rate_limit_is_retried_after_retry_after(slack):
    client = retrying_client(slack, RateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit_next("chat.postMessage", retry_after=0)
    resp = client.chat_postMessage(channel="C1", text="eventually")
    assert resp["ok"]
    assert [c.get("_status") for c in slack.calls("chat.postMessage")] == [429, None]
    assert len(slack.messages()) == 1


def test_server_error_is_retried_and_then_surfaces(slack):
    client = retrying_client(slack, ServerErrorRetryHandler(max_retry_count=1))
    slack.fail_next("chat.postMessage", status=500)
    assert client.chat_postMessage(channel="C1", text="second try")["ok"]
    assert [c.get("_status") for c in slack.calls("chat.postMessage")] == [500, None]

    slack.fail_next("chat.postMessage", status=503, times=2)  # more failures than retries
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="gives up")
    assert err.value.response.status_code == 503


def test_dropped_connection_and_injected_error(slack):
    client = retrying_client(slack, ConnectionErrorRetryHandler())
    slack.drop_next("users.lookupByEmail")
    assert client.users_lookupByEmail(email="ana@example.com")["user"]["id"] == "U_ANA"
    assert [c.get("_status") for c in slack.calls("users.lookupByEmail")] == ["dropped", None]

    slack.error_next("conversations.open", error="ratelimited")
    with pytest.raises(SlackApiError) as err:
        client.conversations_open(users="U_ANA")
    assert err.value.response["error"] == "ratelimited"
    assert client.conversations_open(users="U_ANA")["channel"]["id"] == "D_ANA"
    with pytest.raises(SlackApiError) as err:
        client.users_lookupByEmail(email="nobody@example.com")
    assert err.value.response["error"] == "users_not_found"


def test_invalid_auth_and_unknown_method(slack):
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-wrong", base_url=slack.base_url).auth_test()
    assert err.value.response["error"] == "invalid_auth"
    assert WebClient(token="xoxb-test", base_url=slack.base_url).auth_test()["user_id"] == "U_BOT"
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-test", base_url=slack.base_url).api_call("chat.frobnicate")
    assert err.value.response["error"] == "unknown_method"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"blocks": [section(f"b{i}") for i in range(51)]}, "invalid_blocks"),
        ({"blocks": [section("x" * 3001)]}, "invalid_blocks"),
        ({"blocks": [{"type": "header", "text": plain("h" * 151)}]}, "invalid_blocks"),
        ({"blocks": [{"type": "section", "fields": [plain("f")] * 11}]}, "invalid_blocks"),
        ({"blocks": [actions(button("a", text="t" * 76))]}, "invalid_blocks"),
        ({"blocks": [actions(button("a", value="v" * 2001))]}, "invalid_blocks"),
        ({"blocks": [actions(button("a"), button("a"))]}, "invalid_blocks"),
        ({"blocks": [section("x", block_id="b" * 256)]}, "invalid_blocks"),
        ({"text": "x" * 40001}, "msg_too_long"),
        ({}, "no_text"),
    ],
    ids=[
        "51-blocks",
        "section-3001",
        "header-151",
        "11-fields",
        "button-text",
        "button-value",
        "dup-action-id",
        "block-id-256",
        "msg-too-long",
        "no-text",
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_block_kit_limits(slack, client, kwargs, error):
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", **kwargs)
    assert err.value.response["error"] == error
    assert slack.messages() == []


def test_limits_at_the_boundary_pass(slack, client):
    blocks = [section("x" * 3000)] + [section(f"b{i}") for i in range(48)]
    blocks.append(actions(button("a", text="t" * 75, value="v" * 2000)))
    assert client.chat_postMessage(channel="C1", text="x" * 40000, blocks=blocks)["ok"]


def test_views_open_limits_and_form_encoded_view(slack, client):
    def modal(title="Report", options=3):
        select = {
            "type": "static_select",
            "action_id": "pick",
            "options": [{"text": plain(f"o{i}"), "value": str(i)} for i in range(options)],
        }
        block = {"type": "input", "block_id": "b", "label": plain("L"), "element": select}
        return {"type": "modal", "callback_id": "report", "title": plain(title), "blocks": [block]}

    view = client.views_open(trigger_id="t1", view=modal())["view"]
    assert view["id"].startswith("V")
    assert slack.calls("views.open")[0]["view"]["callback_id"] == "report"
    for bad in (modal(title="t" * 25), modal(options=101)):
        with pytest.raises(SlackApiError) as err:
            client.views_open(trigger_id="t1", view=bad)
        assert err.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="", view=modal())
    assert err.value.response["error"] == "invalid_arguments"
    # Form-encoded bodies carry the view as a JSON string; calls() shows it decoded.
    params = {"view_id": view["id"], "view": json.dumps(modal("Again"))}
    client.api_call("views.update", params=params)
    assert slack.calls("views.update")[0]["view"]["title"]["text"] == "Again"
    assert slack.views()[0]["title"]["text"] == "Again"


def test_wait_for_and_response_url(slack, client):
    def later():
        time.sleep(0.1)
        client.chat_postMessage(channel="C1", text="async")
        req = urllib.request.Request(
            slack.response_url("cmd"),
            data=b'{"text": "done", "replace_original": true}',
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()

    threading.Thread(target=later).start()
    assert slack.wait_for("chat.postMessage", 1)[0]["text"] == "async"
    assert slack.wait_for_responses("cmd", 1)[0]["text"] == "done"
    with pytest.raises(AssertionError):
        slack.wait_for("chat.delete", 1, timeout=0.2)


def test_signature_matches_slack_sdk_verifier():
    body, ctype = slash_command("report")
    headers = signed_headers(SECRET, body, ctype)
    assert SignatureVerifier(SECRET).is_valid_request(body, headers)
    assert not SignatureVerifier("wrong-secret").is_valid_request(body, headers)
    assert not SignatureVerifier(SECRET).is_valid_request(body + b"&x=1", headers)
    stale = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(body, stale)
    assert sign(SECRET, body.decode(), timestamp=1) == sign(SECRET, body, timestamp=1)


def test_payload_shapes():
    body, ctype = slash_command("hi there", trigger_id="T", response_url="R")
    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    expected = {"text": "hi there", "command": "/smarketing", "user_id": "U_ANA", "trigger_id": "T"}
    assert ctype == "application/x-www-form-urlencoded"
    assert expected.items() <= fields.items() and fields["response_url"] == "R"
    message = {
        "channel": "C9",
        "ts": "1700000000.000200",
        "blocks": [{"type": "actions", "block_id": "acts", "elements": [button("approve")]}],
    }
    body, ctype = block_actions("approve", "42", message=message)
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    assert ctype == "application/x-www-form-urlencoded"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000200",
        "channel_id": "C9",
        "is_ephemeral": False,
    }
    expected = {"action_id": "approve", "block_id": "acts", "value": "42", "type": "button"}
    assert expected.items() <= payload["actions"][0].items()
    body, _ = view_submission("report", {"b": {"a": "typed"}}, private_metadata="m")
    view = json.loads(parse_qs(body.decode())["payload"][0])["view"]
    assert view["state"]["values"] == {"b": {"a": {"type": "plain_text_input", "value": "typed"}}}
    assert view["private_metadata"] == "m" and view["callback_id"] == "report"
    envelope = json.loads(event_callback({"type": "app_mention", "text": "hi"}, event_id="Ev9")[0])
    assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev9"
    assert json.loads(url_verification("c")[0])["challenge"] == "c"


def test_bolt_app_accepts_the_signed_requests(slack):
    """End to end: Bolt verifies our signatures, parses our payloads and talks to the mock."""
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    app = App(client=client, signing_secret=SECRET)
    seen = {}
    mentioned = threading.Event()

    @app.command("/smarketing")
    def on_command(ack, command, respond, client):
        ack()
        respond(text=f"got {command['text']}")
        client.chat_postMessage(
            channel=command["user_id"],
            text="hi",
            blocks=[{"type": "actions", "block_id": "acts", "elements": [button("approve", value="7")]}],
        )

    @app.action("approve")
    def on_action(ack, body, action):
        ack()
        seen["action"] = (action["value"], body["container"]["message_ts"])

    @app.view("report")
    def on_view(ack, view):
        ack()
        seen["view"] = view["state"]["values"]["b"]["a"]["value"]

    @app.event("app_mention")
    def on_mention(event):
        seen["event"] = event["text"]
        mentioned.set()

    def dispatch(built, secret=SECRET):
        body, ctype = built
        headers = signed_headers(secret, body, ctype)
        return app.dispatch(BoltRequest(body=body.decode(), headers=headers))

    assert dispatch(slash_command("weekly", response_url=slack.response_url("cmd"))).status == 200
    assert slack.wait_for_responses("cmd")[0]["text"] == "got weekly"
    (posted,) = slack.wait_for("chat.postMessage")
    message = slack.messages("U_ANA")[0]
    assert dispatch(block_actions("approve", "7", message=message)).status == 200
    assert seen["action"] == ("7", message["ts"])
    assert dispatch(view_submission("report", {"b": {"a": "x"}})).status == 200
    assert seen["view"] == "x"
    mention = {"type": "app_mention", "text": "yo", "user": "U_ANA"}
    assert dispatch(event_callback(mention)).status == 200
    assert dispatch(url_verification("abc")).body == '{"challenge": "abc"}'
    assert dispatch(slash_command("weekly"), secret="wrong").status == 401
    assert mentioned.wait(5) and seen["event"] == "yo"  # events are acked before the listener runs


# --- App Home and file uploads ------------------------------------------------------------------


def test_views_publish_keeps_a_home_per_user_and_refuses_more_than_100_blocks(slack):
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}
    client.views_publish(user_id="U_ANA", view={"type": "home", "blocks": [block] * 100})
    assert len(slack.home("U_ANA")["blocks"]) == 100
    with pytest.raises(SlackApiError) as e:
        client.views_publish(user_id="U_ANA", view={"type": "home", "blocks": [block] * 101})
    assert e.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as e:
        client.views_publish(
            user_id="U_ANA", view={"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": [block]}
        )
    assert e.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as e:
        client.views_publish(user_id="U_NOBODY", view={"type": "home", "blocks": [block]})
    assert e.value.response["error"] == "user_not_found"


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_a_file_uploaded_in_three_steps_can_be_shown_in_an_image_block(slack):
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    done = client.files_upload_v2(content=PNG, filename="chart.png", title="Chart", alt_txt="a chart")
    file_id = done["files"][0]["id"]
    stored = slack.files()[file_id]
    assert stored["content"] == PNG and stored["completed"] and stored["channels"] == []
    image = {"type": "image", "slack_file": {"id": file_id}, "alt_text": "a chart"}
    client.chat_postMessage(channel="C1", text="chart", blocks=[image])
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C1", text="chart", blocks=[{**image, "slack_file": {"id": "F_NOPE"}}])
    assert e.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(
            channel="C1", text="chart", blocks=[{k: v for k, v in image.items() if k != "alt_text"}]
        )
    assert e.value.response["error"] == "invalid_blocks"


def test_an_upload_not_sent_or_not_completed_cannot_be_shown(slack):
    client = WebClient(token="xoxb-test", base_url=slack.base_url)
    started = client.files_getUploadURLExternal(filename="chart.png", length=len(PNG))
    image = {"type": "image", "slack_file": {"id": started["file_id"]}, "alt_text": "a chart"}
    with pytest.raises(SlackApiError) as e:
        client.chat_postMessage(channel="C1", text="chart", blocks=[image])
    assert e.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as e:
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    assert e.value.response["error"] == "file_not_found"
