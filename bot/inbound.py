"""Reading request bodies safely, the same way on every endpoint.

- ``read_limited``: the body through a byte limit, before anything else reads it (the declared
  ``Content-Length`` is checked first, then the stream is counted, so a lying or chunked sender
  is cut off too);
- ``parse_json``: JSON with a bound on nesting, so a body nested thousands deep is a ``Malformed``
  (a 400) rather than a ``RecursionError`` somewhere later.

Callers verify the sender (a signature, a token) between the two whenever the platform signs.
No function here logs a body or a part of one.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

CHAT_MAX_BYTES = 1024 * 1024
"""Slack and Teams requests: a few KB in practice (a modal's state is the largest, well under
Slack's 250 kB view limit); anything near this is not from the platform."""
MAX_JSON_DEPTH = 64
"""Deepest JSON nesting accepted. Slack views and Teams cards nest about 10 deep."""


class TooLarge(Exception):
    pass


class Malformed(Exception):
    """A body that cannot be what it claims to be; ``str(e)`` is a short reason safe to return."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (TooLarge) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` (parsed JSON) nests containers more than ``limit`` deep (no recursion)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def check_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> Any:
    if too_deep(value, limit):
        raise Malformed(f"JSON nested deeper than {limit} levels")
    return value


def parse_json(raw: bytes | str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of ``raw``; ``Malformed`` for invalid UTF-8, invalid JSON or deep nesting."""
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise Malformed("body is not UTF-8 text") from None
    except RecursionError:
        raise Malformed(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:
        raise Malformed("body is not valid JSON") from None
    return check_depth(value, max_depth)
