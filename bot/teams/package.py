"""The Teams app package: ``manifest.json`` (schema 1.17) and the two icons, zipped for upload
(Teams admin center, or *Apps > Manage your apps > Upload an app* in Teams).

The icons are drawn here with the standard library (zlib + struct PNG encoding): two overlapping
rings, sales and marketing in step. Teams wants a 192x192 full-colour icon and a 32x32 outline
icon that is white on a transparent background.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
import zlib
from importlib import metadata

MANIFEST_VERSION = "1.17"
SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = (0x4F, 0x46, 0xE5)  # indigo
SCOPES = ["personal", "team", "groupChat"]
MAX_COMMANDS = 10  # per command list
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


# --- icons ------------------------------------------------------------------------------------


def png(width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    """An RGBA PNG (8 bits per channel, no interlace) from rows of (r, g, b, a) pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _rings(size: int, *, ring: float, offset: float, radius: float) -> list[list[float]]:
    """Coverage (0..1) of two overlapping rings, antialiased by 4x4 supersampling."""
    centres = [(size / 2 - offset, size / 2), (size / 2 + offset, size / 2)]
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            hits = 0
            for sy in range(4):
                for sx in range(4):
                    px, py = x + (sx + 0.5) / 4, y + (sy + 0.5) / 4
                    if any(abs(math.hypot(px - cx, py - cy) - radius) <= ring / 2 for cx, cy in centres):
                        hits += 1
            row.append(hits / 16)
        rows.append(row)
    return rows


def color_icon(size: int = 192) -> bytes:
    """The full-colour icon: white rings on the accent colour."""
    cover = _rings(size, ring=size * 0.07, offset=size * 0.13, radius=size * 0.24)
    pixels = [[tuple(round(c + (255 - c) * a) for c in ACCENT) + (255,) for a in row] for row in cover]
    return png(size, size, pixels)  # type: ignore[arg-type]


def outline_icon(size: int = 32) -> bytes:
    """The outline icon: white rings on transparent, as Teams requires."""
    cover = _rings(size, ring=size * 0.09, offset=size * 0.15, radius=size * 0.27)
    return png(size, size, [[(255, 255, 255, round(255 * a)) for a in row] for row in cover])


# --- manifest ---------------------------------------------------------------------------------


def command_list(registry) -> list[dict]:
    """The bot's commands for Teams' command menu: the slash command's words, with their help."""
    helps: dict[str, str] = {}
    for usage, what in registry.help_lines():
        word = usage.split()[0] if usage.split() else ""
        if word and word not in helps:
            helps[word] = f"{usage} — {what}"
    words = [w for w in helps if w in registry.commands] + [w for w in sorted(registry.commands) if w not in helps]
    if "help" in words:  # first in the menu
        words.remove("help")
        words.insert(0, "help")
    return [{"title": w[:32], "description": _cut(helps.get(w) or w, 128)} for w in words[:MAX_COMMANDS]]


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—") + "…"


def _version() -> str:
    try:
        v = metadata.version("smarketing-bot")
    except metadata.PackageNotFoundError:
        return "1.0.0"
    parts = (re.findall(r"\d+", v) + ["0", "0", "0"])[:3]
    return ".".join(str(int(p)) for p in parts)


def manifest(
    *,
    bot_id: str,
    registry,
    name: str = "Smarketing Bot",
    company: str = "Smarketing",
    url: str | None = None,
    app_id: str | None = None,
) -> dict:
    """The app manifest. ``bot_id`` is the Azure bot's app (client) id; ``url`` the public base URL
    of the server (its host goes into ``validDomains``; the developer links point there)."""
    if not _GUID_RE.match(bot_id):
        raise ValueError(f"TEAMS_CLIENT_ID must be the bot's Microsoft app id (a GUID), got {bot_id!r}")
    base = (url or "https://example.com").rstrip("/")
    host = re.sub(r"^https?://", "", base).split("/")[0]
    commands = command_list(registry)
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": _version(),
        "id": app_id or bot_id,
        "developer": {
            "name": company[:32],
            "websiteUrl": base,
            "privacyUrl": f"{base}/privacy",
            "termsOfUseUrl": f"{base}/terms",
        },
        "name": {"short": name[:30], "full": f"{name} — sales and marketing in step"[:100]},
        "description": {
            "short": "Wins, cooling leads, bounce-backs and the week ahead, for sales and marketing."[:80],
            "full": (
                "Smarketing Bot keeps sales and marketing in step: it celebrates won deals with the campaigns "
                "that sourced them, nudges reps before a handed-over lead goes cold (log a follow-up, snooze, "
                "or bounce it back to marketing with a reason), and posts both teams' week every Monday with "
                "conflicts flagged. Send it 'help' to see its commands."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": bot_id,
                "scopes": SCOPES,
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [{"scopes": SCOPES, "commands": commands}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host] if url else [],
    }


def build_package(man: dict) -> bytes:
    """The zip Teams takes: manifest.json and the two icons at its root."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(man, indent=2, ensure_ascii=False))
        z.writestr("color.png", color_icon())
        z.writestr("outline.png", outline_icon())
    return out.getvalue()
