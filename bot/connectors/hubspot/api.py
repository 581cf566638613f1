"""HubSpot's API through the official client (``hubspot-api-client``), kept to HubSpot's limits.

Every call goes through ``HubSpotApi._call``: it waits its turn in the rate limiter (the account's
burst window, and the search endpoints' own per-second limit), sends the request with the
official client (its paths, auth and connection pool; ``_preload_content=False`` so pages are
parsed once, as plain JSON), and turns HubSpot's answers into the errors below. A ``429`` is
waited out as HubSpot's headers say (``X-HubSpot-RateLimit-Interval-Milliseconds``, the policy
name) and the call is repeated; after ``max_waits`` it raises ``RateLimited`` for the caller to
come back later, so no change is ever dropped for being rate limited.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import httpx
import urllib3

log = logging.getLogger(__name__)

SEARCH_PAGE = 200  # HubSpot's maximum page for the search endpoints
BATCH_READ = 100  # objects per batch read
ASSOC_BATCH = 1000  # objects per associations batch read
NOTE_TO_CONTACT = 202  # HUBSPOT_DEFINED association type ids
TASK_TO_CONTACT = 204


class HubSpotError(Exception):
    """A HubSpot call failed; the text is safe to show an admin (never a token or a body we sent)."""


class AuthError(HubSpotError):
    """401: the access token is wrong, revoked or expired."""


class MissingScopes(HubSpotError):
    """403 MISSING_SCOPES: the token was not granted a scope this call needs."""

    def __init__(self, text: str, scopes: list[str]):
        super().__init__(text)
        self.scopes = scopes


class NotFound(HubSpotError):
    """404: no such object (deleted, merged away, or hidden from this token)."""


class Rejected(HubSpotError):
    """400: HubSpot refused the request (a property value that is not an option, ...)."""


class Unavailable(HubSpotError):
    """HubSpot did not answer, or answered 5xx: try again later."""


class RateLimited(HubSpotError):
    """Still rate limited after waiting: come back in ``retry_after`` seconds."""

    def __init__(self, text: str, retry_after: float):
        super().__init__(text)
        self.retry_after = retry_after


@dataclass
class Page:
    results: list[dict]
    after: str | None
    total: int | None = None


class RateLimiter:
    """Rolling windows, one per bucket (``burst``: N requests per interval; ``search``: N a second).
    ``acquire`` blocks until the bucket has room; ``pause`` holds a bucket after a 429."""

    def __init__(
        self,
        limits: dict[str, tuple[int, float]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limits = limits
        self.clock, self.sleep = clock, sleep
        self.sent: dict[str, deque[float]] = {b: deque() for b in limits}
        self.paused_until: dict[str, float] = {b: 0.0 for b in limits}
        self.lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting (reported by the benchmark)

    def acquire(self, bucket: str) -> None:
        limit, window = self.limits[bucket]
        while True:
            with self.lock:
                now = self.clock()
                sent = self.sent[bucket]
                while sent and sent[0] <= now - window:
                    sent.popleft()
                wait = max(self.paused_until[bucket] - now, (sent[0] + window - now) if len(sent) >= limit else 0)
                if wait <= 0:
                    sent.append(now)
                    return
            self.waited += wait
            self.sleep(min(wait, 5.0))

    def pause(self, bucket: str, seconds: float) -> None:
        with self.lock:
            self.paused_until[bucket] = max(self.paused_until[bucket], self.clock() + seconds)


class HubSpotApi:
    def __init__(
        self,
        token: str,
        base_url: str = "https://api.hubapi.com",
        *,
        burst: int = 100,
        burst_seconds: float = 10.0,
        search_per_second: int = 5,
        timeout: tuple[float, float] = (5, 30),
        max_waits: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        metrics=None,
    ):
        from hubspot import HubSpot

        self.token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_waits = max_waits
        self.sleep = sleep
        self.metrics = metrics
        # Windows a little longer than HubSpot's: a request's clock starts when it is sent here and
        # when it arrives there, so an exact window now and then lands one request over the limit.
        self.limiter = RateLimiter(
            {"burst": (burst, burst_seconds * 1.01 + 0.05), "search": (search_per_second, 1.05)}, sleep=sleep
        )
        self.requests = 0
        self.rate_limited = 0
        client = HubSpot(access_token=token, host=self.base_url, base_url=self.base_url)
        crm = client.crm
        # Each property of the discovery builds a new API client (and connection pool): build once.
        self.apis = {
            "contacts": (crm.contacts.basic_api, crm.contacts.batch_api, crm.contacts.search_api),
            "deals": (crm.deals.basic_api, crm.deals.batch_api, crm.deals.search_api),
            "notes": (crm.objects.notes.basic_api, crm.objects.notes.batch_api, None),
            "tasks": (crm.objects.tasks.basic_api, crm.objects.tasks.batch_api, None),
        }
        self.assoc_batch = crm.associations.v4.batch_api
        self.assoc_basic = crm.associations.v4.basic_api
        self.owners_api = crm.owners.owners_api
        self.http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout[1], connect=timeout[0]),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    # -- the one way out ---------------------------------------------------------------------
    def _call(self, bucket: str, what: str, fn: Callable[..., Any], *args, **kwargs) -> tuple[int, Any]:
        waits = errors = 0
        while True:
            self.limiter.acquire(bucket)
            self.requests += 1
            try:
                resp = fn(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
                status, headers, raw = resp.status, resp.headers, resp.data
            except (urllib3.exceptions.HTTPError, httpx.HTTPError) as e:
                status, headers, raw = 0, {}, str(e).encode()
            except Exception as e:  # noqa: BLE001 - the generated client's ApiException, one class per API
                if not hasattr(e, "status"):
                    raise
                status, headers, raw = e.status or 0, e.headers or {}, e.body or b""
            self._count(bucket, status)
            if 200 <= status < 300:
                return status, json.loads(raw) if raw else None
            body = _json(raw)
            if status == 429:
                self.rate_limited += 1
                wait = _rate_limit_wait(headers, body, bucket)
                waits += 1
                if waits > self.max_waits or wait > 60:
                    raise RateLimited(
                        f"HubSpot rate limit ({body.get('policyName') or 'unknown policy'}) on {what}", retry_after=wait
                    )
                log.info("HubSpot %s: rate limited (%s), waiting %.1fs", what, body.get("policyName"), wait)
                self.limiter.pause(bucket, wait)
                continue
            if status == 0 or status >= 500:
                errors += 1
                if errors > 2:
                    raise Unavailable(f"HubSpot did not answer {what}" + (f" (HTTP {status})" if status else ""))
                self.sleep(0.5 * 2 ** (errors - 1))
                continue
            message = str(body.get("message") or "")[:300]
            if status == 401:
                raise AuthError(f"HubSpot refused the access token on {what} (401): {message}")
            if status == 403:
                scopes = _scopes(body)
                if body.get("category") == "MISSING_SCOPES" or scopes:
                    raise MissingScopes(f"the HubSpot token lacks {', '.join(scopes) or 'a scope'} for {what}", scopes)
                raise NotFound(f"HubSpot forbids {what} (403): {message}")
            if status == 404:
                raise NotFound(f"not found in HubSpot: {what}")
            raise Rejected(f"HubSpot rejected {what} (HTTP {status}): {message}")

    def _count(self, bucket: str, status: int) -> None:
        if self.metrics is not None:
            outcome = (
                "ok"
                if 200 <= status < 300
                else ("rate_limited" if status == 429 else "error" if status == 0 or status >= 500 else str(status))
            )
            self.metrics.connector_requests.labels("hubspot", outcome).inc()

    # -- CRM objects -------------------------------------------------------------------------
    def batch_read(self, kind: str, ids: list[str], properties: list[str]) -> tuple[list[dict], list[str]]:
        """Objects by id (up to 100) with these properties; and the ids HubSpot could not find."""
        body = {"inputs": [{"id": str(i)} for i in ids], "properties": properties, "propertiesWithHistory": []}
        _, data = self._call("burst", f"a batch read of {kind}", self.apis[kind][1].read, body)
        missing = [str(i) for err in data.get("errors") or [] for i in (err.get("context") or {}).get("ids", [])]
        return data.get("results") or [], missing

    def search(
        self,
        kind: str,
        *,
        filters: list[dict],
        properties: list[str],
        sort: str,
        after: str | None = None,
        limit: int = SEARCH_PAGE,
        descending: bool = False,
    ) -> Page:
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": "DESCENDING" if descending else "ASCENDING"}],
            "properties": properties,
            "limit": limit,
        }
        if after:
            body["after"] = after
        _, data = self._call("search", f"a search of {kind}", self.apis[kind][2].do_search, body)
        return Page(
            data.get("results") or [], ((data.get("paging") or {}).get("next") or {}).get("after"), data.get("total")
        )

    def list_page(self, kind: str, *, properties: list[str], after: str | None = None, limit: int = 100) -> Page:
        kwargs: dict[str, Any] = {"limit": limit, "properties": properties, "archived": False}
        if after:
            kwargs["after"] = after
        _, data = self._call("burst", f"a page of {kind}", self.apis[kind][0].get_page, **kwargs)
        return Page(data.get("results") or [], ((data.get("paging") or {}).get("next") or {}).get("after"))

    def associations(self, from_kind: str, to_kind: str, ids: list[str]) -> dict[str, list[str]]:
        """The ids of ``to_kind`` objects associated with each of ``ids`` (up to 1,000)."""
        body = {"inputs": [{"id": str(i)} for i in ids]}
        _, data = self._call(
            "burst", f"the {from_kind}-{to_kind} associations", self.assoc_batch.get_page, from_kind, to_kind, body
        )
        out: dict[str, list[str]] = {}
        for r in data.get("results") or []:  # objects without any association come back as errors: none
            out[str(r["from"]["id"])] = [str(t["toObjectId"]) for t in r.get("to") or []]
        return out

    def contact_activity_ids(self, contact_id: str, kind: str) -> list[str]:
        """Ids of the notes (or tasks) on a contact's timeline."""
        _, data = self._call(
            "burst",
            f"the {kind} of contact {contact_id}",
            self.assoc_basic.get_page,
            "contacts",
            contact_id,
            kind,
            limit=500,
        )
        return [str(r["toObjectId"]) for r in data.get("results") or []]

    def update_contact(self, contact_id: str, properties: dict[str, str]) -> dict:
        _, data = self._call(
            "burst",
            f"an update of contact {contact_id}",
            self.apis["contacts"][0].update,
            contact_id,
            {"properties": properties},
        )
        return data

    def create_activity(self, kind: str, contact_id: str, properties: dict[str, str]) -> str:
        """A note (``notes``) or task (``tasks``) on the contact's timeline; its id."""
        type_id = NOTE_TO_CONTACT if kind == "notes" else TASK_TO_CONTACT
        body = {
            "properties": properties,
            "associations": [
                {
                    "to": {"id": str(contact_id)},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
                }
            ],
        }
        _, data = self._call("burst", f"a new {kind[:-1]} on contact {contact_id}", self.apis[kind][0].create, body)
        return str(data["id"])

    def contact_by_email(self, email: str) -> str | None:
        page = self.search(
            "contacts",
            filters=[{"propertyName": "email", "operator": "EQ", "value": email}],
            properties=["email"],
            sort="hs_object_id",
            limit=1,
        )
        return str(page.results[0]["id"]) if page.results else None

    # -- owners, campaigns, the token ---------------------------------------------------------
    def owners(self) -> Iterator[dict]:
        """Every owner, active then archived (people who left still own old records)."""
        for archived in (False, True):
            after = None
            while True:
                kwargs: dict[str, Any] = {"limit": 100, "archived": archived}
                if after:
                    kwargs["after"] = after
                _, data = self._call("burst", "the owners", self.owners_api.get_page, **kwargs)
                yield from data.get("results") or []
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    break

    def _request(
        self, bucket: str, what: str, method: str, path: str, *, qs: dict | None = None, body: Any = None
    ) -> tuple[int, Any]:
        """An endpoint the official client has no typed API for (campaigns, token info); its generic
        ``api_request`` has no timeout and no connection reuse, so these go through httpx."""

        def send(_preload_content=False, _request_timeout=None):
            resp = self.http.request(method, path, params=qs, json=body, timeout=_request_timeout[1])
            if not 200 <= resp.status_code < 300:
                err = _HttpError(f"HTTP {resp.status_code}")
                err.status, err.headers, err.body = resp.status_code, resp.headers, resp.content
                raise err
            return _Raw(resp.status_code, resp.headers, resp.content)

        return self._call(bucket, what, send)

    def campaigns(self, *, after: str | None = None, limit: int = 100) -> Page:
        qs = {"limit": limit, "properties": "hs_name,hs_owner,hs_campaign_type"}
        if after:
            qs["after"] = after
        _, data = self._request("burst", "the campaigns", "GET", "/marketing/v3/campaigns", qs=qs)
        return Page(
            data.get("results") or [], ((data.get("paging") or {}).get("next") or {}).get("after"), data.get("total")
        )

    def campaigns_by_id(self, ids: list[str]) -> list[dict]:
        _, data = self._request(
            "burst",
            "a batch read of campaigns",
            "POST",
            "/marketing/v3/campaigns/batch/read",
            qs={"properties": "hs_name,hs_owner,hs_campaign_type"},
            body={"inputs": [{"id": i} for i in ids]},
        )
        return data.get("results") or []

    def token_info(self) -> dict:
        """The token's hub and scopes (private apps' token-info endpoint)."""
        _, data = self._request(
            "burst",
            "the token's details",
            "POST",
            "/oauth/v2/private-apps/get/access-token-info",
            body={"tokenKey": self.token},
        )
        return data


@dataclass
class _Raw:
    status: int
    headers: Any
    data: bytes


class _HttpError(Exception):
    status: int
    headers: Any
    body: bytes


def _json(raw: bytes | str) -> dict:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _scopes(body: dict) -> list[str]:
    found: list[str] = []
    for err in body.get("errors") or []:
        ctx = err.get("context") or {}
        for key in ("requiredGranularScopes", "requiredScopes"):
            found.extend(ctx.get(key) or [])
    return sorted(set(found))


def _rate_limit_wait(headers, body: dict, bucket: str) -> float:
    """How long HubSpot asks us to wait: ``Retry-After`` when given, else the policy's window."""
    get = headers.get if hasattr(headers, "get") else (lambda k, d=None: d)
    retry_after = get("Retry-After")
    if retry_after and str(retry_after).replace(".", "", 1).isdigit():
        return float(retry_after)
    policy = str(body.get("policyName") or "").upper()
    if policy == "DAILY":
        return 3600.0
    if policy == "SECONDLY" or bucket == "search":
        return 1.0
    interval = get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval and str(interval).isdigit():
        return int(interval) / 1000
    return 10.0
