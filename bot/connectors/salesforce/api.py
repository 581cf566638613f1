"""Salesforce's REST and Bulk API 2.0 through ``simple-salesforce``, signed in with OAuth 2.0.

**Signing in.** A connected app's consumer key and either
- the *JWT bearer* flow: a JWT (``iss`` = consumer key, ``sub`` = the integration user's username,
  ``aud`` = the login server, ``exp`` = 3 minutes) signed with the app's private key (RS256),
  exchanged at ``<login URL>/services/oauth2/token`` with the grant
  ``urn:ietf:params:oauth:grant-type:jwt-bearer``; or
- the *client credentials* flow: consumer key and secret (HTTP Basic) at the org's My Domain
  token endpoint, acting as the app's "Run As" user.
The token request is made here (simple-salesforce's own login builds its token URL from
``<domain>.salesforce.com``, so it could neither reach a sandbox's My Domain by its full URL nor
a local stand-in); every other call goes through simple-salesforce with the token and the
``instance_url`` Salesforce returned. A token that expired (``401 INVALID_SESSION_ID``) is
replaced once and the call repeated.

**Limits.** Salesforce counts API requests over a rolling 24 hours per org. Every answer carries
``Sforce-Limit-Info: api-usage=used/max``; it is kept in ``usage`` (and ``/metrics``), and the
poller and the import stop reading once ``used`` reaches ``api_share`` of ``max`` (the org's
other integrations need their share). Past the limit Salesforce answers ``403
REQUEST_LIMIT_EXCEEDED``: ``LimitExceeded`` is raised for the caller to come back later; a
cursor only moves after a page's events are stored, so no change is lost.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import jwt
import requests

log = logging.getLogger(__name__)

QUERY_BATCH = 2000  # records per REST query page (Salesforce's largest batchSize)
BULK_PAGE = 10_000  # records per Bulk API 2.0 results page
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class SalesforceError(Exception):
    """A Salesforce call failed; the text is safe to show an admin (never a token or a key)."""

    code: str | None = None


class AuthError(SalesforceError):
    """The token endpoint refused us (wrong key, user not pre-authorised, ...)."""


class LimitExceeded(SalesforceError):
    """``REQUEST_LIMIT_EXCEEDED`` (or our share of the daily limit is used): come back later."""

    def __init__(self, text: str, retry_after: float):
        super().__init__(text)
        self.retry_after = retry_after


class InvalidField(SalesforceError):
    """``INVALID_FIELD`` / ``INVALID_TYPE``: a field or object this org (or user) does not have."""


class NotFound(SalesforceError):
    """404: no such record (deleted, merged), or a Bulk job that is gone."""


class Forbidden(SalesforceError):
    """403 other than the request limit: the user lacks a permission."""


class Rejected(SalesforceError):
    """400: Salesforce refused the request (a picklist value that does not exist, a validation rule)."""


class Unavailable(SalesforceError):
    """Salesforce did not answer, or answered 5xx: try again later."""


def _error(cls, text: str, code: str | None = None, **kw) -> SalesforceError:
    e = cls(text, **kw)
    e.code = code
    return e


def audience(login_url: str) -> str:
    """The JWT's ``aud``: Salesforce's login server for production or sandboxes (also when the
    token is requested at a My Domain URL)."""
    host = (urlsplit(login_url).hostname or "").lower()
    sandbox = host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com")
    return "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"


class SalesforceAuth:
    """Gets access tokens for a connected app (JWT bearer, or client credentials)."""

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        username: str | None = None,
        private_key: str | None = None,
        client_secret: str | None = None,
    ):
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self.username = username
        self.private_key = private_key
        self.client_secret = client_secret
        if username and private_key:
            self.flow = "jwt"
        elif client_secret:
            self.flow = "client_credentials"
        else:
            raise ValueError(
                "set SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY (or SALESFORCE_PRIVATE_KEY_FILE) "
                "for the JWT bearer flow, or SALESFORCE_CLIENT_SECRET for the client credentials flow"
            )

    def describe(self) -> str:
        if self.flow == "jwt":
            return f"JWT bearer as {self.username}"
        return "client credentials"

    def token(self, session: requests.Session, timeout: float) -> tuple[str, str]:
        """(access token, instance URL)."""
        url = f"{self.login_url}/services/oauth2/token"
        headers = {"Accept": "application/json"}
        if self.flow == "jwt":
            claims = {
                "iss": self.client_id,
                "sub": self.username,
                "aud": audience(self.login_url),
                "exp": int(time.time()) + 180,
            }
            try:
                assertion = jwt.encode(claims, self.private_key, algorithm="RS256")
            except (ValueError, TypeError, jwt.PyJWTError) as e:
                raise _error(
                    AuthError,
                    f"the private key cannot sign the JWT ({type(e).__name__}: {e}); give the "
                    "PEM private key whose certificate is on the connected app",
                ) from None
            form = {"grant_type": JWT_GRANT, "assertion": assertion}
        else:
            form = {"grant_type": "client_credentials"}
        try:
            resp = session.post(
                url,
                data=form,
                headers=headers,
                timeout=timeout,
                auth=(self.client_id, self.client_secret) if self.flow != "jwt" else None,
            )
        except requests.RequestException as e:
            raise _error(
                Unavailable, f"Salesforce's login server {self.login_url} did not answer ({type(e).__name__})"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code >= 500:
            raise _error(Unavailable, f"Salesforce's login server answered HTTP {resp.status_code}")
        if resp.status_code != 200 or not body.get("access_token") or not body.get("instance_url"):
            code = str(body.get("error") or resp.status_code)
            text = str(body.get("error_description") or "no token in the answer")[:300]
            raise _error(
                AuthError,
                f"Salesforce refused the {self.describe()} sign-in ({code}: {text})"
                + _auth_hint(code, text, self.flow),
                code=code,
            )
        return str(body["access_token"]), str(body["instance_url"])


def _auth_hint(code: str, text: str, flow: str) -> str:
    text = text.lower()
    if "approved" in text:
        return (
            "; pre-authorise the integration user: the connected app's policies → Permitted Users: Admin "
            "approved users are pre-authorized, and give the user a profile or permission set listed there"
        )
    if "audience" in text or "invalid assertion" in text:
        return "; check that the certificate on the connected app matches SALESFORCE_PRIVATE_KEY"
    if code == "invalid_client_id" or "client identifier" in text:
        return "; SALESFORCE_CLIENT_ID must be the connected app's consumer key"
    if flow == "client_credentials" and ("domain" in text or code == "unsupported_grant_type"):
        return "; the client credentials flow needs SALESFORCE_LOGIN_URL=https://<your My Domain>.my.salesforce.com"
    return ""


@dataclass
class QueryPage:
    records: list[dict]  # flattened: relationship fields as "Owner.Email"
    next_url: str | None
    total: int | None


class _Session(requests.Session):
    """A requests session with a default timeout (simple-salesforce sets none)."""

    def __init__(self, timeout: tuple[float, float]):
        super().__init__()
        self.default_timeout = timeout

    def request(self, *args, **kwargs):  # noqa: D401 - requests' signature
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(*args, **kwargs)


_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceApi:
    def __init__(
        self,
        auth: SalesforceAuth,
        *,
        version: str = "64.0",
        timeout: tuple[float, float] = (5, 60),
        api_share: float = 0.8,
        limit_wait: float = 1800.0,
        sleep: Callable[[float], None] = time.sleep,
        metrics=None,
    ):
        self.auth = auth
        self.version = version.removeprefix("v")
        self.timeout = timeout
        self.api_share = api_share
        self.limit_wait = limit_wait
        self.sleep = sleep
        self.metrics = metrics
        self.session = _Session(timeout)
        self.session.hooks["response"].append(self._seen)
        self.requests = 0
        self.limited = 0
        self.usage: tuple[int, int] | None = None  # (used, max) from Sforce-Limit-Info
        self.instance_url: str | None = None
        self._usage_asked = float("-inf")
        self._sf = None
        self._lock = threading.Lock()

    # -- the one way out ---------------------------------------------------------------------
    def _seen(self, resp, *args, **kwargs):
        """Every HTTP answer (simple-salesforce's, Bulk's, the token's): count it, keep the usage."""
        self.requests += 1
        m = _USAGE.search(resp.headers.get("Sforce-Limit-Info") or "")
        if m:
            self.usage = (int(m.group(1)), int(m.group(2)))
            if self.metrics is not None:
                self.metrics.connector_api_usage.labels("salesforce", "used").set(self.usage[0])
                self.metrics.connector_api_usage.labels("salesforce", "max").set(self.usage[1])
        if self.metrics is not None:
            status = resp.status_code
            outcome = (
                "ok"
                if status < 300
                else (
                    "rate_limited"
                    if status == 403 and b"REQUEST_LIMIT_EXCEEDED" in (resp.content or b"")
                    else "error"
                    if status >= 500
                    else str(status)
                )
            )
            self.metrics.connector_requests.labels("salesforce", outcome).inc()
        return resp

    def client(self, *, refresh: bool = False):
        """The simple-salesforce client, signed in (again, with ``refresh``)."""
        from simple_salesforce import Salesforce

        with self._lock:
            if self._sf is None or refresh:
                token, instance = self.auth.token(self.session, self.timeout[1])
                self.instance_url = instance.rstrip("/")
                self._sf = Salesforce(
                    session_id=token, instance_url=self.instance_url, version=self.version, session=self.session
                )
            return self._sf

    def call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """``fn(client)`` with Salesforce's answers turned into this module's errors."""
        from simple_salesforce.exceptions import SalesforceError as SfError

        refreshed = False
        errors = 0
        while True:
            sf = self.client()
            try:
                return fn(sf)
            except SfError as e:
                status, errs = e.status, _errors(e.content)
                code = errs[0].get("errorCode") if errs else None
                message = str(errs[0].get("message") or "") if errs else str(e.content)[:300]
                if status == 401 and not refreshed:  # INVALID_SESSION_ID: the token expired
                    refreshed = True
                    self.client(refresh=True)
                    continue
                if status == 401:
                    raise _error(
                        AuthError, f"Salesforce refused the session on {what} ({code}): {message}", code=code
                    ) from None
                if code == "REQUEST_LIMIT_EXCEEDED":
                    self.limited += 1
                    raise _error(
                        LimitExceeded,
                        f"Salesforce's API request limit is exceeded ({message.strip()}) on {what}",
                        code=code,
                        retry_after=self.limit_wait,
                    ) from None
                if status >= 500 or status == 0:
                    errors += 1
                    if errors > 2:
                        raise _error(Unavailable, f"Salesforce answered HTTP {status} to {what}", code=code) from None
                    self.sleep(0.5 * 2 ** (errors - 1))
                    continue
                if code in ("INVALID_FIELD", "INVALID_TYPE"):
                    raise _error(InvalidField, f"{what}: {_one_line(message)}", code=code) from None
                if status == 404:
                    raise _error(NotFound, f"not found in Salesforce: {what}", code=code) from None
                if status == 403:
                    raise _error(
                        Forbidden, f"Salesforce forbids {what} ({code}): {_one_line(message)}", code=code
                    ) from None
                raise _error(
                    Rejected, f"Salesforce rejected {what} ({code}): {_one_line(message)}", code=code
                ) from None
            except requests.RequestException as e:
                errors += 1
                if errors > 2:
                    raise _error(Unavailable, f"Salesforce did not answer {what} ({type(e).__name__})") from None
                self.sleep(0.5 * 2 ** (errors - 1))

    def over_share(self) -> bool:
        return bool(self.usage and self.usage[1] and self.usage[0] >= self.api_share * self.usage[1])

    def check_budget(self, what: str) -> None:
        """Refuse to start more reading once our share of the daily API requests is used. The
        usage last seen is asked again (``/limits``) at most once a minute: the 24-hour window
        moves on, and other integrations' requests count too."""
        if self.over_share() and time.monotonic() - self._usage_asked > 60:
            self._usage_asked = time.monotonic()
            try:
                daily = self.limits().get("DailyApiRequests") or {}
                if daily.get("Max"):
                    self.usage = (int(daily["Max"]) - int(daily.get("Remaining", 0)), int(daily["Max"]))
            except SalesforceError as e:
                log.info("Salesforce limits could not be read: %s", e)
        if self.over_share():
            raise _error(
                LimitExceeded,
                f"Salesforce API usage is at {self.usage[0]:,} of the org's {self.usage[1]:,} "
                f"daily requests (salesforce.api_share: {self.api_share:g}); {what} waits",
                code="API_SHARE",
                retry_after=self.limit_wait,
            )

    # -- reading -----------------------------------------------------------------------------
    def query(self, soql: str, what: str) -> QueryPage:
        data = self.call(what, lambda sf: sf.query(soql, headers={"Sforce-Query-Options": f"batchSize={QUERY_BATCH}"}))
        return _page(data)

    def query_more(self, next_url: str, what: str) -> QueryPage:
        data = self.call(what, lambda sf: sf.query_more(next_url, identifier_is_url=True))
        return _page(data)

    def query_all(self, soql: str, what: str) -> Iterator[QueryPage]:
        """Pages of a query (``query`` then ``queryMore`` by ``nextRecordsUrl``)."""
        page = self.query(soql, what)
        yield page
        while page.next_url:
            page = self.query_more(page.next_url, what)
            yield page

    def describe(self, sobject: str) -> dict:
        return self.call(f"the description of {sobject}", lambda sf: getattr(sf, sobject).describe())

    def limits(self) -> dict:
        return self.call("the org's limits", lambda sf: sf.limits())

    # -- Bulk API 2.0 query --------------------------------------------------------------------
    def bulk_start(self, sobject: str, soql: str) -> str:
        """Create a Bulk API 2.0 query job; its id."""
        from simple_salesforce.bulk2 import Operation

        job = self.call(
            f"a bulk query of {sobject}",
            lambda sf: getattr(sf.bulk2, sobject)._client.create_job(Operation.query, soql),
        )
        return str(job["id"])

    def bulk_wait(self, sobject: str, job_id: str, *, timeout: float = 3600.0) -> dict:
        """Wait (polling with backoff) until the job is complete; its info."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            info = self.call(
                f"the bulk query of {sobject}", lambda sf: getattr(sf.bulk2, sobject)._client.get_job(job_id, True)
            )
            state = info.get("state")
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                raise _error(
                    Rejected,
                    f"the bulk query of {sobject} {state.lower()}: {info.get('errorMessage') or 'no reason given'}",
                    code=state,
                )
            if time.monotonic() > deadline:
                raise _error(Unavailable, f"the bulk query of {sobject} was not done after {timeout:.0f} s")
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def bulk_page(self, sobject: str, job_id: str, locator: str | None) -> tuple[list[dict], str | None]:
        """One page of a complete job's results (CSV), and the locator of the next (None: the last)."""
        result = self.call(
            f"the bulk results of {sobject}",
            lambda sf: getattr(sf.bulk2, sobject)._client.get_query_results(job_id, locator or "", BULK_PAGE),
        )
        rows = [
            {k: (v if v != "" else None) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(result["records"]))
        ]
        return rows, (result.get("locator") or None)

    # -- writing -------------------------------------------------------------------------------
    def update(self, sobject: str, record_id: str, fields: dict) -> None:
        self.call(f"an update of {sobject} {record_id}", lambda sf: getattr(sf, sobject).update(record_id, fields))

    def create(self, sobject: str, fields: dict) -> str:
        data = self.call(f"a new {sobject}", lambda sf: getattr(sf, sobject).create(fields))
        return str(data["id"])


def soql_quote(value: str) -> str:
    """A SOQL string literal (quotes and backslashes escaped)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def soql_time(t: datetime) -> str:
    """A SOQL datetime literal (UTC, no quotes)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value) -> datetime | None:
    """Salesforce's datetimes: ``2026-11-23T14:00:00.000+0000`` (REST) or ``...000Z`` (Bulk)."""
    if value in (None, ""):
        return None
    s = str(value)
    if re.fullmatch(r"\d{4}-\d\d-\d\d", s):
        return None  # a date, not a datetime: see parse_date
    s = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", s.replace("Z", "+00:00"))
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _page(data: dict) -> QueryPage:
    return QueryPage(
        [flatten(r) for r in data.get("records") or []],
        data.get("nextRecordsUrl") if not data.get("done", True) else None,
        data.get("totalSize"),
    )


def flatten(record: dict, prefix: str = "") -> dict:
    """A REST record as Bulk's CSV gives it: ``{"Owner": {"Email": x}}`` -> ``{"Owner.Email": x}``."""
    out: dict = {}
    for k, v in record.items():
        if k == "attributes":
            continue
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _errors(content) -> list[dict]:
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


def _one_line(message: str) -> str:
    return " ".join(str(message).split())[:300]
