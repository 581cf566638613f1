"""Build inbound Slack requests (to our ``POST /slack/events``) signed exactly as Slack signs them.

Each builder returns ``(body_bytes, content_type)`` in the shape Slack really sends: slash commands
and interactivity payloads form-encoded (interactivity as ``payload=<json>``), Events API callbacks
as JSON. ``signed_headers`` adds the signature::

    from tests.slack_requests import slash_command, signed_headers

    body, ctype = slash_command("report weekly", response_url=slack.response_url("cmd"))
    resp = http.post("/slack/events", content=body, headers=signed_headers(SECRET, body, ctype))

``sign(secret, body, timestamp)`` computes Slack's v0 signature by hand (``v0=`` + hex HMAC-SHA256
of ``v0:{timestamp}:{body}``), independently of slack_sdk, so tests can cross-check the app's
verifier. Pass an old ``timestamp`` to test replay rejection (Slack apps refuse > 5 minutes).

Defaults: team ``T1``, user ``U_ANA``, channel ``C1``, app ``A1``, bot ``U_BOT`` - the same ids
``tests.slack_mock.SlackMock`` uses.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

VERIFICATION_TOKEN = "legacy-verification-token"  # Slack still sends it; Bolt ignores it
APP_ID = "A1"
BOT_USER_ID = "U_BOT"
BOT_ID = "B_BOT"
TEAM_DOMAIN = "smarketing-test"

_ids = itertools.count(1)


def _trigger_id() -> str:
    n = next(_ids)
    return f"{1_000_000_000 + n}.{2_000_000 + n}.{n:032x}"


def _default_response_url(team_id: str, kind: str = "commands") -> str:
    n = next(_ids)
    return f"https://hooks.slack.com/{kind}/{team_id}/{1000 + n}/resp{n:08d}"


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's ``X-Slack-Request-Timestamp`` / ``X-Slack-Signature`` headers for ``body``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    base = b"v0:" + str(ts).encode("ascii") + b":" + raw
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(secret: str, body: bytes | str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """``sign(...)`` plus ``Content-Type``: everything a POST to /slack/events needs."""
    return {"Content-Type": content_type, **sign(secret, body, timestamp)}


def _user(user_id: str, team_id: str) -> dict[str, Any]:
    name = user_id.split("_", 1)[-1].lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _team(team_id: str) -> dict[str, Any]:
    return {"id": team_id, "domain": TEAM_DOMAIN}


def _form_payload(payload: dict[str, Any]) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode("utf-8"), FORM


def slash_command(
    text: str,
    user_id: str = "U_ANA",
    command: str = "/smarketing",
    team_id: str = "T1",
    channel_id: str = "C1",
    trigger_id: str | None = None,
    response_url: str | None = None,
    channel_name: str = "general",
) -> tuple[bytes, str]:
    """A slash command invocation, form-encoded as Slack sends it."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else channel_name,
        "user_id": user_id,
        "user_name": _user(user_id, team_id)["name"],
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url or _default_response_url(team_id),
        "trigger_id": trigger_id or _trigger_id(),
    }
    return urlencode(fields).encode("utf-8"), FORM


def _find_block_id(blocks: list[dict[str, Any]], action_id: str) -> str | None:
    for block in blocks or []:
        elements = list(block.get("elements") or [])
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        if any(isinstance(e, dict) and e.get("action_id") == action_id for e in elements):
            return block.get("block_id")
    return None


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> dict[str, Any] | None:
    for block in blocks or []:
        for element in list(block.get("elements") or []) + [block.get("accessory")]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def block_actions(
    action_id: str,
    value: str,
    user_id: str = "U_ANA",
    message: dict[str, Any] | None = None,
    channel_id: str | None = None,
    response_url: str | None = None,
    trigger_id: str | None = None,
    block_id: str | None = None,
    team_id: str = "T1",
) -> tuple[bytes, str]:
    """A button click on a message, as ``payload=<json>``.

    ``message`` is the message the button sits on - pass one from ``SlackMock.messages()`` and its
    ``ts``, channel and blocks are used, and ``block_id`` is looked up from its blocks."""
    message = dict(message or {})
    channel_id = channel_id or message.get("channel") or "C1"
    ts = message.get("ts", "1700000000.000100")
    blocks = message.get("blocks") or []
    element = _find_element(blocks, action_id) or {}
    message_out = {
        "type": "message",
        "user": message.get("user", BOT_USER_ID),
        "bot_id": message.get("bot_id", BOT_ID),
        "app_id": APP_ID,
        "text": message.get("text", ""),
        "ts": ts,
        "team": team_id,
        "blocks": blocks,
    }
    payload = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {
            "id": channel_id,
            "name": "directmessage" if channel_id.startswith("D") else "general",
        },
        "message": message_out,
        "state": {"values": {}},
        "response_url": response_url or _default_response_url(team_id, "actions"),
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id or _find_block_id(blocks, action_id) or "actions",
                "text": element.get("text") or {"type": "plain_text", "text": action_id},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return _form_payload(payload)


def home_block_actions(
    action_id: str, value: str, view: dict[str, Any], user_id: str = "U_ANA", team_id: str = "T1"
) -> tuple[bytes, str]:
    """A button click on the App Home (``view`` as ``SlackMock.home()`` returns it): the container
    is the view, and there is no message, channel or ``response_url``, as on Slack."""
    blocks = view.get("blocks") or []
    element = _find_element(blocks, action_id) or {}
    payload = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": _trigger_id(),
        "team": _team(team_id),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view["id"],
            "team_id": team_id,
            "type": "home",
            "blocks": blocks,
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": view.get("hash"),
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "root_view_id": view["id"],
            "previous_view_id": None,
        },
        "actions": [
            {
                "action_id": action_id,
                "block_id": _find_block_id(blocks, action_id) or "actions",
                "text": element.get("text") or {"type": "plain_text", "text": action_id},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return _form_payload(payload)


def view_submission(
    callback_id: str,
    values: dict[str, dict[str, Any]],
    user_id: str = "U_ANA",
    private_metadata: str = "",
    view_id: str = "V000001",
    team_id: str = "T1",
    trigger_id: str | None = None,
    response_urls: list[dict[str, Any]] | None = None,
) -> tuple[bytes, str]:
    """A modal submission, as ``payload=<json>``.

    ``values`` is ``{block_id: {action_id: value-dict}}`` as in ``view.state.values``; a bare
    string value is shorthand for ``{"type": "plain_text_input", "value": s}``."""
    state = {
        block_id: {
            action_id: ({"type": "plain_text_input", "value": v} if isinstance(v, str) or v is None else v)
            for action_id, v in actions.items()
        }
        for block_id, actions in values.items()
    }
    payload = {
        "type": "view_submission",
        "team": _team(team_id),
        "user": _user(user_id, team_id),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state},
            "hash": "1.hash",
            "title": {"type": "plain_text", "text": "Smarketing", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": APP_ID,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": BOT_ID,
        },
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _form_payload(payload)


def event_callback(event: dict[str, Any], event_id: str = "Ev1", team_id: str = "T1") -> tuple[bytes, str]:
    """An Events API delivery (JSON) wrapping ``event``."""
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }
    return json.dumps(envelope).encode("utf-8"), JSON


def url_verification(challenge: str) -> tuple[bytes, str]:
    """The Events API URL handshake; the app must echo ``challenge``."""
    body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return json.dumps(body).encode("utf-8"), JSON


def as_read(text: str) -> str:
    """Slack text with each date token (``<!date^1795449600^{time}|10:00 EST>``) as its fallback:
    what a reader whose Slack zone is the fallback's sees."""
    import re

    return re.sub(r"<!date\^\d+\^[^|>]*\|([^>]*)>", r"\1", text)
