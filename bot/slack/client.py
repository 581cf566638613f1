"""One shared Slack Web API client, with slack_sdk's retry handlers, and error classification."""

from __future__ import annotations

import http.client
import io
import select
import threading
import time
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.dispatch import PermanentError, TransientError

# Errors retrying cannot fix: the message is marked dead and counted.
PERMANENT = {
    "account_inactive",
    "cannot_dm_bot",
    "cant_update_message",
    "channel_not_found",
    "edit_window_closed",
    "invalid_arguments",
    "invalid_auth",
    "invalid_blocks",
    "invalid_blocks_format",
    "is_archived",
    "message_not_found",
    "missing_scope",
    "msg_blocks_too_long",
    "msg_too_long",
    "no_permission",
    "no_text",
    "not_authed",
    "not_in_channel",
    "restricted_action",
    "token_expired",
    "token_revoked",
    "too_many_attachments",
    "user_not_found",
    "users_not_found",
    "ekm_access_denied",
    "team_access_not_granted",
}


_SHORT = FixedValueRetryIntervalCalculator(0.2)


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Waits out a 429 only when Slack asks for at most ``longest`` seconds."""

    def __init__(self, max_retry_count: int = 1, longest: float = 2.0):
        super().__init__(max_retry_count=max_retry_count)
        self.longest = longest

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is None or response.status_code != 429:
            return False
        value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        try:
            return float(value[0] if isinstance(value, list) else value) <= self.longest
        except (TypeError, ValueError):
            return False


# Answers that say Slack may have done part of the work before failing (its docs for
# ``fatal_error``: "it's possible some aspect of the operation succeeded").
MAYBE_DONE = {"fatal_error", "internal_error", "request_timeout", "service_unavailable"}


class KeepAliveWebClient(WebClient):
    """slack_sdk's ``WebClient`` over kept-alive connections, one per thread.

    slack_sdk sends each call with ``urllib.request.urlopen``, which opens a connection (a TCP and
    a TLS handshake to slack.com) and closes it after the answer: a post per second per channel
    was a handshake per post. Here each thread keeps its connection for the next call, as long as
    Slack keeps it open and it was used in the last ``IDLE`` seconds (a connection the server
    closed meanwhile is seen before it is used, and a new one opened).

    Only the transport changes: slack_sdk builds the request and reads the answer as before, and
    failures look as they did with urllib (an error while sending is a ``URLError``, an answer
    that is not 2xx an ``HTTPError``), so its retry handlers and ``classify`` see the same errors.
    With a proxy configured, slack_sdk's own urllib path is used."""

    IDLE = 20.0  # seconds: below the idle timeout of common load balancers (60 s)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        conn = self._connection(parts.scheme, parts.netloc)
        headers = {k: v for k, v in req.header_items() if k.lower() != "connection"}
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            try:
                conn.request("POST", path, body=req.data, headers=headers)
            except OSError as err:  # as urllib: a failure to connect or send is a URLError
                raise URLError(err) from err
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            self._drop()
            raise
        if resp.will_close:
            self._drop()
        else:
            self._local.used = time.monotonic()
        if not 200 <= resp.status < 300:
            raise HTTPError(url, resp.status, resp.reason, resp.headers, io.BytesIO(body))
        if resp.headers.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.headers, "body": body}
        charset = resp.headers.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": resp.headers, "body": body.decode(charset)}

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and (
            local.where != (scheme, netloc) or time.monotonic() - local.used > self.IDLE or _closed(conn)
        ):
            self._drop()
            conn = None
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self.ssl)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            local.conn, local.where, local.used = conn, (scheme, netloc), time.monotonic()
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()


def _closed(conn: http.client.HTTPConnection) -> bool:
    """Whether the server closed an idle connection (it is readable: an EOF, or data nobody
    asked for): checked before it is used again, as urllib3 does."""
    sock = conn.sock
    if sock is None:
        return False  # not connected yet: connects on the next request
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def make_client(token: str | None, base_url: str, *, timeout: int = 10, retries: str = "all") -> WebClient:
    """A WebClient with slack_sdk's retry handlers, over kept-alive connections
    (``KeepAliveWebClient``).

    ``retries``:
    - ``"all"`` (request path): dropped connections, rate limits (once) and server errors;
    - ``"idempotent"`` (the outbox's look-ups, searches, reactions, updates: calls that can be
      repeated without harm): dropped connections and server errors, twice, soon; a rate limit
      of a second or two is waited out, a longer one left to the dispatcher, which reschedules
      just that message instead of sleeping in a delivery thread;
    - ``"none"`` (the outbox's posts): a post whose connection dropped after Slack accepted it
      must not be sent blindly again; the dispatcher retries it after searching the channel."""
    handlers: list = {
        "all": lambda: [
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
        "idempotent": lambda: [
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=_SHORT),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=_SHORT),
            ShortRateLimitRetryHandler(max_retry_count=1),
        ],
        "none": lambda: [],
    }[retries]()
    return KeepAliveWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=timeout,
        retry_handlers=handlers,
    )


def classify(err: Exception, *, before: bool = False) -> Exception:
    """Map a Slack failure onto the dispatcher's TransientError/PermanentError.

    ``reached`` on a TransientError says whether the call may have had its effect: not after a
    429 or an error answer, nor when the connection was refused; maybe after a 5xx or a
    connection dropped mid-call. ``before``: the failure came before the post (a look-up, a
    search), so whatever it was, the message was not posted by this attempt."""
    if isinstance(err, (TransientError, PermanentError)):
        return err
    if isinstance(err, SlackApiError):
        resp = err.response
        code = resp.get("error") if isinstance(resp.data, dict) else None
        if resp.status_code == 429 or code == "ratelimited":
            retry_after = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            try:
                seconds = float(retry_after[0] if isinstance(retry_after, list) else retry_after)
            except (TypeError, ValueError):
                seconds = 1.0
            return TransientError("rate limited by Slack", retry_after=seconds, reached=False)
        if code in PERMANENT:
            return PermanentError(f"Slack said {code}")
        maybe = not before and (resp.status_code >= 500 or not code or code in MAYBE_DONE)
        return TransientError(f"Slack said {code or resp.status_code}", reached=maybe)
    refused = isinstance(err, ConnectionRefusedError) or isinstance(
        getattr(err, "reason", None), ConnectionRefusedError
    )
    return TransientError(f"{type(err).__name__}: {err}", reached=not (before or refused))
