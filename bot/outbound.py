"""Outbound webhooks (``lead.bounced``, ``lead.requalified``) to the CRM, signed like inbound."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

import httpx

from bot.dispatch import Delivered, PermanentError, TransientError, no_begin
from bot.signing import HEADER, sign
from storage.models import Person


class WebhookDeliverer:
    platform = "webhook"

    def __init__(self, url: str, secret: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        self.url = url
        self.secret = secret
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def post(
        self,
        destination: str,
        message,
        *,
        key: str,
        since: datetime | None,
        people: dict[int, Person],
        begin: Callable[[], None] = no_begin,
    ) -> Delivered:
        """The CRM dedupes on ``Idempotency-Key``: a retry after a lost answer is safe to send."""
        payload = dict(message) if isinstance(message, dict) else message.to_json()
        payload.setdefault("id", key)
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(self.secret, body), "Idempotency-Key": key}
        begin()
        try:
            resp = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise TransientError(f"{type(e).__name__}: {e}", reached=not isinstance(e, httpx.ConnectError)) from e
        if resp.status_code == 429 or resp.status_code >= 500 or resp.status_code == 408:
            retry_after = resp.headers.get("Retry-After")
            raise TransientError(
                f"HTTP {resp.status_code}",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
                reached=resp.status_code != 429,
            )
        if resp.status_code >= 400:
            raise PermanentError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return Delivered(self.url, str(resp.status_code))

    def update(self, *a, **k) -> Delivered:  # pragma: no cover - webhooks are never updated
        raise PermanentError("webhooks cannot be updated")
