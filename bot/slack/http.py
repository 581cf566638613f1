"""``POST /slack/events`` before bolt sees it: verify, then parse, then check the shape.

1. The body is read through the byte limit (``bot.inbound``) by the route.
2. The signature is checked on those raw bytes with slack_sdk's ``SignatureVerifier`` (v0 HMAC,
   5-minute window). Nothing is parsed, logged or stored for a request that fails: 401.
3. Only then is the body parsed, by bolt's own parser (so what we check is what bolt reads), with
   a bound on JSON nesting; a body that is not a JSON object (directly or as ``payload=``) is a 400.
4. The fields bolt's matchers and our listeners read must have the types Slack gives them; a
   signed body with, say, ``"event": []`` is a 400 naming the field, not an exception later.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from slack_bolt import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.inbound import MAX_JSON_DEPTH, too_deep

_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# Where a field is present (and not null), the JSON types it may have. Paths are dotted; "*" is
# every item of a list.
_SHAPE: dict[str, tuple[type, ...]] = {
    "type": (str,),
    "command": (str,),
    "text": (str,),
    "user_id": (str,),
    "trigger_id": (str,),
    "response_url": (str,),
    "team_id": (str,),
    "channel_id": (str,),
    "event_id": (str,),
    "token": (str,),
    "challenge": (str,),
    "team": (dict, str),
    "enterprise": (dict, str),
    "authorizations": (list,),
    "authorizations.*": (dict,),
    "event": (dict,),
    "event.type": (str,),
    "event.subtype": (str,),
    "event.text": (str,),
    "event.user": (str, dict),  # an object in user_change / team_join
    "event.user.id": (str,),
    "event.user.deleted": (bool,),
    "event.user.profile": (dict,),
    "event.user.profile.email": (str,),
    "event.channel": (str,),
    "event.channel_type": (str,),
    "event.bot_id": (str,),
    "event.ts": (str,),
    "user": (dict, str),
    "user.id": (str,),
    "channel": (dict, str),
    "channel.id": (str,),
    "container": (dict,),
    "container.channel_id": (str,),
    "container.message_ts": (str,),
    "message": (dict,),
    "message.metadata": (dict,),
    "message.metadata.event_payload": (dict,),
    "actions": (list,),
    "actions.*": (dict,),
    "actions.*.action_id": (str,),
    "actions.*.block_id": (str,),
    "actions.*.value": (str,),
    "actions.*.type": (str,),
    "view": (dict,),
    "view.callback_id": (str,),
    "view.private_metadata": (str,),
    "view.type": (str,),
    "view.state": (dict,),
    "view.state.values": (dict,),
    "view.state.values.*": (dict,),
    "view.state.values.*.*": (dict,),
    "view.state.values.*.*.type": (str,),
    "view.state.values.*.*.value": (str,),
    "view.state.values.*.*.selected_option": (dict,),
    "view.state.values.*.*.selected_option.value": (str,),
    "view.state.values.*.*.selected_date": (str,),
    "view.state.values.*.*.selected_time": (str,),
    "view.state.values.*.*.selected_date_time": (int,),
    "view.state.values.*.*.selected_user": (str,),
    "view.state.values.*.*.selected_conversation": (str,),
    "view.state.values.*.*.selected_channel": (str,),
}
_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number", bool: "true or false"}


def _values(node: Any, parts: list[str], where: str):
    """(path, value) of every present, non-null value at ``parts`` under ``node``."""
    if not parts:
        yield where, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, child in items:
            if child is not None:
                yield from _values(child, rest, f"{where}.{k}")
    elif isinstance(node, dict) and node.get(head) is not None:
        yield from _values(node[head], rest, f"{where}.{head}" if where else head)


def shape_problem(body: Any) -> str | None:
    """What is wrong with the shape of a parsed Slack payload, or None."""
    if not isinstance(body, dict):
        return "the payload must be a JSON object"
    for path, kinds in _SHAPE.items():
        for where, value in _values(body, path.split("."), ""):
            if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
                return f"{where} must be {' or '.join(_KINDS[k] for k in kinds)}"
    return None


def verified_request(verifier: SignatureVerifier, raw: bytes, headers: Mapping[str, str], query: Any) -> BoltRequest:
    """A BoltRequest for a request Slack signed, or ``Refused`` (401 unsigned, 400 malformed)."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not _TIMESTAMP_RE.fullmatch(timestamp) or not signature:
        raise Refused(401, "invalid request: missing or malformed Slack signature headers")
    try:
        valid = verifier.is_valid(raw, timestamp, signature)
    except (UnicodeDecodeError, ValueError):  # not UTF-8: Slack never signed it
        valid = False
    if not valid:
        raise Refused(401, "invalid request: bad or stale Slack signature")
    try:
        # bolt parses the body while building its request (JSON, form fields, ``payload=``).
        request = BoltRequest(body=raw.decode("utf-8"), query=query, headers=dict(headers))
    except RecursionError:
        raise Refused(400, f"malformed Slack payload: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except Exception:  # noqa: BLE001 - every failure here is a body bolt cannot read
        raise Refused(400, "malformed Slack payload: not JSON, a form, or a payload= form field of JSON") from None
    if too_deep(request.body):
        raise Refused(400, f"malformed Slack payload: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    problem = shape_problem(request.body)
    if problem:
        raise Refused(400, f"malformed Slack payload: {problem}")
    return request
