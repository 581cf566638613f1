"""Teams setup and delivery rules: the app package, where a destination goes, and how a failed
call to Teams is classified for the dispatcher."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib

import httpx
import pytest

from bot.cli import main
from bot.dispatch import PermanentError, TransientError
from bot.teams.deliver import TeamsDeliverer, classify
from bot.teams.package import color_icon, outline_icon
from tests.teams_helpers import teams_config

BOT_ID = "11111111-2222-3333-4444-555555555555"


# --- the app package ----------------------------------------------------------------------------


def read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGBA bytes) of an 8-bit RGBA PNG, checking every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 6)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * 4
    return width, height, [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]


def test_the_icons_are_a_192_colour_png_and_a_32_white_on_transparent_outline():
    w, h, rows = read_png(color_icon())
    assert (w, h) == (192, 192)
    assert all(row[3::4] == b"\xff" * w for row in rows)  # opaque
    w, h, rows = read_png(outline_icon())
    assert (w, h) == (32, 32)
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    assert all(p[:3] == b"\xff\xff\xff" for p in pixels)  # white only
    assert {p[3] for p in pixels} >= {0, 255}  # transparent around the drawing


def test_teams_package_writes_a_zip_with_the_manifest_and_icons(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEAMS_CLIENT_ID", BOT_ID)
    out = tmp_path / "smarketing-teams.zip"
    assert main(["teams-package", "--out", str(out), "--url", "https://bot.example.com"]) == 0
    assert "wrote" in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]
        man = json.loads(z.read("manifest.json"))
        assert read_png(z.read("color.png"))[:2] == (192, 192)
        assert read_png(z.read("outline.png"))[:2] == (32, 32)
    assert man["manifestVersion"] == "1.17" and man["$schema"].endswith("v1.17/MicrosoftTeams.schema.json")
    assert man["id"] == BOT_ID and man["icons"] == {"color": "color.png", "outline": "outline.png"}
    [bot] = man["bots"]
    assert bot["botId"] == BOT_ID and bot["scopes"] == ["personal", "team", "groupChat"]
    [commands] = bot["commandLists"]
    titles = [c["title"] for c in commands["commands"]]
    assert titles[0] == "help" and {"bounce", "leads", "schedule"} <= set(titles)
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands["commands"])
    assert len(titles) <= 10
    assert man["validDomains"] == ["bot.example.com"]
    assert len(man["name"]["short"]) <= 30 and len(man["description"]["short"]) <= 80


def test_teams_package_needs_the_bot_id(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TEAMS_CLIENT_ID", raising=False)
    assert main(["teams-package", "--out", str(tmp_path / "p.zip")]) == 2
    assert "TEAMS_CLIENT_ID" in capsys.readouterr().err
    monkeypatch.setenv("TEAMS_CLIENT_ID", "not-a-guid")
    assert main(["teams-package", "--out", str(tmp_path / "p.zip")]) == 2
    assert "GUID" in capsys.readouterr().err


# --- where a destination goes -------------------------------------------------------------------


@pytest.fixture
def deliverer(make_container, clock):
    c = make_container(config=teams_config())
    now = clock.now()
    with c.uow_factory() as uow:
        for team, (tid, cid, name) in {
            "North": ("19:n", "19:n-wins", "Wins"),
            "South": ("19:s", "19:s-wins", "Wins"),
            "North2": ("19:n", "19:n-sales", "Sales"),
        }.items():
            uow.teams.save_conversation(
                conversation_id=cid,
                kind="channel",
                service_url="https://smba.example/",
                at=now,
                team_id=tid,
                team_name=team.rstrip("2"),
                name=name,
            )
        uow.commit()
    d = TeamsDeliverer(api=None, config=c.config, uow_factory=c.uow_factory, clock=clock)
    yield d
    d.close()


def test_a_channel_is_found_by_conversation_id_name_or_team_and_name(deliverer):
    deliverer.config.channels["sales"].teams = "#sales"
    assert deliverer._address("channel:sales", {}).conversation_id == "19:n-sales"
    deliverer.config.channels["wins"].teams = "19:s-wins"
    assert deliverer._address("channel:wins", {}).conversation_id == "19:s-wins"
    deliverer.config.channels["wins"].teams = "north/wins"
    assert deliverer._address("channel:wins", {}).conversation_id == "19:n-wins"


def test_a_channel_name_in_two_teams_is_refused_with_the_way_out(deliverer):
    deliverer.config.channels["wins"].teams = "Wins"
    with pytest.raises(PermanentError, match=r"matches 2 Teams conversations .*Team/Channel"):
        deliverer._address("channel:wins", {})


def test_someone_never_seen_in_teams_cannot_get_a_direct_message(deliverer):
    with pytest.raises(PermanentError, match="cannot be reached in Teams"):
        deliverer._address("dm:1", {})


# --- failures -----------------------------------------------------------------------------------


def status_error(status: int, headers: dict | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "https://smba.example/v3/conversations/x/activities")
    return httpx.HTTPStatusError(
        "boom", request=request, response=httpx.Response(status, headers=headers, request=request)
    )


@pytest.mark.parametrize(
    "err, kind, retry_after",
    [
        (status_error(429, {"Retry-After": "7"}), TransientError, 7.0),
        (status_error(503), TransientError, None),
        (status_error(401), PermanentError, None),
        (status_error(403), PermanentError, None),
        (status_error(404), PermanentError, None),
        (status_error(400), PermanentError, None),
        (httpx.ConnectError("refused"), TransientError, None),
        (TimeoutError("slow"), TransientError, None),
    ],
    ids=["429", "503", "401", "403", "404", "400", "connection", "timeout"],
)
def test_failed_calls_are_retried_or_given_up_as_the_status_says(err, kind, retry_after):
    out = classify(err)
    assert isinstance(out, kind)
    if kind is TransientError:
        assert out.retry_after == retry_after
