"""One emoji table: what Slack shows for ``:name:`` the Teams cards and the local workspace show too."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.local.render import display, markup
from bot.teams.cards import plain_text, render_message
from handlers.emoji import EMOJI
from handlers.messages import Context, Header, Message, Section

ROOT = Path(__file__).resolve().parents[1]


def resolve(person_id: int):
    raise LookupError(person_id)


def test_every_emoji_name_the_flows_write_is_in_the_shared_table():
    used: dict[str, str] = {}
    for path in sorted((ROOT / "handlers").glob("*.py")):
        for name in re.findall(r"(?<![\w{}]):([a-z][a-z0-9_+-]*):(?=[\s\"'])", path.read_text()):
            used[name] = path.name
    assert used, "the scan found no emoji names at all"
    missing = {name: where for name, where in used.items() if name not in EMOJI}
    assert not missing, f"emoji names without a character for Teams and the local workspace: {missing}"


def test_teams_cards_show_the_emoji_not_its_name():
    msg = Message(
        text=":warning: 2 conflicts",
        blocks=[
            Header(text=":calendar: This week"),
            Section(text=":warning: *Webinar* clashes with :small_blue_diamond: the offsite"),
            Context(text=":repeat: sent back"),
        ],
    )
    card = json.dumps(render_message(msg, resolve), ensure_ascii=False)
    for name in ("warning", "calendar", "small_blue_diamond", "repeat"):
        assert f":{name}:" not in card
        assert EMOJI[name] in card
    assert plain_text(":warning: late", resolve) == "⚠️ late"


def test_the_local_workspace_shows_the_same_characters_as_teams():
    names = {}
    html = markup(":warning: *Webinar* :small_blue_diamond: :tv:", names)
    assert html == "⚠️ <strong>Webinar</strong> 🔹 📺"
    assert display(":dart: Target", names) == "🎯 Target"


def test_an_unknown_name_and_plain_colons_are_left_as_written():
    assert markup("at 10:30: see :not_an_emoji:", {}) == "at 10:30: see :not_an_emoji:"
    assert plain_text("ratio 3:1 :not_an_emoji:", resolve) == "ratio 3:1 :not_an_emoji:"
