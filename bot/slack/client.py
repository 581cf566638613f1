"""One shared Slack Web API client, with slack_sdk's retry handlers, and error classification."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.dispatch import PermanentError, TransientError

# Errors retrying cannot fix: the message is marked dead and counted.
PERMANENT = {
    "account_inactive", "cannot_dm_bot", "cant_update_message", "channel_not_found", "edit_window_closed",
    "invalid_arguments", "invalid_auth", "invalid_blocks", "invalid_blocks_format", "is_archived",
    "message_not_found", "missing_scope", "msg_blocks_too_long", "msg_too_long", "no_permission",
    "no_text", "not_authed", "not_in_channel", "restricted_action", "token_expired", "token_revoked",
    "too_many_attachments", "user_not_found", "users_not_found", "ekm_access_denied", "team_access_not_granted",
}


def make_client(token: str | None, base_url: str, *, timeout: int = 10, for_delivery: bool = False) -> WebClient:
    """A WebClient with slack_sdk's retry handlers.

    ``for_delivery``: the outbox's client leaves two kinds of retry to the dispatcher:
    - dropped connections: one that drops after Slack accepted a post would be re-posted blindly;
      the dispatcher retries and first looks in the channel for the message (by its metadata key);
    - rate limits: the handler would sleep out ``Retry-After`` inside the delivery thread, holding
      up every other channel; the dispatcher reschedules just that message instead.
    Server errors are retried once here, then by the dispatcher with backoff."""
    handlers: list = [ServerErrorRetryHandler(max_retry_count=1)]
    if not for_delivery:
        handlers = [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=1),
                    *handlers]
    return WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=timeout,
        retry_handlers=handlers,
    )


def classify(err: Exception) -> Exception:
    """Map a Slack failure onto the dispatcher's TransientError/PermanentError."""
    if isinstance(err, SlackApiError):
        resp = err.response
        code = resp.get("error") if isinstance(resp.data, dict) else None
        if resp.status_code == 429 or code == "ratelimited":
            retry_after = resp.headers.get("Retry-After") or resp.headers.get("retry-after")
            try:
                seconds = float(retry_after[0] if isinstance(retry_after, list) else retry_after)
            except (TypeError, ValueError):
                seconds = 1.0
            return TransientError("rate limited by Slack", retry_after=seconds)
        if code in PERMANENT:
            return PermanentError(f"Slack said {code}")
        return TransientError(f"Slack said {code or resp.status_code}")
    return TransientError(f"{type(err).__name__}: {err}")
