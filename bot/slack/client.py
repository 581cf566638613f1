"""One shared Slack Web API client, with slack_sdk's retry handlers, and error classification."""

from __future__ import annotations

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


def make_client(token: str | None, base_url: str, *, timeout: int = 10, retries: str = "all") -> WebClient:
    """A WebClient with slack_sdk's retry handlers.

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
    return WebClient(
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
