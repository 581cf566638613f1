"""A local HTTP server that answers like (enough of) the Bot Connector service behind Teams, and
builders of the activities Teams posts to a bot. For tests: Teams cannot be reached from here.

The bot talks to ``{serviceUrl}/v3/...`` where ``serviceUrl`` comes from the activities it
receives, so tests put this server's ``service_url`` in the activities they post::

    with TeamsStandIn() as teams:
        teams.add_team("T1", "Sales", {"19:wins@thread.tacv2": "Wins"})
        teams.add_user("ana@northwind.example", "29:ana", "aad-ana")
        body = message(teams.service_url, "help", user=teams.user("ana@northwind.example"))
        http.post(f"{server}/api/messages", json=body)
        teams.wait_for(lambda: teams.sent("a:ana"))

What it answers:

* ``POST /v3/conversations/{id}/activities`` -> 201 ``{"id": "<new activity id>"}``, kept per conversation;
  ``PUT /v3/conversations/{id}/activities/{activityId}`` -> 200, replaces it (404 when unknown);
* ``POST /v3/conversations`` (a 1:1 chat with ``members[0]``) -> ``{"id": "a:dm-<member>"}``;
* ``GET /v3/conversations/{id}/members/{userId}`` -> one member of the conversation (404 for strangers);
* ``GET /v3/conversations/{id}/pagedmembers?pageSize=&continuationToken=`` -> a page of the roster,
  ``{"members": [{id, name, aadObjectId, email, userPrincipalName, tenantId, userRole}],
  "continuationToken": "…"}`` (the token absent on the last page), as the Bot Connector documents
  it (the path is case-insensitive, as the service's is: the SDK asks for ``pagedMembers``). A
  conversation with a roster of its own (``add_roster``: a private channel, another team) lists
  its members; a known team or one of its channels lists every user; anything else is 404
  ``NotFound``;
* ``GET /v3/teams/{teamId}/conversations`` -> the team's channels.

Failures can be injected, first in first out: ``fail_next(conversation, status, retry_after=None)``
for the next activity POST/PUT in a conversation, ``fail_next_read(conversation, status,
retry_after=None)`` for the next member read there. Conversations in ``gone`` answer 404. Every
request is recorded (``requests``, with its query).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

BOT_ID = "28:test-app-id"
TENANT = "tenant-1"

_ACTIVITIES = re.compile(r"^/v3/conversations/([^/]+)/activities(?:/([^/]+))?$")
_MEMBER = re.compile(r"^/v3/conversations/([^/]+)/members/([^/]+)$")
_PAGED = re.compile(r"^/v3/conversations/([^/]+)/pagedmembers$", re.I)
DEFAULT_PAGE = 200
_CHANNELS = re.compile(r"^/v3/teams/([^/]+)/conversations$")


class TeamsStandIn:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def start(self) -> "TeamsStandIn":
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "TeamsStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests: list[dict] = []
            self.activities: dict[str, dict[str, dict]] = {}  # conversation -> activity id -> activity
            self.users: dict[str, dict] = {}  # email (or, with none, the user id) -> member
            self.rosters: dict[str, list[str]] = {}  # conversation -> user ids, in order
            self.teams: dict[str, dict[str, str | None]] = {}  # team id -> channel id -> name
            self.gone: set[str] = set()
            self._failures: deque[tuple[str, int, float | None]] = deque()
            self._read_failures: deque[tuple[str, int, float | None]] = deque()
            self._ids = itertools.count(1)

    # -- setup -------------------------------------------------------------------------------
    def add_user(self, email: str | None, user_id: str, aad: str, name: str | None = None) -> dict:
        """A user of the tenant; ``email`` None: a profile with no email (nor user principal name)."""
        member = {
            "id": user_id,
            "aadObjectId": aad,
            "name": name or (email or user_id).split("@")[0].title(),
            "tenantId": TENANT,
            "userRole": "user",
        }
        if email:
            member.update(email=email, userPrincipalName=email, givenName=member["name"].split()[0])
        with self._lock:
            self.users[email or user_id] = member
        return member

    def add_roster(self, conversation_id: str, who: list[str]) -> None:
        """The members of a conversation (a private channel, a team): users' emails or user ids."""
        with self._lock:
            self.rosters[conversation_id] = [self.users[w]["id"] for w in who]

    def remove_member(self, conversation_id: str, who: str) -> dict:
        with self._lock:
            member = self.users[who]
            self.rosters[conversation_id].remove(member["id"])
            return member

    def user(self, email: str) -> dict:
        return self.users[email]

    def add_team(self, team_id: str, channels: dict[str, str | None]) -> None:
        with self._lock:
            self.teams[team_id] = dict(channels)

    def fail_next(self, conversation_id: str, status: int, retry_after: float | None = None) -> None:
        """The next post or update in ``conversation_id`` fails with ``status``."""
        with self._lock:
            self._failures.append((conversation_id, status, retry_after))

    def fail_next_read(self, conversation_id: str, status: int, retry_after: float | None = None) -> None:
        """The next member read (a page, or one member) in ``conversation_id`` fails with ``status``."""
        with self._lock:
            self._read_failures.append((conversation_id, status, retry_after))

    # -- what the bot did --------------------------------------------------------------------
    def sent(self, conversation_id: str) -> list[dict]:
        """Activities in a conversation, oldest first, as they are now (after updates)."""
        with self._lock:
            return [copy.deepcopy(a) for a in self.activities.get(conversation_id, {}).values()]

    def calls(self, method: str, pattern: str = "") -> list[dict]:
        with self._lock:
            return [copy.deepcopy(r) for r in self.requests if r["method"] == method and pattern in r["path"]]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Block until ``condition()`` is truthy (it is re-checked whenever a request arrives)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = condition()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out; requests so far: {[r['method'] + ' ' + r['path'] for r in self.requests]}"
                    )
                self._lock.wait(min(left, 0.05))  # also re-check what the bot stores

    # -- the server --------------------------------------------------------------------------
    def _members_of(self, conv: str) -> list[dict] | None:
        """The roster of a conversation: its own, else every user for a known team or channel."""
        by_id = {m["id"]: m for m in self.users.values()}
        if conv in self.rosters:
            return [by_id[i] for i in self.rosters[conv] if i in by_id]
        if conv in self.teams or any(conv in channels for channels in self.teams.values()):
            return list(self.users.values())
        return None

    def _read_failure(self, conv: str):
        failure = next((f for f in self._read_failures if f[0] == conv), None)
        if failure is None:
            return None
        self._read_failures.remove(failure)
        _, status, retry_after = failure
        return (
            status,
            {"error": {"code": "Injected", "message": f"injected {status}"}},
            ({"Retry-After": str(retry_after)} if retry_after is not None else {}),
        )

    def _handle(
        self, method: str, path: str, body: Any, headers: dict, query: dict | None = None
    ) -> tuple[int, Any, dict]:
        query = query or {}
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "json": body, "headers": headers})
            self._lock.notify_all()
            m = _ACTIVITIES.match(path)
            if m:
                conv, activity_id = unquote(m.group(1)), m.group(2) and unquote(m.group(2))
                failure = next((f for f in self._failures if f[0] == conv), None)
                if failure is not None:
                    self._failures.remove(failure)
                    _, status, retry_after = failure
                    return (
                        status,
                        {"error": {"code": "Injected", "message": f"injected {status}"}},
                        ({"Retry-After": str(retry_after)} if retry_after is not None else {}),
                    )
                if conv in self.gone:
                    return 404, {"error": {"code": "ConversationNotFound", "message": "Conversation not found."}}, {}
                acts = self.activities.setdefault(conv, {})
                if method == "POST" and activity_id is None:
                    new_id = f"1{next(self._ids):05d}"
                    acts[new_id] = dict(body, id=new_id)
                    return 201, {"id": new_id}, {}
                if method == "PUT" and activity_id:
                    if activity_id not in acts:
                        return 404, {"error": {"code": "ActivityNotFound", "message": "Unknown activity."}}, {}
                    acts[activity_id] = dict(body, id=activity_id)
                    return 200, {"id": activity_id}, {}
            if method == "POST" and path == "/v3/conversations":
                member = ((body or {}).get("members") or [{}])[0].get("id", "")
                return 201, {"id": f"a:dm-{member}"}, {}
            m = _MEMBER.match(path)
            if m and method == "GET":
                conv, wanted = unquote(m.group(1)), unquote(m.group(2))
                failed = self._read_failure(conv)
                if failed:
                    return failed
                members = self.users.values() if conv not in self.rosters else self._members_of(conv) or []
                for member in members:
                    if wanted in (member["id"], member["aadObjectId"]):
                        return 200, member, {}
                return 404, {"error": {"code": "MemberNotFound", "message": "no such member"}}, {}
            m = _PAGED.match(path)
            if m and method == "GET":
                conv = unquote(m.group(1))
                failed = self._read_failure(conv)
                if failed:
                    return failed
                members = self._members_of(conv)
                if members is None:
                    return 404, {"error": {"code": "NotFound", "message": "Conversation not found."}}, {}
                size = int(query.get("pageSize") or DEFAULT_PAGE)
                start = int(query["continuationToken"].removeprefix("page-")) if query.get("continuationToken") else 0
                page = {"members": members[start : start + size]}
                if start + size < len(members):
                    page["continuationToken"] = f"page-{start + size}"
                return 200, page, {}
            m = _CHANNELS.match(path)
            if m and method == "GET":
                channels = self.teams.get(unquote(m.group(1)), {})
                return 200, {"conversations": [{"id": cid, "name": name} for cid, name in channels.items()]}, {}
            return 404, {"error": {"code": "NotFound", "message": f"{method} {path} is not implemented"}}, {}

    def _handler_class(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write: two small writes per response meet the client's
            # delayed ACK (Nagle) and every call would take ~40 ms.
            wbufsize = 1 << 16

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                status, answer, extra = standin._handle(self.command, parts.path, body, dict(self.headers), query)
                out = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler


# --- activities Teams posts to the bot ----------------------------------------------------------

_ids = itertools.count(1)


def _base(service_url: str, conversation: dict, user: dict | None, channel_data: dict | None = None) -> dict:
    frm = {"id": user["id"], "name": user["name"], "aadObjectId": user["aadObjectId"]} if user else {"id": "29:x"}
    data = {"tenant": {"id": TENANT}}
    data.update(channel_data or {})
    return {
        "id": f"f:{next(_ids)}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2026-11-23T15:00:00.000Z",
        "from": frm,
        "recipient": {"id": BOT_ID, "name": "Smarketing"},
        "conversation": {"tenantId": TENANT, **conversation},
        "channelData": data,
        "entities": [{"type": "clientInfo", "locale": "en-US", "timezone": "America/New_York"}],
    }


def personal(user: dict) -> dict:
    """The 1:1 conversation of a user with the bot."""
    return {"id": f"a:{user['id']}", "conversationType": "personal"}


def channel_conversation(channel_id: str, thread: str | None = None) -> dict:
    return {
        "id": channel_id + (f";messageid={thread}" if thread else ""),
        "conversationType": "channel",
        "isGroup": True,
    }


def message(
    service_url: str,
    text: str,
    *,
    user: dict,
    conversation: dict | None = None,
    team: tuple[str, str] | None = None,
    channel: tuple[str, str | None] | None = None,
    mention: bool = False,
) -> dict:
    """A message to the bot; ``mention`` prefixes the bot's @mention as Teams does in channels."""
    data: dict = {}
    if team:
        data["team"] = {"id": team[0], "name": team[1]}
    if channel:
        data["channel"] = {"id": channel[0], **({"name": channel[1]} if channel[1] else {})}
    body = _base(service_url, conversation or personal(user), user, data)
    body.update(type="message", text=text, textFormat="plain")
    if mention:
        body["text"] = f"<at>Smarketing</at> {text}"
        body["entities"].append(
            {"type": "mention", "text": "<at>Smarketing</at>", "mentioned": {"id": BOT_ID, "name": "Smarketing"}}
        )
    return body


def card_action(
    service_url: str,
    *,
    user: dict,
    verb: str,
    data: dict,
    reply_to: str | None = None,
    conversation: dict | None = None,
) -> dict:
    """An ``adaptiveCard/action`` invoke: an ``Action.Execute`` pressed (inputs merged into data)."""
    body = _base(service_url, conversation or personal(user), user)
    body.update(
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"},
    )
    if reply_to:
        body["replyToId"] = reply_to
    return body


def installed_in_team(service_url: str, *, user: dict, team_id: str, team_name: str) -> dict:
    """``installationUpdate`` (add) when someone adds the app to a team (arrives in General)."""
    body = _base(
        service_url,
        channel_conversation(team_id),
        user,
        {"team": {"id": team_id, "name": team_name}, "channel": {"id": team_id}},
    )
    body.update(type="installationUpdate", action="add")
    return body


def installed_personally(service_url: str, *, user: dict) -> dict:
    body = _base(service_url, personal(user), user)
    body.update(type="installationUpdate", action="add")
    return body


def bot_added_to_team(service_url: str, *, user: dict, team_id: str, team_name: str) -> dict:
    """``conversationUpdate`` with the bot among ``membersAdded`` (sent alongside the install)."""
    body = _base(
        service_url,
        channel_conversation(team_id),
        user,
        {"team": {"id": team_id, "name": team_name}, "eventType": "teamMemberAdded"},
    )
    body.update(type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
    return body


def members_changed(
    service_url: str,
    *,
    user: dict,
    team_id: str,
    team_name: str,
    members: list[dict],
    added: bool = True,
    channel_id: str | None = None,
) -> dict:
    """``conversationUpdate`` when people join or leave a team (``teamMemberAdded`` /
    ``teamMemberRemoved``, the accounts in ``membersAdded`` / ``membersRemoved`` as Teams sends
    them: id and Entra object id, no email); with ``channel_id``, a private or shared channel's
    (``channelMemberAdded`` / ``channelMemberRemoved``)."""
    data: dict = {"team": {"id": team_id, "name": team_name}}
    if channel_id:
        data.update(eventType="channelMemberAdded" if added else "channelMemberRemoved", channel={"id": channel_id})
    else:
        data["eventType"] = "teamMemberAdded" if added else "teamMemberRemoved"
    body = _base(service_url, channel_conversation(channel_id or team_id), user, data)
    accounts = [{"id": m["id"], "aadObjectId": m["aadObjectId"]} for m in members]
    body.update(type="conversationUpdate", **{"membersAdded" if added else "membersRemoved": accounts})
    return body


def channel_event(
    service_url: str, *, user: dict, team_id: str, team_name: str, event: str, channel_id: str, channel_name: str | None
) -> dict:
    body = _base(
        service_url,
        channel_conversation(team_id),
        user,
        {
            "team": {"id": team_id, "name": team_name},
            "eventType": event,
            "channel": {"id": channel_id, **({"name": channel_name} if channel_name else {})},
        },
    )
    body.update(type="conversationUpdate")
    return body


def cards_in(activity: dict) -> list[dict]:
    return [
        a["content"]
        for a in activity.get("attachments") or []
        if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
    ]


def card_text(card: dict) -> str:
    """Every text on a card (text blocks, facts, action titles), one per line, for assertions."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(node.get("text", ""))
            if node.get("type") == "FactSet":
                out.extend(f"{f.get('title')}: {f.get('value')}" for f in node.get("facts", []))
            if str(node.get("type", "")).startswith("Action."):
                out.append(node.get("title", ""))
            if node.get("type", "").startswith("Input."):
                out.append(node.get("label", ""))
            for k, v in node.items():
                if k not in ("msteams",):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(out)


def actions_of(card: dict) -> list[dict]:
    """Every Action.* on a card, in order (inside action sets and at the card level)."""
    found: list[dict] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Action."):
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found
