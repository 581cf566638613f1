"""The token layer: the neutral text parsed once (``handlers/text.py``), and the one truncation rule."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handlers.emoji import EMOJI
from handlers.messages import MENTION_CLOSE, MENTION_OPEN, mention, moment
from handlers.text import (
    Bold,
    Code,
    Emoji,
    Italic,
    Link,
    Moment,
    Person,
    Strike,
    Text,
    source,
    tokens,
    truncate,
    truncate_text,
)

AT = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def test_bold_italic_strike_and_code_are_tokens():
    assert tokens("*Big* win, _really_ ~not~ `code_here`") == (
        Bold((Text("Big"),)),
        Text(" win, "),
        Italic((Text("really"),)),
        Text(" "),
        Strike((Text("not"),)),
        Text(" "),
        Code("code_here"),
    )


def test_a_person_and_a_moment_are_tokens_and_bold_spans_a_person():
    when = moment(AT, "America/New_York", "time")
    assert tokens(f"*{mention(7)} won* at {when}") == (
        Bold((Person(7), Text(" won"))),
        Text(" at "),
        Moment(int(AT.timestamp()), "time", "10:00 EST"),
    )


def test_a_known_emoji_name_is_a_token_and_an_unknown_one_stays_text():
    assert tokens(":tada: done :not_an_emoji: at 10:30:") == (
        Emoji("tada"),
        Text(" done :not_an_emoji: at 10:30:"),
    )
    assert Emoji("warning").char == "⚠️"


def test_unbalanced_stars_and_underscores_inside_words_stay_text():
    assert tokens("5 * 3 = 15 and *open") == (Text("5 * 3 = 15 and *open"),)
    assert tokens("snake_case_name") == (Text("snake_case_name"),)
    assert tokens(":white_check_mark: done_") == (Emoji("white_check_mark"), Text(" done_"))


def test_markers_that_are_not_ours_stay_text():
    # A marker pair around anything but a person id or a time is text, never a mention.
    for text in (
        f"{MENTION_OPEN}person:abc{MENTION_CLOSE}",
        f"{MENTION_OPEN}person:12",
        f"person:12{MENTION_CLOSE}",
        "<person:12> <@U123> <!channel>",
    ):
        assert tokens(text) == (Text(text),)


def test_a_link_keeps_its_underscores_and_trailing_punctuation_is_text():
    assert tokens("See https://example.com/a_b_c?x=1&y=2.") == (
        Text("See "),
        Link("https://example.com/a_b_c?x=1&y=2"),
        Text("."),
    )


def test_crossing_emphasis_keeps_the_bold_and_leaves_the_rest_as_text():
    assert tokens("_a *b_ c*") == (Text("_a "), Bold((Text("b_ c"),)))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        f"*{mention(3)}* :tada: _x_ ~y~ `z` https://a.example/b {moment(AT, 'UTC')}",
        "*a _b ~c~ d_ e*",
        f"{MENTION_OPEN}time:1:date:x",
        "**double** and * lone",
    ],
)
def test_the_source_comes_back_unchanged(text):
    assert source(tokens(text)) == text


def test_nul_is_dropped():
    assert tokens("a\x00b") == (Text("ab"),)


# --- truncation ---------------------------------------------------------------------------------


def test_text_that_fits_is_not_cut():
    assert truncate(tokens("short"), 5) == [Text("short")]


def test_a_cut_never_splits_a_person_and_drops_trailing_blanks():
    cut = truncate(tokens(f"ab {mention(12)}cd"), 8, name=lambda pid: "Ana Torres")
    assert source(cut) == "ab…"


def test_a_person_counts_as_at_and_their_name():
    text = f"{mention(1)} wins"
    assert source(truncate(tokens(text), 7, name=lambda pid: "Al")) == f"{mention(1)} wi…"
    assert source(truncate(tokens(text), 7)) == "…"  # "@someone" does not fit in 6


def test_an_emoji_counts_as_its_character_and_is_never_split():
    assert source(truncate(tokens(":tada:" * 5), 4)) == ":tada:…"  # 🎉 is two UTF-16 units


def test_a_cut_inside_bold_keeps_the_bold_closed():
    assert source(truncate(tokens("*Mega Corp xxxxxxxxxx*"), 11)) == "*Mega Corp*…"


def test_a_plain_string_is_cut_by_the_same_rule():
    assert truncate_text("hello world", 7) == "hello…"
    assert truncate_text("*not markup*", 100) == "*not markup*"


def test_the_limit_must_leave_room_for_something():
    with pytest.raises(ValueError):
        truncate(tokens("x"), 0)


# --- the three renderers over the same tokens ---------------------------------------------------


def test_the_three_renderers_show_the_same_emoji_and_cut_at_the_same_point():
    from bot.local.render import markup
    from bot.slack.blocks import render_text
    from bot.teams.cards import markdown

    people = {1: ("Ana Torres", "U0ANA")}
    text = f":tada: *Big win* for {mention(1)} at {moment(AT, 'UTC')} " + "x" * 200 + " tail"
    slack = render_text(text, lambda pid: people[pid], 80)
    teams = markdown(text, lambda pid: people[pid], 80)
    local = markup(text, {1: "Ana Torres"}, 80)

    assert slack.startswith(":tada: *Big win* for <@U0ANA> at <!date^")  # Slack draws :tada: itself
    assert teams.startswith("🎉 **Big win** for Ana Torres at Mon 23 Nov, 15:00 UTC ")
    assert local.startswith('🎉 <strong>Big win</strong> for <span class="mention" data-person="1">@Ana Torres</span>')
    assert EMOJI["tada"] == "🎉"
    # 80 visible characters: "🎉 Big win for @Ana Torres at Mon 23 Nov, 15:00 UTC " is 52 (🎉 is two), so 27
    # x's and "…" on every platform, however long each one's markup for the same things is.
    for rendered in (slack, teams, local):
        assert rendered.endswith(" " + "x" * 27 + "…"), rendered


@pytest.mark.parametrize("text", ["*a* _b_ ~c~ `d` :tada: https://x.example/a_b <&>", "5 * 3 :nope: a\x00b"])
def test_slack_skips_the_parse_only_where_the_visitor_would_write_the_source_back(text):
    from bot.slack.blocks import _Mrkdwn, escape, render_text

    visitor = _Mrkdwn(lambda pid: ("x", None), escaped=True, link=True, at="")
    assert render_text(text, lambda pid: ("x", None)) == visitor.render(tokens(text)) == escape(source(tokens(text)))
