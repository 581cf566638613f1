"""A local HTTP server that speaks (enough of) HubSpot's API, and sends its webhooks, for tests.

HubSpot cannot be reached from the test machines, so the real ``hubspot-api-client`` is pointed at
this server (its configuration ``host``). Request and response shapes follow HubSpot's documented
v3/v4 CRM APIs:

* ``POST /crm/v3/objects/{contacts,deals,notes,tasks}/batch/read`` (up to 100 ids; unknown or
  hidden ids: ``207`` with ``errors`` of category ``OBJECT_NOT_FOUND``);
* ``POST /crm/v3/objects/{type}/search`` (``filterGroups`` with EQ, NEQ, LT, LTE, GT, GTE, IN,
  NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, BETWEEN; one ``sorts`` rule; ``after`` paging; at most
  200 a page and 10,000 results a query - past that a ``400``; no rate-limit headers, 5/s);
* ``GET /crm/v3/objects/{type}`` (list, ``after`` paging), ``GET``/``PATCH``
  ``/crm/v3/objects/{type}/{id}``, ``POST /crm/v3/objects/{notes,tasks}`` (with associations);
* ``POST /crm/v4/associations/{from}/{to}/batch/read``, ``GET /crm/v4/objects/{type}/{id}/associations/{to}``;
* ``GET /crm/v3/owners``, ``GET /marketing/v3/campaigns``, ``POST /marketing/v3/campaigns/batch/read``;
* ``POST /oauth/v2/private-apps/get/access-token-info`` (the token's hub and scopes).

Errors carry HubSpot's body: ``401`` (``INVALID_AUTHENTICATION``), ``403`` with ``MISSING_SCOPES``
naming the scope, ``400`` ``VALIDATION_ERROR`` for a lead status or lifecycle stage that is not an
option. Rate limits: a rolling burst window (default 100 requests per 10 s) with the
``X-HubSpot-RateLimit-*`` headers, and 5 searches per second; past either, ``429`` with
``errorType: RATE_LIMIT`` and the policy's name. ``rate_limit_next(n)`` forces the next n.

Webhooks: ``subscribe(url, client_secret)`` and every change made through the API or the helpers
(``add_contact``, ``update_contact``, ``add_deal``, ``update_deal``) queues a notification;
``send_webhooks()`` posts them, signed with ``X-HubSpot-Signature-v3`` as HubSpot signs them.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

HUB_ID = 4242
APP_ID = 777
ALL_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "marketing.campaigns.read",
)
LIFECYCLE = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
LEAD_STATUSES = [
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
]
WON_STAGES = {"closedwon"}
LOST_STAGES = {"closedlost"}
OBJECT_TYPE_IDS = {"contacts": "0-1", "deals": "0-3", "notes": "0-46", "tasks": "0-27"}
SINGULAR = {"contacts": "contact", "deals": "deal", "notes": "note", "tasks": "task"}
PLURAL = {"contact": "contacts", "deal": "deals", "note": "notes", "task": "tasks", **{p: p for p in SINGULAR}}
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
# (from, to) -> the HUBSPOT_DEFINED association type id
ASSOC_TYPES = {
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
}
SCOPE_FOR = {
    "contacts": "crm.objects.contacts",
    "deals": "crm.objects.deals",
    "notes": "crm.objects.contacts",
    "tasks": "crm.objects.contacts",
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value: Any) -> float | None:
    """A property value as a number (ms for dates), when it reads as one."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value)
    try:
        return float(s)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


class Problem(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("message"))
        self.status, self.body, self.headers = status, body, headers or {}


def error(status: int, message: str, category: str, **extra) -> Problem:
    return Problem(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra},
    )


class Window:
    """A rolling rate-limit window: ``limit`` requests per ``seconds``."""

    def __init__(self, limit: int, seconds: float):
        self.limit, self.seconds = limit, seconds
        self.times: deque[float] = deque()

    def take(self, now: float) -> int | None:
        """Count one request; the remaining count, or None when over the limit."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return None
        self.times.append(now)
        return self.limit - len(self.times)


class HubSpotStandIn:
    def __init__(
        self, *, burst: int = 100, burst_seconds: float = 10.0, search_per_second: int = 5, daily: int = 250_000
    ):
        self.lock = threading.RLock()
        self.burst, self.burst_seconds, self.search_per_second, self.daily = (
            burst,
            burst_seconds,
            search_per_second,
            daily,
        )
        self.server: ThreadingHTTPServer | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.tokens: dict[str, set[str]] = {}
            self.objects: dict[str, dict[str, dict]] = {t: {} for t in SINGULAR}
            self.sorted_ids: dict[str, list[int]] = {t: [] for t in SINGULAR}
            self.hidden: set[tuple[str, str]] = set()  # objects the token may not read (404)
            self.assoc: dict[tuple[str, str, str], dict[str, int]] = {}
            self.owners: dict[str, dict] = {}
            self.campaigns: dict[str, dict] = {}
            self.requests: list[dict] = []
            self.rate_limited = 0
            self._force_429 = 0
            self._fail: list[list] = []  # [path part, status, matching requests to let through first]
            self._window = Window(self.burst, self.burst_seconds)
            self._search = Window(self.search_per_second, 1.0)
            self._used_today = 0
            self._ids = itertools.count(1001)
            self._event_ids = itertools.count(1)
            self.version = 0
            self._match_cache: dict[tuple, list[int]] = {}
            self.subscription: tuple[str, str] | None = None
            self.watched: dict[str, set[str] | None] = {"contact": None, "deal": None}
            self.pending: list[dict] = []

    def start(self) -> "HubSpotStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, data, headers = standin.handle(self.command, self.path, dict(self.headers), body)
                raw = json.dumps(data).encode() if data is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self) -> "HubSpotStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- test helpers ------------------------------------------------------------------------
    def add_token(self, token: str, scopes=ALL_SCOPES) -> str:
        with self.lock:
            self.tokens[token] = set(scopes)
        return token

    def set_limits(
        self, *, burst: int | None = None, burst_seconds: float | None = None, search_per_second: int | None = None
    ) -> None:
        with self.lock:
            if burst is not None or burst_seconds is not None:
                self.burst = burst or self.burst
                self.burst_seconds = burst_seconds or self.burst_seconds
                self._window = Window(self.burst, self.burst_seconds)
            if search_per_second is not None:
                self.search_per_second = search_per_second
                self._search = Window(search_per_second, 1.0)

    def rate_limit_next(self, n: int = 1) -> None:
        """The next ``n`` API requests answer 429 (ten-secondly policy)."""
        with self.lock:
            self._force_429 += n

    def fail_next(self, n: int = 1, *, status: int = 502, path: str = "", after: int = 0) -> None:
        """The next ``n`` API requests whose path contains ``path`` answer ``status`` (HubSpot down),
        once ``after`` such requests have gone through."""
        with self.lock:
            self._fail.extend([[path, status, after] for _ in range(n)])

    def add_owner(
        self, owner_id: str, email: str, first: str, last: str, *, archived: bool = False, teams: list[str] = ("Sales",)
    ) -> dict:
        now = iso(self._now_ms())
        owner = {
            "id": str(owner_id),
            "email": email,
            "type": "PERSON",
            "firstName": first,
            "lastName": last,
            "userId": int(owner_id) + 5000,
            "userIdIncludingInactive": int(owner_id) + 5000,
            "createdAt": now,
            "updatedAt": now,
            "archived": archived,
            "teams": [{"id": str(i + 1), "name": t, "primary": i == 0} for i, t in enumerate(teams)],
        }
        with self.lock:
            self.owners[owner["id"]] = owner
        return owner

    def add_campaign(self, guid: str, name: str, owner_id: str | None = None) -> dict:
        now = iso(self._now_ms())
        campaign = {
            "id": guid,
            "properties": {"hs_name": name, "hs_owner": owner_id},
            "createdAt": now,
            "updatedAt": now,
            "businessUnits": [{"id": 0}],
        }
        with self.lock:
            self.campaigns[guid] = campaign
        return campaign

    def add_contact(
        self, properties: dict, *, object_id: str | None = None, at_ms: int | None = None, notify: bool = True
    ) -> str:
        return self._create("contacts", properties, object_id=object_id, at_ms=at_ms, notify=notify)

    def add_deal(
        self,
        properties: dict,
        *,
        contact: str | None = None,
        object_id: str | None = None,
        at_ms: int | None = None,
        notify: bool = True,
    ) -> str:
        deal_id = self._create("deals", properties, object_id=object_id, at_ms=at_ms, notify=notify)
        if contact:
            self.associate("deals", deal_id, "contacts", contact)
        return deal_id

    def update_contact(self, object_id: str, properties: dict, *, at_ms: int | None = None) -> None:
        self._update("contacts", object_id, properties, at_ms=at_ms, notify=True)

    def update_deal(self, object_id: str, properties: dict, *, at_ms: int | None = None) -> None:
        self._update("deals", object_id, properties, at_ms=at_ms, notify=True)

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        from_type, to_type = PLURAL[from_type], PLURAL[to_type]
        with self.lock:
            self.assoc.setdefault((from_type, str(from_id), to_type), {})[str(to_id)] = ASSOC_TYPES.get(
                (from_type, to_type), 1
            )
            self.assoc.setdefault((to_type, str(to_id), from_type), {})[str(from_id)] = ASSOC_TYPES.get(
                (to_type, from_type), 1
            )

    def hide(self, kind: str, object_id: str) -> None:
        """The token may not read this object any more: it answers as not found."""
        with self.lock:
            self.hidden.add((PLURAL[kind], str(object_id)))

    def get(self, kind: str, object_id: str) -> dict:
        with self.lock:
            return json.loads(json.dumps(self.objects[PLURAL[kind]][str(object_id)]))

    def notes_of(self, contact_id: str, kind: str = "notes") -> list[dict]:
        with self.lock:
            ids = self.assoc.get(("contacts", str(contact_id), kind), {})
            return [json.loads(json.dumps(self.objects[kind][i])) for i in ids]

    def calls(self, path_part: str = "", method: str | None = None) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if path_part in r["path"] and (method is None or r["method"] == method)]

    def subscribe(self, url: str, client_secret: str, *, contact_properties=None, deal_properties=None) -> None:
        """Send webhooks to ``url``, for changes of these properties (None: all)."""
        with self.lock:
            self.subscription = (url, client_secret)
            self.watched = {
                "contact": set(contact_properties) if contact_properties else None,
                "deal": set(deal_properties) if deal_properties else None,
            }

    def send_webhooks(
        self, *, timestamp_ms: int | None = None, secret: str | None = None, batch: int = 100
    ) -> list[httpx.Response]:
        """Post the queued notifications (``batch`` per request), signed v3 like HubSpot."""
        assert self.subscription, "subscribe() first"
        url, client_secret = self.subscription
        with self.lock:
            pending, self.pending = self.pending, []
        answers = []
        with httpx.Client(timeout=10) as http:
            for i in range(0, len(pending), batch):
                body = json.dumps(pending[i : i + batch]).encode()
                answers.append(
                    http.post(url, content=body, headers=sign_v3(secret or client_secret, url, body, timestamp_ms))
                )
        return answers

    # -- data --------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(time.time() * 1000)

    def _create(
        self, kind: str, properties: dict, *, object_id=None, at_ms=None, notify=False, associations: list | None = None
    ) -> str:
        with self.lock:
            oid = str(object_id or next(self._ids))
            at = at_ms or self._now_ms()
            props = {k: (None if v is None else str(v)) for k, v in properties.items()}
            props.setdefault("createdate", iso(at))
            props["hs_object_id"] = oid
            if kind in MODIFIED:
                props[MODIFIED[kind]] = iso(at)
            if kind == "deals":
                self._deal_flags(props)
            self.objects[kind][oid] = {
                "id": oid,
                "properties": props,
                "createdAt": props["createdate"],
                "updatedAt": iso(at),
                "archived": False,
            }
            bisect.insort(self.sorted_ids[kind], int(oid))
            self.version += 1
            for a in associations or []:
                to_type = {202: "contacts", 204: "contacts", 3: "contacts"}.get(
                    a["types"][0]["associationTypeId"], "contacts"
                )
                self.associate(kind, oid, to_type, a["to"]["id"])
            if notify and kind in MODIFIED:
                self._notify(kind, oid, "creation", None, None, at)
            return oid

    def _update(self, kind: str, object_id: str, properties: dict, *, at_ms=None, notify=False) -> dict:
        with self.lock:
            obj = self.objects[kind].get(str(object_id))
            if obj is None or (kind, str(object_id)) in self.hidden:
                raise error(404, "resource not found", "OBJECT_NOT_FOUND")
            at = at_ms or self._now_ms()
            changed = []
            for k, v in properties.items():
                v = None if v is None else str(v)
                if (
                    k == "lifecyclestage"
                    and v
                    and obj["properties"].get(k) in LIFECYCLE
                    and v in LIFECYCLE
                    and LIFECYCLE.index(v) < LIFECYCLE.index(obj["properties"][k])
                ):
                    continue  # HubSpot does not move a lifecycle stage backwards: clear it first
                if obj["properties"].get(k) != v:
                    obj["properties"][k] = v
                    changed.append((k, v))
            if kind == "deals":
                self._deal_flags(obj["properties"])
            if kind in MODIFIED:
                obj["properties"][MODIFIED[kind]] = iso(at)
            obj["updatedAt"] = iso(at)
            self.version += 1
            if notify:
                for k, v in changed:
                    self._notify(kind, str(object_id), "propertyChange", k, v, at)
            return obj

    @staticmethod
    def _deal_flags(props: dict) -> None:
        stage = props.get("dealstage")
        props["hs_is_closed_won"] = "true" if stage in WON_STAGES else "false"
        props["hs_is_closed"] = "true" if stage in WON_STAGES | LOST_STAGES else "false"

    def _notify(self, kind: str, oid: str, what: str, prop, value, at: int) -> None:
        if self.subscription is None:
            return
        singular = SINGULAR[kind]
        watched = self.watched.get(singular)
        if what == "propertyChange" and watched is not None and prop not in watched:
            return
        n = {
            "eventId": next(self._event_ids),
            "subscriptionId": 10 + len(singular),
            "portalId": HUB_ID,
            "appId": APP_ID,
            "occurredAt": at,
            "subscriptionType": f"{singular}.{what}",
            "attemptNumber": 0,
            "objectId": int(oid),
            "changeFlag": "CREATED" if what == "creation" else None,
            "changeSource": "CRM_UI",
            "sourceId": "userId:1",
        }
        if what == "propertyChange":
            n.update(propertyName=prop, propertyValue=value or "")
        self.pending.append({k: v for k, v in n.items() if v is not None})

    # -- HTTP --------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict, body: bytes) -> tuple[int, Any, dict]:
        parts = urlsplit(raw_path)
        path, query = parts.path, {k: v for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append(
                {"method": method, "path": path, "query": query, "body": json.loads(body) if body else None}
            )
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            return 400, {"status": "error", "message": "Invalid input JSON", "category": "VALIDATION_ERROR"}, {}
        try:
            if path == "/oauth/v2/private-apps/get/access-token-info":
                return 200, self._token_info(payload), {}
            token = (headers.get("Authorization") or headers.get("authorization") or "").removeprefix("Bearer ")
            scopes = self.tokens.get(token)
            if scopes is None:
                raise error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at https://developers.hubspot.com/"
                    "docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            with self.lock:
                matching = [f for f in self._fail if f[0] in path]
                failing = matching[0] if matching and matching[0][2] <= 0 else None
                if failing:
                    self._fail.remove(failing)
                for f in matching if failing is None else ():
                    f[2] -= 1
            if failing:
                raise Problem(
                    failing[1],
                    {
                        "status": "error",
                        "message": "internal error",
                        "correlationId": str(uuid.uuid4()),
                        "category": "INTERNAL_ERROR",
                    },
                )
            is_search = path.endswith("/search")
            limit_headers = self._rate_limit(is_search)
            status, data = self._route(method, path, query, payload, scopes)
            return status, data, limit_headers
        except Problem as p:
            return p.status, p.body, p.headers

    def _rate_limit(self, is_search: bool) -> dict:
        now = time.monotonic()
        with self.lock:
            forced = self._force_429 > 0
            if forced:
                self._force_429 -= 1
            if is_search:
                remaining = None if forced else self._search.take(now)
                if remaining is None:
                    self.rate_limited += 1
                    raise Problem(
                        429,
                        {
                            "status": "error",
                            "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT",
                            "correlationId": str(uuid.uuid4()),
                            "policyName": "SECONDLY",
                            "requestId": str(uuid.uuid4()),
                        },
                    )
                return {}  # the search endpoints send no rate-limit headers
            remaining = None if forced else self._window.take(now)
            self._used_today += 1
            headers = {
                "X-HubSpot-RateLimit-Daily": self.daily,
                "X-HubSpot-RateLimit-Daily-Remaining": max(self.daily - self._used_today, 0),
                "X-HubSpot-RateLimit-Interval-Milliseconds": int(self.burst_seconds * 1000),
                "X-HubSpot-RateLimit-Max": self.burst,
                "X-HubSpot-RateLimit-Remaining": max(remaining or 0, 0),
                "X-HubSpot-RateLimit-Secondly": max(self.burst // 10, 1),
                "X-HubSpot-RateLimit-Secondly-Remaining": max((remaining or 0) // 10, 0),
            }
            if remaining is None:
                self.rate_limited += 1
                raise Problem(
                    429,
                    {
                        "status": "error",
                        "message": "You have reached your ten_secondly_rolling limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": str(uuid.uuid4()),
                        "policyName": "TEN_SECONDLY_ROLLING",
                        "requestId": str(uuid.uuid4()),
                    },
                    headers,
                )
            return headers

    def _token_info(self, payload) -> dict:
        token = (payload or {}).get("tokenKey")
        if token not in self.tokens:
            raise error(401, "The access token is not valid", "INVALID_AUTHENTICATION")
        return {"userId": 5001, "hubId": HUB_ID, "appId": APP_ID, "scopes": sorted(self.tokens[token])}

    @staticmethod
    def _need(scopes: set[str], scope: str) -> None:
        if scope not in scopes:
            raise error(
                403,
                "This app hasn't been granted all required scopes to make this call. Read more about "
                "required scopes here: https://developers.hubspot.com/scopes.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )

    def _route(self, method: str, path: str, query: dict, payload, scopes: set[str]) -> tuple[int, Any]:
        seg = [s for s in path.split("/") if s]
        if seg[:2] == ["crm", "v3"] and len(seg) >= 4 and seg[2] == "objects":
            kind = seg[3]
            if kind not in SINGULAR:
                raise error(400, f"Unable to infer object type from: {kind}", "VALIDATION_ERROR")
            write = method in ("POST", "PATCH") and not (len(seg) == 5 and seg[4] == "search") and seg[-1] != "read"
            self._need(scopes, SCOPE_FOR[kind] + (".write" if write else ".read"))
            if len(seg) == 6 and seg[4:] == ["batch", "read"] and method == "POST":
                return self._batch_read(kind, payload)
            if len(seg) == 5 and seg[4] == "search" and method == "POST":
                return 200, self._search_objects(kind, payload)
            if len(seg) == 4 and method == "GET":
                return 200, self._list(kind, query)
            if len(seg) == 4 and method == "POST":
                oid = self._create(
                    kind, self._validated(payload.get("properties") or {}), associations=payload.get("associations")
                )
                return 201, self.objects[kind][oid]
            if len(seg) == 5 and method == "GET":
                return 200, self._read_one(kind, seg[4], query)
            if len(seg) == 5 and method == "PATCH":
                obj = self._update(kind, seg[4], self._validated(payload.get("properties") or {}), notify=True)
                return 200, obj
        if seg[:3] == ["crm", "v4", "associations"] and len(seg) == 7 and seg[5:] == ["batch", "read"]:
            from_type, to_type = PLURAL.get(seg[3], seg[3]), PLURAL.get(seg[4], seg[4])
            for t in (from_type, to_type):
                self._need(scopes, SCOPE_FOR.get(t, "crm.objects.contacts") + ".read")
            return self._assoc_batch(from_type, to_type, payload)
        if seg[:3] == ["crm", "v4", "objects"] and len(seg) == 7 and seg[5] == "associations":
            from_type, oid, to_type = PLURAL.get(seg[3], seg[3]), seg[4], PLURAL.get(seg[6], seg[6])
            self._need(scopes, SCOPE_FOR.get(from_type, "crm.objects.contacts") + ".read")
            with self.lock:
                found = self.assoc.get((from_type, oid, to_type), {})
                results = [
                    {
                        "toObjectId": int(i),
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None}],
                    }
                    for i, t in found.items()
                ]
            return 200, {"results": results}
        if seg[:3] == ["crm", "v3", "owners"]:
            self._need(scopes, "crm.objects.owners.read")
            archived = (query.get("archived") or ["false"])[0].lower() == "true"
            owners = [o for o in self.owners.values() if o["archived"] == archived]
            return 200, self._page(owners, query, 100, f"{self.url}/crm/v3/owners/")
        if seg[:3] == ["marketing", "v3", "campaigns"]:
            self._need(scopes, "marketing.campaigns.read")
            wanted = set(",".join(query.get("properties", [])).split(",")) - {""}
            if len(seg) == 5 and seg[3:] == ["batch", "read"]:
                found = [
                    self._campaign(self.campaigns[i["id"]], wanted)
                    for i in payload.get("inputs", [])
                    if i["id"] in self.campaigns
                ]
                missing = [i["id"] for i in payload.get("inputs", []) if i["id"] not in self.campaigns]
                data = {
                    "status": "COMPLETE",
                    "results": found,
                    "startedAt": iso(self._now_ms()),
                    "completedAt": iso(self._now_ms()),
                }
                if missing:
                    data.update(
                        numErrors=1,
                        errors=[
                            {
                                "status": "error",
                                "category": "OBJECT_NOT_FOUND",
                                "message": "Campaigns not found",
                                "context": {"ids": missing},
                            }
                        ],
                    )
                    return 207, data
                return 200, data
            if len(seg) == 3:
                items = [self._campaign(c, wanted) for c in self.campaigns.values()]
                page = self._page(items, query, 1000, f"{self.url}/marketing/v3/campaigns")
                return 200, {**page, "total": len(items)}
        raise error(404, f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    @staticmethod
    def _campaign(c: dict, wanted: set[str]) -> dict:
        return {**c, "properties": {k: v for k, v in c["properties"].items() if not wanted or k in wanted}}

    def _validated(self, props: dict) -> dict:
        bad = []
        for name, options in (("lifecyclestage", LIFECYCLE), ("hs_lead_status", LEAD_STATUSES)):
            v = props.get(name)
            if v not in (None, "") and v not in options:
                bad.append(
                    {
                        "isValid": False,
                        "message": f"{v} was not one of the allowed options: [{', '.join(options)}]",
                        "error": "INVALID_OPTION",
                        "name": name,
                    }
                )
        if bad:
            raise error(400, f"Property values were not valid: {json.dumps(bad)}", "VALIDATION_ERROR")
        return props

    def _view(self, kind: str, obj: dict, wanted: list[str] | None) -> dict:
        defaults = {
            "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
            "deals": [
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ],
        }.get(kind, list(obj["properties"]))
        names = wanted or defaults
        return {
            "id": obj["id"],
            "properties": {n: obj["properties"].get(n) for n in names},
            "createdAt": obj["createdAt"],
            "updatedAt": obj["updatedAt"],
            "archived": False,
        }

    def _read_one(self, kind: str, oid: str, query: dict) -> dict:
        with self.lock:
            obj = self.objects[kind].get(oid)
            if obj is None or (kind, oid) in self.hidden:
                raise error(404, "resource not found", "OBJECT_NOT_FOUND")
            return self._view(
                kind, obj, ",".join(query.get("properties", [])).split(",") if query.get("properties") else None
            )

    def _batch_read(self, kind: str, payload: dict) -> tuple[int, dict]:
        inputs = payload.get("inputs") or []
        if len(inputs) > 100:
            raise error(400, "Batch input is too large: the limit is 100", "VALIDATION_ERROR")
        results, missing = [], []
        with self.lock:
            for i in inputs:
                oid = str(i.get("id"))
                obj = self.objects[kind].get(oid)
                if obj is None or (kind, oid) in self.hidden:
                    missing.append(oid)
                else:
                    results.append(self._view(kind, obj, payload.get("properties")))
        data = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(self._now_ms()),
            "completedAt": iso(self._now_ms()),
        }
        if missing:
            data.update(
                numErrors=1,
                errors=[
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or not exist. "
                        "Check that ids are valid.",
                        "context": {"ids": missing},
                    }
                ],
            )
            return 207, data
        return 200, data

    def _list(self, kind: str, query: dict) -> dict:
        wanted = ",".join(query.get("properties", [])).split(",") if query.get("properties") else None
        limit = min(int((query.get("limit") or ["10"])[0]), 100)
        after = int((query.get("after") or ["0"])[0] or 0)
        with self.lock:
            ids = self.sorted_ids[kind]
            start = bisect.bisect_right(ids, after) if after else 0
            chosen = [str(i) for i in ids[start : start + limit] if (kind, str(i)) not in self.hidden]
            results = [self._view(kind, self.objects[kind][i], wanted) for i in chosen]
            more = start + limit < len(ids)
        data = {"results": results}
        if more and chosen:
            data["paging"] = {
                "next": {"after": chosen[-1], "link": f"{self.url}/crm/v3/objects/{kind}?after={chosen[-1]}"}
            }
        return data

    def _page(self, items: list, query: dict, max_limit: int, link: str) -> dict:
        limit = min(int((query.get("limit") or ["100"])[0]), max_limit)
        after = int((query.get("after") or ["0"])[0] or 0)
        page = items[after : after + limit]
        data = {"results": page}
        if after + limit < len(items):
            data["paging"] = {"next": {"after": str(after + limit), "link": f"{link}?after={after + limit}"}}
        return data

    def _assoc_batch(self, from_type: str, to_type: str, payload: dict) -> tuple[int, dict]:
        inputs = payload.get("inputs") or []
        if len(inputs) > 1000:
            raise error(400, "Batch input is too large: the limit is 1000", "VALIDATION_ERROR")
        results, empty = [], []
        with self.lock:
            for i in inputs:
                oid = str(i.get("id"))
                found = self.assoc.get((from_type, oid, to_type), {})
                if not found:
                    empty.append(oid)
                    continue
                results.append(
                    {
                        "from": {"id": oid},
                        "to": [
                            {
                                "toObjectId": int(t),
                                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": ty, "label": None}],
                            }
                            for t, ty in found.items()
                        ],
                    }
                )
        data = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": iso(self._now_ms()),
            "completedAt": iso(self._now_ms()),
        }
        if empty:
            data.update(
                numErrors=len(empty),
                errors=[
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {to_type} is associated with {SINGULAR.get(from_type, from_type)} {oid}.",
                        "context": {"fromObjectId": [oid]},
                    }
                    for oid in empty
                ],
            )
            return 207, data
        return 200, data

    # -- search ------------------------------------------------------------------------------
    def _search_objects(self, kind: str, req: dict) -> dict:
        limit = int(req.get("limit") or 10)
        if limit > 200:
            raise error(400, "limit must be at most 200", "VALIDATION_ERROR")
        after = int(req.get("after") or 0)
        if after + limit > 10_000:
            raise error(
                400, "The search endpoints are limited to 10,000 total results for any given query.", "VALIDATION_ERROR"
            )
        groups = req.get("filterGroups") or []
        sorts = req.get("sorts") or []
        if len(sorts) > 1:
            raise error(400, "only one sort is allowed", "VALIDATION_ERROR")
        sort = sorts[0] if sorts else {"propertyName": "hs_object_id", "direction": "ASCENDING"}
        if isinstance(sort, str):
            sort = {
                "propertyName": sort.lstrip("-"),
                "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING",
            }
        with self.lock:
            ids = self._matching(kind, groups, sort)
            total = len(ids)
            page = ids[after : after + limit]
            results = [self._view(kind, self.objects[kind][str(i)], req.get("properties")) for i in page]
        data = {"total": total, "results": results}
        if after + limit < total:
            data["paging"] = {"next": {"after": str(after + limit)}}
        return data

    def _matching(self, kind: str, groups: list[dict], sort: dict) -> list[int]:
        """Ids matching the filter groups, in the sort's order. Keyset paging on hs_object_id
        (``hs_object_id GT x`` sorted by it) is answered from a cached match list with bisect,
        so 100,000 objects page quickly."""
        key_gt, rest = None, groups
        if (
            len(groups) == 1
            and sort["propertyName"] == "hs_object_id"
            and sort.get("direction", "ASCENDING") == "ASCENDING"
        ):
            filters = groups[0].get("filters", [])
            keyset = [f for f in filters if f["propertyName"] == "hs_object_id" and f["operator"] == "GT"]
            if len(keyset) == 1:
                key_gt = int(keyset[0]["value"])
                rest = [{"filters": [f for f in filters if f is not keyset[0]]}]
        cache_key = (kind, json.dumps(rest, sort_keys=True), json.dumps(sort, sort_keys=True), self.version)
        ids = self._match_cache.get(cache_key)
        if ids is None:
            objs = self.objects[kind]
            ids = [
                i
                for i in self.sorted_ids[kind]
                if (kind, str(i)) not in self.hidden
                and (
                    not rest
                    or any(all(_match(objs[str(i)]["properties"], f) for f in g.get("filters", [])) for g in rest)
                )
            ]
            if sort["propertyName"] != "hs_object_id" or sort.get("direction") == "DESCENDING":
                prop = sort["propertyName"]
                ids.sort(
                    key=lambda i: (to_ms(objs[str(i)]["properties"].get(prop)) or 0, i),
                    reverse=sort.get("direction") == "DESCENDING",
                )
            if len(self._match_cache) > 32:
                self._match_cache.clear()
            self._match_cache[cache_key] = ids
        if key_gt is not None:
            return ids[bisect.bisect_right(ids, key_gt) :]
        return ids


def _match(props: dict, f: dict) -> bool:
    op, name = f["operator"], f["propertyName"]
    value = props.get(name)
    if op == "HAS_PROPERTY":
        return value not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if op in ("IN", "NOT_IN"):
        inside = str(value).lower() in {str(v).lower() for v in f.get("values", [])}
        return inside if op == "IN" else not inside
    if op == "BETWEEN":
        v = to_ms(value)
        return v is not None and to_ms(f["value"]) <= v <= to_ms(f["highValue"])
    target = f.get("value")
    if op in ("EQ", "NEQ"):
        a, b = to_ms(value), to_ms(target)
        same = (a == b) if a is not None and b is not None else str(value).lower() == str(target).lower()
        return same if op == "EQ" else not same
    a, b = to_ms(value), to_ms(target)
    if a is None or b is None:
        return False
    return {"LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]


def decoded_uri(uri: str) -> str:
    """The URI as HubSpot's v3 signature covers it: these URL-encoded characters decoded."""
    for enc, ch in (
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ):
        uri = uri.replace(enc, ch).replace(enc.lower(), ch)
    return uri


def sign_v3(client_secret: str, url: str, body: bytes, timestamp_ms: int | None = None, method: str = "POST") -> dict:
    """The headers HubSpot sends with a webhook: ``X-HubSpot-Signature-v3`` (base64 HMAC-SHA256 of
    method + URI + body + timestamp, keyed with the app's client secret) and its timestamp."""
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    source = f"{method}{decoded_uri(url)}{body.decode()}{ts}".encode()
    sig = base64.b64encode(hmac.new(client_secret.encode(), source, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sig,
        "X-HubSpot-Request-Timestamp": ts,
        "X-HubSpot-Signature-Version": "v3",
    }
