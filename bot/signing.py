"""The CRM webhook signature (both directions).

``X-Smarketing-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-Smarketing-Signature"
TOLERANCE = 300  # seconds either side


class SignatureError(Exception):
    pass


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time() if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None, tolerance: int = TOLERANCE) -> None:
    """Raise SignatureError (with a reason safe to return to the caller) unless valid and fresh."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError, IndexError):
        raise SignatureError("malformed signature header: expected t=<unix seconds>,v1=<hex>") from None
    now = time.time() if now is None else now
    if abs(now - t) > tolerance:
        raise SignatureError("signature timestamp is outside the 5-minute window")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise SignatureError("signature does not match")
