"""A local HTTP server that speaks (enough of) Slack's Web API, for tests.

Slack cannot be reached from the test machines, so the real ``slack_sdk.WebClient`` is pointed at
this server instead::

    from slack_sdk import WebClient
    from tests.slack_mock import SlackMock

    with SlackMock(users={"ana@example.com": "U_ANA"}) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        resp = client.chat_postMessage(channel="C1", text="hi")
        client.chat_update(channel="C1", ts=resp["ts"], text="edited")
        assert slack.messages("C1")[0]["text"] == "edited"

What it does
------------
* Answers ``POST /api/<method>`` with JSON, form-encoded or multipart bodies (slack_sdk sends all
  three, depending on the method and arguments) plus query-string params. The token comes from
  ``Authorization: Bearer ...`` or a ``token`` param; tokens not in ``tokens`` get ``invalid_auth``
  and a missing one ``not_authed``.
* Implements ``auth.test``, ``chat.postMessage`` / ``update`` / ``postEphemeral`` / ``delete``,
  ``views.open`` / ``update`` / ``push`` / ``publish`` (App Home: 100 blocks at most, like
  Slack), the file upload of ``files.getUploadURLExternal`` -> ``POST`` the bytes to the
  ``upload_url`` it returns -> ``files.completeUploadExternal`` (``files()`` holds the uploads;
  an ``image`` block's ``slack_file`` must name a completed upload), ``users.lookupByEmail`` / ``info``,
  ``conversations.open`` / ``info`` and ``reactions.add``; anything else is ``unknown_method``.
  Posting to a user id (``U...``/``W...``) lands in that user's DM channel ``dm_channel(user)``,
  as on Slack; ``chat.update``/``delete`` then need the ``D...`` id, as on Slack. Channels in
  ``missing_channels`` answer ``channel_not_found``.
* Enforces Block Kit limits the way Slack does (``invalid_blocks`` / ``msg_too_long`` / ``no_text``
  for messages, ``invalid_arguments`` for views), so renderer bugs fail here and not in production.
  The error reply carries the reason in ``response_metadata.messages``, like Slack's.
* Failure injection per method, consumed first-in first-out: ``fail_next`` (HTTP 5xx with an HTML
  body), ``rate_limit_next`` (429 + ``Retry-After``), ``error_next`` (200 ``{"ok": false}``),
  ``drop_next`` (connection closed without an answer), ``reset_next`` (the connection reset before
  Slack acts), ``lose_answer_next`` (Slack acts, then the connection is reset: the caller cannot
  tell) and ``hold_next`` (the call waits until released: a slow Slack, or one still busy with a
  call while its caller is killed; released, it acts or, with ``act=False``, resets). Use
  ``"response_url"`` as the method name to make response_url posts fail.
* Random faults: ``faults(rate=0.2, seed=...)`` fails that share of calls, each one of 500, 429
  with ``Retry-After``, a reset before acting and a reset after acting; ``fault_counts`` says how
  many of each were injected.
* The directory as Slack documents it: ``users.list`` pages through ``cursor`` /
  ``response_metadata.next_cursor`` (empty on the last page; ``limit`` at most 1000, Slack advises
  200), lists deleted users with ``deleted: true`` and bots with ``is_bot``, and a user's email in
  ``profile.email`` (absent for bots and for users without one); ``usergroups.users.list``
  answers ``users`` of a user group or ``no_such_subteam``. ``add_user(..., deleted=True)``,
  ``set_user(id, **fields)``, ``remove_user``, ``add_usergroup(id, members)``.
  ``method_rate_limit(method, per_minute, burst)``: a token bucket per method, answering 429 with
  the ``Retry-After`` (whole seconds) until the next token, as Slack's tiers do (Tier 2 is
  ``users.list`` and ``usergroups.users.list``: 20+ per minute with bursts).
* ``conversations.history`` as Slack documents it: newest first, ``oldest``/``latest``
  (exclusive unless ``inclusive``), ``limit``, ``cursor`` paging through
  ``response_metadata.next_cursor`` with ``has_more``, and message metadata only with
  ``include_all_metadata``. Message ``ts`` values come from the wall clock (``clock``), strictly
  increasing, as Slack's do.
* Records everything: ``calls(method)`` (every attempt, failed ones carrying ``_status`` - the HTTP
  status, or ``"dropped"`` - and ``_error``), ``messages(channel)`` (current state of posted
  messages, after updates/deletes/reactions), ``views()``, ``responses(name)`` for posts to
  ``response_url(name)``, and ``wait_for(method, count)`` / ``wait_for_responses(name, count)`` to
  block (on a condition variable) until asynchronous work has called in.

Speaks HTTP/1.1 as Slack does: a connection stays open for the caller's next call unless it asks
to close it (urllib's ``Connection: close``); ``connections`` counts the TCP connections opened.

``reset()`` forgets all recorded state and pending failures, so one server can be shared by a module
of tests.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import itertools
import json
import math
import random
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, urlsplit

BOT_USER_ID = "U_BOT"
BOT_ID = "B_BOT"
TEAM_ID = "T1"
APP_ID = "A1"

# Params that slack_sdk sends JSON-encoded inside form bodies; decoded before recording/handling.
JSON_PARAMS = ("blocks", "view", "attachments", "metadata")
VIEW_FIELDS = ("callback_id", "private_metadata", "title", "submit", "close")


class SlackApiFailure(Exception):
    """Raised inside a method implementation to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *messages: str):
        super().__init__(error)
        self.error = error
        self.messages = list(messages)


# --------------------------------------------------------------------------------------------------
# Block Kit limits (https://docs.slack.dev/reference/block-kit). Each check returns a problem
# description, or None when the thing is fine.
# --------------------------------------------------------------------------------------------------

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40000


def _text_of(obj: Any) -> str:
    """The string inside a text object (or a bare string)."""
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _too_long(what: str, value: Any, limit: int) -> str | None:
    n = len(_text_of(value))
    return f"{what} must be at most {limit} characters (got {n})" if n > limit else None


def check_option(option: dict) -> str | None:
    """An option of a select / overflow / radio / checkbox group."""
    return _too_long("option text", option.get("text"), 75) or _too_long("option value", option.get("value"), 150)


def check_element(element: dict) -> str | None:
    """An interactive element (button, select, input, ...) - not its action_id uniqueness."""
    kind = element.get("type")
    problem = _too_long("action_id", element.get("action_id"), 255)
    if problem:
        return problem
    if kind == "button":
        return (
            _too_long("button text", element.get("text"), 75)
            or _too_long("button value", element.get("value"), 2000)
            or _too_long("button url", element.get("url"), 3000)
        )
    if "placeholder" in element:
        problem = _too_long("placeholder", element["placeholder"], 150)
        if problem:
            return problem
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    if len(options) > 100:
        return f"{kind} must have at most 100 options (got {len(options)})"
    for option in options:
        problem = check_option(option)
        if problem:
            return problem
    return None


def block_elements(block: dict) -> list[dict]:
    """The interactive elements of a block (accessory, actions/input elements)."""
    kind = block.get("type")
    if kind == "actions":
        return [e for e in block.get("elements") or [] if isinstance(e, dict)]
    if kind == "section" and isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    return []


def check_block(block: dict) -> str | None:
    """One block's own limits, including its elements'."""
    if not isinstance(block, dict) or "type" not in block:
        return "each block must be an object with a type"
    kind = block["type"]
    problem = _too_long("block_id", block.get("block_id"), 255)
    if problem:
        return problem
    if kind == "section":
        fields = block.get("fields") or []
        if "text" not in block and not fields:
            return "section needs text or fields"
        problem = _too_long("section text", block.get("text"), 3000)
        if problem:
            return problem
        if len(fields) > 10:
            return f"section must have at most 10 fields (got {len(fields)})"
        for f in fields:
            problem = _too_long("section field", f, 2000)
            if problem:
                return problem
    elif kind == "header":
        problem = _too_long("header text", block.get("text"), 150)
        if problem:
            return problem
    elif kind == "actions":
        if len(block.get("elements") or []) > 25:
            return "actions block must have at most 25 elements"
    elif kind == "context":
        if len(block.get("elements") or []) > 10:
            return "context block must have at most 10 elements"
    elif kind == "input":
        problem = _too_long("input label", block.get("label"), 2000)
        if problem:
            return problem
    for element in block_elements(block):
        problem = check_element(element)
        if problem:
            return problem
    return None


def check_blocks(blocks: Any, max_blocks: int) -> str | None:
    """A list of blocks: count, each block, and unique block_ids / action_ids."""
    if not isinstance(blocks, list):
        return "blocks must be a list"
    if len(blocks) > max_blocks:
        return f"no more than {max_blocks} items allowed (got {len(blocks)} blocks)"
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for i, block in enumerate(blocks):
        problem = check_block(block)
        if problem:
            return f"block {i}: {problem}"
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                return f"block {i}: duplicate block_id {block_id!r}"
            block_ids.add(block_id)
        for element in block_elements(block):
            action_id = element.get("action_id")
            if action_id is not None:
                if action_id in action_ids:
                    return f"block {i}: duplicate action_id {action_id!r}"
                action_ids.add(action_id)
    return None


def message_problem(args: dict) -> SlackApiFailure | None:
    """Message limits for chat.postMessage / chat.update / chat.postEphemeral."""
    text, blocks = args.get("text"), args.get("blocks")
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        return SlackApiFailure("msg_too_long", f"text is {len(str(text))} characters")
    if blocks is not None:
        problem = check_blocks(blocks, MAX_MESSAGE_BLOCKS)
        if problem:
            return SlackApiFailure("invalid_blocks", f"[ERROR] {problem} [json-pointer:/blocks]")
    if not text and not blocks and not args.get("attachments"):
        return SlackApiFailure("no_text")
    return None


def view_problem(view: Any) -> SlackApiFailure | None:
    """Modal limits for views.open / views.update / views.push."""

    def bad(problem: str) -> SlackApiFailure:
        return SlackApiFailure("invalid_arguments", f"[ERROR] {problem} [json-pointer:/view]")

    if not isinstance(view, dict):
        return bad("view must be an object")
    if view.get("type") not in ("modal", "home"):
        return bad("view type must be modal or home")
    for key in ("title", "submit", "close"):
        problem = _too_long(f"{key} text", view.get(key), 24)
        if problem:
            return bad(problem)
    if view.get("type") == "modal" and not view.get("title"):
        return bad("modal needs a title")
    problem = (
        _too_long("private_metadata", view.get("private_metadata"), 3000)
        or _too_long("callback_id", view.get("callback_id"), 255)
        or check_blocks(view.get("blocks", []), MAX_VIEW_BLOCKS)
    )
    return bad(problem) if problem else None


# --------------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------------


def _single(values: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in values.items()}


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Params of a JSON, urlencoded or multipart body."""
    ctype = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if ctype == "application/json":
        parsed = json.loads(body.decode("utf-8"))
        return parsed if isinstance(parsed, dict) else {"_body": parsed}
    if ctype == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        params: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                params[name] = payload  # file contents stay bytes
            else:
                params[name] = payload.decode("utf-8")
        return params
    return _single(parse_qs(body.decode("utf-8"), keep_blank_values=True))


def decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    """JSON-decode ``blocks``/``view``/``attachments`` that arrived as strings in a form body."""
    for key in JSON_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass  # leave it; the method will reject it
    return params


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


Reply = tuple[int, dict[str, str], bytes]  # status, headers, body
DROP: Reply = (0, {}, b"")  # marker reply: close the connection without an answer
RESET: Reply = (0, {}, b"reset")  # marker reply: reset the connection (TCP RST), no answer
FAULT_KINDS = ("500", "429", "reset_before", "reset_after")


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    # As Slack's API does: a connection is kept open for the next call unless the caller asks
    # to close it (urllib sends ``Connection: close``).
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: with Nagle's algorithm on, the body would wait for
    # the caller's delayed ACK of the headers (40 ms on Linux) on a kept-alive connection, which
    # Slack's servers do not do.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        mock = self.server.mock
        mock._local.client = self.client_address
        if url.path.startswith("/api/"):
            reply = mock._api(url.path[len("/api/") :], url.query, self.headers, body)
        elif url.path.startswith("/response/"):
            reply = mock._response_url(url.path[len("/response/") :], self.headers, body)
        elif url.path.startswith("/upload/"):
            reply = mock._upload(url.path[len("/upload/") :], self.headers, body)
        else:
            reply = (404, {"Content-Type": "text/plain"}, b"not found")
        if reply is DROP:  # drop_next: close the connection without answering
            self.close_connection = True
            return
        if reply is RESET:  # a reset: the caller sees "connection reset by peer"
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.resets.add(id(self.connection))  # closed without a FIN first: a bare RST
            return
        status, headers, payload = reply
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    mock: "SlackMock"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resets: set[int] = set()
        self.connections = 0  # TCP connections accepted
        self.open: set[Any] = set()  # the connections not closed yet

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        self.open.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, ValueError)):
            return  # a caller that went away (killed while a call was held): nothing to report
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open.discard(request)
        if id(request) in self.resets:
            self.resets.discard(id(request))
            self.close_request(request)  # SO_LINGER 0: the close sends RST
            return
        super().shutdown_request(request)


class SlackMock:
    """Slack Web API double; see the module docstring."""

    def __init__(
        self,
        tokens: Iterable[str] = ("xoxb-test",),
        users: dict[str, str] | None = None,
        missing_channels: Iterable[str] = (),
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
    ):
        self.clock = clock  # message ts come from it, strictly increasing
        self._local = threading.local()  # the client of the request being handled
        self.held_clients: list[tuple[str, int] | None] = []  # (host, port) of each held call's caller
        self.tokens = set(tokens)
        self.missing_channels = set(missing_channels)
        self.host = host
        self._users: dict[str, dict[str, Any]] = {}  # user id -> user object
        self._usergroups: dict[str, list[str]] = {}  # user group id (S...) -> member user ids
        for mail, user_id in (users or {}).items():
            self.add_user(mail, user_id)
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "SlackMock":
        if self._server is not None:
            return self
        server = _Server((self.host, 0), _Handler)
        server.mock = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            name="slack-mock",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "SlackMock":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """The TCP connections callers have opened so far."""
        assert self._server is not None, "SlackMock is not started"
        return self._server.connections

    def close_idle_connections(self) -> None:
        """Close every open connection, as a load balancer closes those idle too long (call it
        between calls, not during one)."""
        assert self._server is not None, "SlackMock is not started"
        for sock in list(self._server.open):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def port(self) -> int:
        assert self._server is not None, "SlackMock is not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """For ``WebClient(base_url=...)``: the client appends the method name."""
        return f"http://{self.host}:{self.port}/api/"

    def response_url(self, name: str = "default") -> str:
        """A response_url that records what is posted to it under ``name``."""
        return f"http://{self.host}:{self.port}/response/{name}"

    def reset(self) -> None:
        """Forget calls, messages, views, responses and pending failures (users/tokens stay)."""
        with self._cond:
            self._calls: list[tuple[str, dict[str, Any]]] = []
            self._messages: dict[tuple[str, str], dict[str, Any]] = {}
            self._lost_answers: dict[str, int] = {}
            self._views: dict[str, dict[str, Any]] = {}
            self._homes: dict[str, dict[str, Any]] = {}  # user id -> published home view
            self._files: dict[str, dict[str, Any]] = {}  # file id -> upload state
            self._file_counter = itertools.count(1)
            self._failures: dict[str, deque[tuple[str, Any]]] = defaultdict(deque)
            self._last_ts_us = 0
            self._view_counter = itertools.count(1)
            self._fault_rate = 0.0
            self._fault_methods: set[str] | None = None
            self._fault_kinds: tuple[str, ...] = FAULT_KINDS
            self._fault_retry_after = 1
            self._random = random.Random(0)
            self.fault_counts: dict[str, int] = {k: 0 for k in FAULT_KINDS}
            self._channel_rate: float | None = None
            self._channel_burst = 2.0
            self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, when)
            self.post_times: dict[str, list[float]] = defaultdict(list)  # channel -> accepted posts (monotonic)
            self.rate_limited: dict[str, int] = defaultdict(int)  # channel -> posts answered 429
            self._method_rates: dict[str, tuple[float, float]] = {}  # method -> (per second, burst)
            self._method_buckets: dict[str, tuple[float, float]] = {}  # method -> (tokens, when)

    # ---- configuration -------------------------------------------------------------------------

    def add_user(
        self,
        email: str | None,
        user_id: str,
        name: str | None = None,
        *,
        deleted: bool = False,
        is_bot: bool = False,
        **profile: Any,
    ) -> None:
        """Make ``users.lookupByEmail(email)``, ``users.info(user_id)`` and ``users.list`` find
        this user (``email`` None: a profile without one, as bots and some guests have)."""
        name = name or (email or user_id).split("@")[0]
        prof = {"real_name": name, "display_name": name, **profile}
        if email is not None:
            prof["email"] = email
        self._users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": profile.get("real_name", name),
            "deleted": deleted,
            "is_bot": is_bot,
            "tz": prof.pop("tz", "Europe/Madrid"),
            "profile": prof,
        }

    def set_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Change a user (``deleted=True``, ``email=...`` (the profile's), ``real_name=...``);
        returns the user object, as a ``user_change`` event carries it."""
        with self._cond:
            user = self._users[user_id]
            if "email" in fields:
                user["profile"]["email"] = fields.pop("email")
            if "real_name" in fields:
                user["real_name"] = user["profile"]["real_name"] = fields.pop("real_name")
            user.update(fields)
            return json.loads(json.dumps(user))

    def remove_user(self, user_id: str) -> None:
        with self._cond:
            self._users.pop(user_id, None)
            for members in self._usergroups.values():
                if user_id in members:
                    members.remove(user_id)

    def add_usergroup(self, group_id: str, members: Iterable[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = list(members)

    def method_rate_limit(self, method: str, per_minute: float | None, burst: float = 1.0) -> None:
        """Answer ``method`` with 429 and ``Retry-After`` when called faster than ``per_minute``
        (after a burst of ``burst`` calls); None: no limit."""
        with self._cond:
            if per_minute is None:
                self._method_rates.pop(method, None)
            else:
                self._method_rates[method] = (per_minute / 60.0, burst)
            self._method_buckets.pop(method, None)

    def _over_method_rate(self, method: str) -> int | None:
        """Seconds to wait (Slack's ``Retry-After``) when ``method`` is over its rate; else None."""
        with self._cond:
            rate = self._method_rates.get(method)
            if rate is None:
                return None
            per_second, burst = rate
            now = time.monotonic()
            tokens, when = self._method_buckets.get(method, (burst, now))
            tokens = min(burst, tokens + (now - when) * per_second)
            if tokens >= 1:
                self._method_buckets[method] = (tokens - 1, now)
                return None
            self._method_buckets[method] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / per_second))

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The DM channel id Slack would use for a user (what conversations.open returns)."""
        return "D" + user_id[1:]

    # ---- failure injection ---------------------------------------------------------------------

    def fail_next(self, method: str, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP ``status`` with an HTML body."""
        self._inject(method, ("fail", status), times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429 with ``Retry-After``."""
        self._inject(method, ("rate_limit", retry_after), times)

    def error_next(self, method: str, error: str = "channel_not_found", times: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 200 ``{"ok": false, "error": error}``."""
        self._inject(method, ("error", error), times)

    def drop_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` have their connection closed unanswered."""
        self._inject(method, ("drop", None), times)

    def reset_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` have their connection reset before Slack acts."""
        self._inject(method, ("reset", None), times)

    def hold_next(
        self, method: str, *, act: bool = True, timeout: float = 30
    ) -> tuple[threading.Event, threading.Event]:
        """The next call of ``method`` waits before Slack does it: returns (``arrived``, set when
        the call is in; ``release``, set it to let the call go on), a slow answer on demand.
        Released, the call is done and answered as usual, even if its caller is gone by then (a
        process killed mid-call); with ``act=False`` its connection is reset instead, undone.
        Unreleased, it goes on after ``timeout`` seconds."""
        arrived, release = threading.Event(), threading.Event()
        self._inject(method, ("hold", (arrived, release, act, timeout)), 1)
        return arrived, release

    def channel_rate_limit(self, rate: float | None = 1.0, burst: float = 2.0) -> None:
        """Answer ``chat.postMessage`` with 429 (``Retry-After: 1``) when a channel posts faster
        than Slack allows: ``rate`` messages a second, sustained, with short bursts of up to
        ``burst`` (a token bucket per channel; Slack: "1 per second per channel ... bursts over
        that limit for short periods"). ``None`` stops it."""
        with self._cond:
            self._channel_rate, self._channel_burst = rate, burst
            self._buckets.clear()

    def _over_channel_rate(self, params: dict[str, Any]) -> bool:
        """Whether a post exceeds its channel's rate (recording it if not)."""
        channel = params.get("channel")
        if not isinstance(channel, str):
            return False
        channel = self._resolve_channel(channel)
        now = time.monotonic()
        with self._cond:
            if self._channel_rate is not None:
                tokens, at = self._buckets.get(channel, (self._channel_burst, now))
                tokens = min(self._channel_burst, tokens + (now - at) * self._channel_rate)
                if tokens < 1:
                    self._buckets[channel] = (tokens, now)
                    self.rate_limited[channel] += 1
                    return True
                self._buckets[channel] = (tokens - 1, now)
            self.post_times[channel].append(now)
            return False

    def faults(
        self,
        rate: float = 0.2,
        *,
        seed: int = 0,
        methods: Iterable[str] | None = None,
        kinds: Iterable[str] = FAULT_KINDS,
        retry_after: int = 1,
    ) -> None:
        """From now on fail a ``rate`` share of the calls (of ``methods``; all by default), each
        with one of ``kinds`` picked at random: ``"500"`` (an HTML error page), ``"429"`` (with
        ``Retry-After: retry_after``), ``"reset_before"`` (reset before acting) and
        ``"reset_after"`` (act, then reset: the caller cannot tell it worked). ``rate=0`` stops."""
        with self._cond:
            self._fault_rate = rate
            self._fault_methods = set(methods) if methods is not None else None
            self._fault_kinds = tuple(kinds)
            self._fault_retry_after = retry_after
            self._random = random.Random(seed)

    def _random_fault(self, method: str) -> str | None:
        with self._cond:
            if not self._fault_rate or (self._fault_methods is not None and method not in self._fault_methods):
                return None
            if self._random.random() >= self._fault_rate:
                return None
            kind = self._random.choice(self._fault_kinds)
            self.fault_counts[kind] += 1
            return kind

    def _inject(self, method: str, failure: tuple[str, Any], times: int) -> None:
        with self._cond:
            self._failures[method].extend([failure] * times)

    # ---- inspection ----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Params of every call (of ``method``) in arrival order; failed attempts have ``_status``
        (HTTP status or ``"dropped"``) and ``_error``. Without ``method`` each has ``_method``."""
        with self._cond:
            if method is None:
                return [{"_method": m, **copy.deepcopy(p)} for m, p in self._calls]
            return [copy.deepcopy(p) for m, p in self._calls if m == method]

    def successful_calls(self, method: str) -> list[dict[str, Any]]:
        return [c for c in self.calls(method) if "_status" not in c]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Posted messages as they are now (updated, reacted, deleted ones gone), oldest first.

        ``channel`` may be a user id, meaning that user's DM channel."""
        if channel is not None:
            channel = self._resolve_channel(channel)
        with self._cond:
            return [copy.deepcopy(m) for (ch, _), m in self._messages.items() if channel in (None, ch)]

    def views(self) -> list[dict[str, Any]]:
        """Views opened/pushed (latest state after views.update), oldest first."""
        with self._cond:
            return [copy.deepcopy(v) for v in self._views.values()]

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home view last published for a user (``views.publish``)."""
        with self._cond:
            return copy.deepcopy(self._homes.get(user_id))

    def files(self) -> dict[str, dict[str, Any]]:
        """Uploaded files by id: ``content`` (bytes), ``filename``, ``length``, ``alt_txt``,
        ``title``, ``completed``, ``channels`` (where completeUploadExternal shared it)."""
        with self._cond:
            return copy.deepcopy(self._files)

    def responses(self, name: str | None = None) -> list[dict[str, Any]]:
        """Bodies posted to ``response_url(name)`` (each with ``_name``), in arrival order."""
        return [r for r in self.successful_calls("response_url") if name in (None, r["_name"])]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """Block until at least ``count`` successful calls of ``method`` arrived; return them."""
        return self._wait(lambda: self.successful_calls(method), count, timeout, method)

    def wait_for_responses(self, name: str | None = None, count: int = 1, timeout: float = 5) -> list[dict[str, Any]]:
        """Block until at least ``count`` posts to ``response_url(name)`` arrived; return them."""
        return self._wait(lambda: self.responses(name), count, timeout, f"response_url {name}")

    def _wait(self, get: Callable[[], list], count: int, timeout: float, what: str) -> list:
        # The condition's lock is an RLock, so get() may take it again inside the predicate.
        with self._cond:
            ok = self._cond.wait_for(lambda: len(get()) >= count, timeout=timeout)
        found = get()
        if not ok:
            raise AssertionError(
                f"waited {timeout}s for {count} x {what}, got {len(found)}; all calls: "
                f"{[c['_method'] for c in self.calls()]}"
            )
        return found

    # ---- dispatch ------------------------------------------------------------------------------

    def _record(self, method: str, params: dict[str, Any], status: Any = None, error: str | None = None) -> None:
        entry = dict(params)
        if status is not None:
            entry["_status"] = status
        if error is not None:
            entry["_error"] = error
        with self._cond:
            self._calls.append((method, entry))
            self._cond.notify_all()

    @staticmethod
    def _json(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
        return (
            status,
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
            json.dumps(data).encode("utf-8"),
        )

    def _injected(self, method: str, params: dict[str, Any]) -> Reply | None:
        """If a failure is queued for ``method``: record the attempt, return the reply to send."""
        with self._cond:
            queue = self._failures.get(method)
            if not queue:
                return None
            kind, arg = queue.popleft()
        if kind == "hold":
            arrived, release, act, timeout = arg
            with self._cond:
                self.held_clients.append(getattr(self._local, "client", None))
            arrived.set()
            release.wait(timeout)
            if act:
                return None  # then done and answered as usual
            kind = "reset"
        if kind == "reset":
            self._record(method, params, "reset", "reset")
            return RESET
        if kind == "fail":
            html = f"<html><body><h1>{arg} Server Error</h1></body></html>".encode()
            reply, status, error = (arg, {"Content-Type": "text/html"}, html), arg, "injected"
        elif kind == "rate_limit":
            body = {"ok": False, "error": "ratelimited"}
            reply = self._json(429, body, {"Retry-After": str(arg)})
            status, error = 429, "ratelimited"
        elif kind == "error":
            reply, status, error = self._json(200, {"ok": False, "error": arg}), 200, arg
        else:
            reply, status, error = DROP, "dropped", "dropped"
        self._record(method, params, status, error)
        return reply

    def _api(self, method: str, query: str, headers: Any, body: bytes) -> Reply:
        try:
            params = _single(parse_qs(query, keep_blank_values=True))
            params.update(parse_body(headers.get("Content-Type", ""), body))
        except (ValueError, UnicodeDecodeError):
            self._record(method, {"_raw": body.decode("utf-8", "replace")}, 200, "invalid_json")
            return self._json(200, {"ok": False, "error": "invalid_json"})
        params = decode_json_params(params)

        injected = self._injected(method, params)
        if injected is not None:
            return injected
        fault = self._random_fault(method)
        if fault == "500":
            self._record(method, params, 500, "injected")
            return (500, {"Content-Type": "text/html"}, b"<html><body><h1>500 Server Error</h1></body></html>")
        if fault == "429":
            self._record(method, params, 429, "ratelimited")
            return self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self._fault_retry_after)})
        if fault == "reset_before":
            self._record(method, params, "reset", "reset")
            return RESET

        wait = self._over_method_rate(method)
        if wait is not None:
            self._record(method, params, 429, "ratelimited")
            return self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})

        if method == "chat.postMessage" and self._over_channel_rate(params):
            self._record(method, params, 429, "ratelimited")
            return self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})

        impl = getattr(self, "_m_" + method.replace(".", "_"), None)
        if impl is None:
            error: SlackApiFailure | None = SlackApiFailure("unknown_method")
        else:
            error = self._auth_problem(headers, params)
        if error is None:
            try:
                with self._cond:
                    result = impl(params)
            except SlackApiFailure as exc:
                error = exc
        if error is not None:
            self._record(method, params, 200, error.error)
            data: dict[str, Any] = {"ok": False, "error": error.error}
            if error.messages:
                data["response_metadata"] = {"messages": error.messages}
            return self._json(200, data)
        self._record(method, params)
        if fault == "reset_after" or self._take_lost_answer(method):
            return RESET  # the work was done, but the caller never hears back
        return self._json(200, {"ok": True, **result})

    def lose_answer_next(self, method: str, times: int = 1) -> None:
        """Do the next call(s) to ``method`` but close the connection instead of answering:
        the caller can't tell whether it happened (a crash or timeout after Slack accepted)."""
        with self._cond:
            self._lost_answers[method] = self._lost_answers.get(method, 0) + times

    def _take_lost_answer(self, method: str) -> bool:
        with self._cond:
            left = self._lost_answers.get(method, 0)
            if left:
                self._lost_answers[method] = left - 1
                return True
            return False

    def _auth_problem(self, headers: Any, params: dict[str, Any]) -> SlackApiFailure | None:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or params.get("token")
        if not token:
            return SlackApiFailure("not_authed")
        if token not in self.tokens:
            return SlackApiFailure("invalid_auth")
        return None

    def _response_url(self, name: str, headers: Any, body: bytes) -> Reply:
        try:
            params = parse_body(headers.get("Content-Type", "application/json"), body)
            if isinstance(params.get("payload"), str):
                params = json.loads(params["payload"])
        except (ValueError, UnicodeDecodeError):
            params = {"_raw": body.decode("utf-8", "replace")}
        params = {"_name": name, **decode_json_params(params)}
        injected = self._injected("response_url", params)
        if injected is not None:
            return injected
        self._record("response_url", params)
        return self._json(200, {"ok": True})

    # ---- helpers for method implementations (called with the lock held) ------------------------

    def _next_ts(self) -> str:
        micros = max(int(self.clock() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _resolve_channel(self, channel: str) -> str:
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    @staticmethod
    def _require(params: dict[str, Any], *names: str) -> None:
        missing = [n for n in names if not params.get(n)]
        if missing:
            messages = [f"[ERROR] missing required field: {n}" for n in missing]
            raise SlackApiFailure("invalid_arguments", *messages)

    def _channel(self, params: dict[str, Any]) -> str:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        if channel in self.missing_channels:
            raise SlackApiFailure("channel_not_found")
        return channel

    def _message(self, channel: str, ts: Any) -> dict[str, Any]:
        message = self._messages.get((channel, str(ts)))
        if message is None:
            raise SlackApiFailure("message_not_found")
        return message

    def _check_message(self, params: dict[str, Any]) -> None:
        problem = message_problem(params)
        if problem is not None:
            raise problem
        self._check_images(params.get("blocks") or [], "/blocks")

    def _check_images(self, blocks: list, pointer: str) -> None:
        """An image block shows a public ``image_url`` or an uploaded Slack file (``slack_file``
        with its ``id`` or ``url``, not both) that the app can see; ``alt_text`` is required."""
        for i, block in enumerate(blocks):
            if not isinstance(block, dict) or block.get("type") != "image":
                continue

            def bad(problem: str) -> SlackApiFailure:
                return SlackApiFailure("invalid_blocks", f"[ERROR] {problem} [json-pointer:{pointer}/{i}]")  # noqa: B023 - used within this iteration

            if not block.get("alt_text") or len(str(block["alt_text"])) > 2000:
                raise bad("alt_text is required and must be at most 2000 characters")
            slack_file, url = block.get("slack_file"), block.get("image_url")
            if bool(slack_file) == bool(url):
                raise bad("an image block needs exactly one of image_url and slack_file")
            if slack_file:
                if bool(slack_file.get("id")) == bool(slack_file.get("url")):
                    raise bad("slack_file needs either id or url, not both")
                f = self._files.get(slack_file.get("id") or "")
                if f is None or not f["completed"]:
                    raise bad("invalid slack file: the file is not uploaded or its upload was not completed")
                if not f["content"].startswith(b"\x89PNG") and not f["filename"].lower().endswith(
                    (".jpg", ".jpeg", ".gif")
                ):
                    raise bad("slack_file must be a png, jpg, jpeg or gif image")
            elif len(str(url)) > 3000:
                raise bad("image_url must be at most 3000 characters")

    # ---- Web API methods -----------------------------------------------------------------------

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://smarketing-test.slack.com/",
            "team": "Smarketing Test",
            "user": "smarketing-bot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(self._channel(params))
        self._check_message(params)
        ts = self._next_ts()
        message = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": params.get("text", ""),
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        self._messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        message = self._message(channel, params.get("ts"))
        self._check_message({**message, **params})
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        ts = message["ts"]
        return {"channel": channel, "ts": ts, "text": message["text"], "message": message}

    def _m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self._channel(params)
        self._require(params, "user")
        self._check_message(params)
        return {"message_ts": self._next_ts()}

    def _m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        message = self._message(channel, params.get("ts"))
        del self._messages[(channel, message["ts"])]
        return {"channel": channel, "ts": message["ts"]}

    def _new_view(self, view: dict[str, Any], root_id: str | None, previous: str | None) -> dict:
        number = next(self._view_counter)
        view_id = f"V{number:06d}"
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "callback_id": view.get("callback_id", ""),
            "private_metadata": view.get("private_metadata", ""),
            "external_id": view.get("external_id", ""),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "state": {"values": {}},
            "hash": f"{number}.hash",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root_id or view_id,
            "previous_view_id": previous,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = stored
        return stored

    def _checked_view(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "view")
        problem = view_problem(params["view"])
        if problem is not None:
            raise problem
        return params["view"]

    def _m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "trigger_id")
        view = self._checked_view(params)
        return {"view": self._new_view(view, None, None)}

    def _m_views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "trigger_id")
        view = self._checked_view(params)
        root = next(reversed(self._views.values()), None)
        return {"view": self._new_view(view, root and root["root_view_id"], root and root["id"])}

    def _m_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = self._checked_view(params)
        view_id, external_id = params.get("view_id"), params.get("external_id")
        if not view_id and not external_id:
            raise SlackApiFailure("invalid_arguments", "[ERROR] view_id or external_id is required")
        if view_id:
            stored = self._views.get(view_id)
        else:
            by_external = (v for v in self._views.values() if v["external_id"] == external_id)
            stored = next(by_external, None)
        if stored is None:
            raise SlackApiFailure("not_found")
        if params.get("hash") and params["hash"] != stored["hash"]:
            raise SlackApiFailure("hash_conflict")
        for key in VIEW_FIELDS:  # views.update replaces the whole view
            stored[key] = view.get(key, "" if key in ("callback_id", "private_metadata") else None)
        stored["blocks"] = view.get("blocks", [])
        stored["type"] = view.get("type", "modal")
        stored["hash"] = f"{next(self._view_counter)}.hash"
        return {"view": stored}

    def _m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "user_id")
        view = self._checked_view(params)
        if view.get("type") != "home":
            raise SlackApiFailure("invalid_arguments", "[ERROR] views.publish takes a home view [json-pointer:/view]")
        self._check_images(view.get("blocks") or [], "/view/blocks")
        user = str(params["user_id"])
        if user not in self._users:
            raise SlackApiFailure("user_not_found")
        old = self._homes.get(user)
        if old is not None and params.get("hash") and params["hash"] != old["hash"]:
            raise SlackApiFailure("hash_conflict")
        stored = self._new_view(view, None, None)
        self._homes[user] = stored
        return {"view": stored}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "filename", "length")
        try:
            length = int(params["length"])
        except (TypeError, ValueError):
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be an integer") from None
        if length <= 0:
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be greater than 0")
        if params.get("alt_txt") and len(str(params["alt_txt"])) > 1000:
            raise SlackApiFailure("invalid_arguments", "[ERROR] alt_txt must be at most 1000 characters")
        file_id = f"F{next(self._file_counter):08d}"
        self._files[file_id] = {
            "filename": str(params["filename"]),
            "length": length,
            "content": None,
            "alt_txt": params.get("alt_txt"),
            "title": None,
            "completed": False,
            "channels": [],
        }
        return {"upload_url": f"http://{self.host}:{self.port}/upload/{file_id}", "file_id": file_id}

    def _upload(self, file_id: str, headers: Any, body: bytes) -> Reply:
        """The upload URL: takes the file's bytes (raw, or one multipart part)."""
        with self._cond:
            f = self._files.get(file_id)
            if f is None or f["content"] is not None:
                self._record("upload", {"file_id": file_id}, 404, "not_found")
                return (404, {"Content-Type": "text/plain"}, b"not found")
            content = body
            if headers.get("Content-Type", "").startswith("multipart/form-data"):
                parts = [v for v in parse_body(headers["Content-Type"], body).values() if isinstance(v, bytes)]
                content = parts[0] if parts else b""
            f["content"] = content
            self._record("upload", {"file_id": file_id, "size": len(content)})
        return (200, {"Content-Type": "text/plain"}, f"OK - {len(content)}".encode())

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require(params, "files")
        files = params["files"]
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise SlackApiFailure("invalid_arguments", "[ERROR] files must be a JSON array") from None
        out = []
        for entry in files:
            f = self._files.get(str(entry.get("id")))
            if f is None or f["content"] is None:
                raise SlackApiFailure("file_not_found")
            if len(f["content"]) != f["length"]:
                raise SlackApiFailure("invalid_arguments", "[ERROR] the uploaded size differs from length")
            f["completed"], f["title"] = True, entry.get("title") or f["filename"]
            channels = [c for c in str(params.get("channels") or params.get("channel_id") or "").split(",") if c]
            f["channels"].extend(channels)
            out.append(
                {
                    "id": entry["id"],
                    "name": f["filename"],
                    "title": f["title"],
                    "size": f["length"],
                    "mimetype": "image/png" if f["content"].startswith(b"\x89PNG") else "application/octet-stream",
                    "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{entry['id']}/{f['filename']}",
                }
            )
        return {"files": out}

    def _m_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            limit = int(params.get("limit") or 0) or 1000
        except (TypeError, ValueError):
            raise SlackApiFailure("invalid_limit") from None
        if not 1 <= limit <= 1000:
            raise SlackApiFailure("invalid_limit")
        ids = sorted(self._users)
        cursor = str(params.get("cursor") or "")
        start = 0
        if cursor:
            try:
                start = int(base64.b64decode(cursor.encode()).decode().removeprefix("user:"))
            except (ValueError, UnicodeDecodeError):
                raise SlackApiFailure("invalid_cursor") from None
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        next_cursor = base64.b64encode(f"user:{start + limit}".encode()).decode() if more else ""
        return {
            "members": [json.loads(json.dumps(self._users[i])) for i in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _m_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup") or "")
        if not group:
            raise SlackApiFailure("invalid_arguments")
        if group not in self._usergroups:
            raise SlackApiFailure("no_such_subteam")
        return {"users": list(self._usergroups[group])}

    def _m_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email", "")).lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"user": user}
        raise SlackApiFailure("users_not_found")

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user", "")))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"user": user}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"channel": {"id": self._channel(params)}, "already_open": True}
        users = params.get("users") or ""
        ids = users if isinstance(users, list) else [u for u in str(users).split(",") if u]
        if not ids:
            raise SlackApiFailure("users_list_not_supplied")
        if len(ids) == 1:
            channel = {"id": self.dm_channel(ids[0])}
            return {"channel": channel, "no_op": False, "already_open": False}
        return {"channel": {"id": "G" + "_".join(i[1:] for i in sorted(ids))}}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        is_im = channel.startswith("D")
        return {
            "channel": {
                "id": channel,
                "name": None if is_im else channel.lower(),
                "is_channel": channel.startswith("C"),
                "is_group": channel.startswith("G"),
                "is_im": is_im,
                "is_private": not channel.startswith("C"),
                "is_archived": False,
                "is_member": True,
            }
        }

    def _m_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first; ``oldest``/``latest`` bound the ts (exclusive unless ``inclusive``);
        ``limit`` (default 100, at most 999) per page; ``cursor`` continues where the previous
        page's ``response_metadata.next_cursor`` said."""
        channel = self._channel(params)
        try:
            limit = min(max(int(params.get("limit") or 100), 1), 999)
            oldest = _ts_us(params.get("oldest") or "0")
            latest = _ts_us(params["latest"]) if params.get("latest") else None
            before = (
                _ts_us(base64.b64decode(params["cursor"]).decode().removeprefix("next_ts:"))
                if params.get("cursor")
                else None
            )
        except (ValueError, TypeError):
            raise SlackApiFailure("invalid_arguments") from None
        inclusive = _flag(params.get("inclusive"))
        include_meta = _flag(params.get("include_all_metadata"))

        def wanted(ts: int) -> bool:
            if ts < oldest or (ts == oldest and not inclusive and oldest):
                return False
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                return False
            return before is None or ts < before

        found = sorted(
            (m for (ch, _), m in self._messages.items() if ch == channel and wanted(_ts_us(m["ts"]))),
            key=lambda m: _ts_us(m["ts"]),
            reverse=True,
        )
        page, more = found[:limit], len(found) > limit
        out = []
        for m in page:
            m = copy.deepcopy(m)
            if not include_meta:
                m.pop("metadata", None)
            out.append(m)
        cursor = base64.b64encode(f"next_ts:{page[-1]['ts']}".encode()).decode() if more else ""
        return {"messages": out, "has_more": more, "pin_count": 0, "response_metadata": {"next_cursor": cursor}}

    def _m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params)
        self._require(params, "name", "timestamp")
        message = self._message(channel, params["timestamp"])
        reactions = message.setdefault("reactions", [])
        name = str(params["name"]).strip(":")
        if any(r["name"] == name for r in reactions):
            raise SlackApiFailure("already_reacted")
        reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {}


def _ts_us(ts: Any) -> int:
    """A Slack ts ("1700000000.000100") in microseconds."""
    whole, _, frac = str(ts).partition(".")
    return int(whole) * 1_000_000 + int((frac + "000000")[:6])


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")
