"""HubSpot's webhooks: the v3 signature, and the changes a request's notifications name.

``X-HubSpot-Signature-v3`` is the base64 HMAC-SHA256, keyed with the app's client secret, of
method + URI + raw body + ``X-HubSpot-Request-Timestamp`` (milliseconds); requests older than
5 minutes are refused (and, here, from more than 5 minutes in the future too). The signature is
checked on the raw bytes before anything parses them.
"""

from __future__ import annotations

import hmac
import time
from datetime import datetime, timezone
from typing import Any

from hubspot.utils.signature import Signature

SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"
TOLERANCE_MS = 5 * 60 * 1000
# HubSpot decodes these in the URI before signing (its request-validation guide).
_DECODE = (
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
)
# objectTypeId of the generic ``object.*`` subscriptions
TYPE_IDS = {"0-1": "contact", "0-3": "deal"}
KINDS = {"contact", "deal"}


class SignatureError(Exception):
    pass


def decode_uri(uri: str) -> str:
    for enc, ch in _DECODE:
        uri = uri.replace(enc, ch).replace(enc.lower(), ch)
    return uri


def verify(
    client_secret: str,
    *,
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now_ms: float | None = None,
) -> None:
    """Raise ``SignatureError`` (its text safe to return) unless the request is HubSpot's and fresh."""
    if not signature or not timestamp:
        raise SignatureError(f"missing {SIGNATURE} or {TIMESTAMP} header")
    if not timestamp.isdigit():
        raise SignatureError(f"malformed {TIMESTAMP} header: expected milliseconds since the epoch")
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    if abs(now_ms - int(timestamp)) > TOLERANCE_MS:
        raise SignatureError("request timestamp is outside the 5-minute window")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("signature does not match") from None
    expected = Signature.get_signature(
        client_secret, text, "v3", http_uri=decode_uri(uri), http_method=method, timestamp=timestamp
    )
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("signature does not match")


def problems_in(raw: Any) -> list[str]:
    """What is wrong with a parsed body (a JSON array of notification objects), if anything."""
    if not isinstance(raw, list):
        return ["body must be a JSON array of notifications"]
    out = []
    for i, n in enumerate(raw):
        if not isinstance(n, dict):
            out.append(f"[{i}]: must be an object")
            continue
        if not isinstance(n.get("subscriptionType"), str):
            out.append(f"[{i}].subscriptionType: missing")
        oid = _object_id(n)
        if not isinstance(oid, (int, str)) or not str(oid).isdigit():
            out.append(f"[{i}].objectId: must be a number")
        if not isinstance(n.get("occurredAt"), int):
            out.append(f"[{i}].occurredAt: must be milliseconds since the epoch")
    return out


def _object_id(n: dict):
    """The object a notification is about: a merge's surviving record, an association change's
    ``from`` object, else ``objectId``."""
    for key in ("primaryObjectId", "fromObjectId", "objectId"):
        if n.get(key) is not None:
            return n[key]
    return None


def changes_from(notifications: list[dict]) -> tuple[list[tuple[str, str, datetime]], int]:
    """(kind, object id, when) for each notification about a contact or deal that still exists,
    and how many were ignored (deletions, other objects, privacy deletions)."""
    changes, ignored = [], 0
    for n in notifications:
        sub = n["subscriptionType"]
        kind, _, what = sub.partition(".")
        if kind == "object":
            kind = TYPE_IDS.get(str(n.get("objectTypeId")), "")
        if kind not in KINDS or what in ("deletion", "privacyDeletion"):
            ignored += 1
            continue
        oid = _object_id(n)
        at = datetime.fromtimestamp(n["occurredAt"] / 1000, timezone.utc)
        changes.append((kind, str(oid), at))
    return changes, ignored
