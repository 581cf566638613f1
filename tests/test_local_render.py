"""The local workspace's HTML renderer: what a person sees of the neutral messages Slack gets."""

from __future__ import annotations

import re

from bot.local.render import markup, render_ephemeral, render_form, render_message, render_post
from handlers.messages import (
    Actions,
    Button,
    Context,
    Divider,
    Form,
    Header,
    Input,
    Message,
    Option,
    Reply,
    Section,
    mention,
)

NAMES = {1: "Ana Torres", 2: "<b>Bob</b> & Co"}


def test_bold_italic_strike_and_code_become_html():
    html = markup("*Big* win, _really_ ~not~ `code_here`", NAMES)
    assert html == "<strong>Big</strong> win, <em>really</em> <del>not</del> <code>code_here</code>"


def test_underscores_inside_words_and_lone_stars_stay_text():
    assert markup("snake_case_name and 5 * 3 = 15", NAMES) == "snake_case_name and 5 * 3 = 15"


def test_a_mention_becomes_a_chip_with_the_persons_name():
    html = markup(f"Congratulations {mention(1)}!", NAMES)
    assert html == 'Congratulations <span class="mention" data-person="1">@Ana Torres</span>!'


def test_a_mention_of_someone_unknown_reads_someone():
    assert "@someone" in markup(f"{mention(99)} closed it", NAMES)


def test_user_content_is_escaped_everywhere():
    message = Message(
        text="fallback",
        blocks=[
            Header(text="<script>alert(1)</script>"),
            Section(text=f"Deal <img src=x onerror=alert(1)> by {mention(2)}", fields=[("<i>k</i>", "\"v\" & 'w'")]),
            Context(text="</div><div>"),
            Actions(buttons=[Button(label="<b>Go</b>", action="x.y", value='"><script>')]),
        ],
    )
    html = render_message(message, NAMES)
    assert "<script>" not in html and "<img" not in html and "<i>" not in html and "</div><div>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@&lt;b&gt;Bob&lt;/b&gt; &amp; Co" in html
    assert 'data-value="&quot;&gt;&lt;script&gt;"' in html


def test_emphasis_spans_a_mention_and_emoji_names_become_emoji():
    html = markup(f":tada: *{mention(1)} won*", NAMES)
    assert html.startswith('🎉 <strong><span class="mention"')
    assert html.endswith("won</strong>")


def test_links_are_clickable_and_not_mangled_by_emphasis():
    html = markup("See https://example.com/a_b_c?x=1&y=2.", NAMES)
    assert '<a href="https://example.com/a_b_c?x=1&amp;y=2"' in html
    assert 'rel="noopener noreferrer"' in html
    assert html.endswith("</a>.")


def test_fields_dividers_and_buttons_render_like_a_chat_message():
    message = Message(
        text="Lead cooling",
        blocks=[
            Section(text="*Lead* is cooling", fields=[("Owner", f"{mention(1)}"), ("Score", "92")]),
            Divider(),
            Actions(
                buttons=[
                    Button(label="Log follow-up", action="cooling.follow_up", value="12", style="primary"),
                    Button(label="Bounce", action="bounce.open", value="12", style="danger"),
                ]
            ),
        ],
        reaction="tada",
    )
    html = render_message(message, NAMES)
    assert '<dt>Owner</dt><dd><span class="mention" data-person="1">@Ana Torres</span></dd>' in html
    assert '<hr class="m-divider">' in html
    assert re.search(
        r'<button type="button" class="btn btn-primary" data-action="cooling.follow_up" '
        r'data-value="12">Log follow-up</button>',
        html,
    )
    assert 'class="btn btn-danger"' in html
    assert "🎉 1" in html


def test_a_message_without_blocks_shows_its_text():
    assert "Just <strong>text</strong>" in render_message(Message(text="Just *text*"), NAMES)


def test_a_link_button_only_links_to_http_urls():
    ok = render_message(
        Message(text="x", blocks=[Actions(buttons=[Button(label="Open", action="a.b", url="https://crm.example/1")])]),
        NAMES,
    )
    bad = render_message(
        Message(text="x", blocks=[Actions(buttons=[Button(label="Open", action="a.b", url="javascript:alert(1)")])]),
        NAMES,
    )
    assert 'href="https://crm.example/1"' in ok
    assert "javascript:" not in bad and "<button" in bad


def test_a_post_carries_its_key_and_a_fingerprint_that_changes_with_its_content():
    a = render_post(row_id=7, key="wins:deal:1", payload=Message(text="one").to_json(), at=None, names=NAMES)
    b = render_post(row_id=7, key="wins:deal:1", payload=Message(text="two").to_json(), at=None, names=NAMES)
    assert a["id"] == 7 and 'data-key="wins:deal:1"' in a["html"]
    assert a["hash"] != b["hash"]


def test_an_unreadable_payload_shows_a_placeholder_instead_of_failing():
    post = render_post(row_id=1, key="k", payload={"blocks": "nonsense"}, at=None, names=NAMES)
    assert "could not be shown" in post["html"]


def test_an_ephemeral_answer_says_only_you_can_see_it():
    html = render_ephemeral(Reply.say("Logged your follow-up"), NAMES, note="/smarketing touch L-1")
    assert "Only visible to you" in html and "Logged your follow-up" in html and "/smarketing touch L-1" in html
    assert render_ephemeral(Reply(), NAMES) is None


def test_a_form_renders_each_input_kind_with_its_label_and_a_slot_for_its_error():
    form = Form(
        title="Bounce <lead>",
        action="bounce.submit",
        state="42",
        blocks=[Section(text="Lead *Ana*")],
        inputs=[
            Input(
                name="reason",
                label="Reason",
                kind="select",
                options=[Option(value="no_budget", label="No budget"), Option(value="other", label="Other")],
                initial="other",
            ),
            Input(name="note", label="Note", kind="textarea", required=False, max_length=500, hint="Why?"),
            Input(name="day", label="Day", kind="date", initial="2026-11-23T10:00:00Z"),
            Input(name="at", label="At", kind="datetime", initial="2026-11-23T15:00:00+00:00"),
            Input(name="title", label="Title", placeholder="e.g. Webinar"),
        ],
    )
    html = render_form(form, NAMES, tz="America/New_York")
    assert 'data-action="bounce.submit" data-state="42"' in html
    assert "Bounce &lt;lead&gt;" in html
    assert '<option value="other" selected>Other</option>' in html
    assert '<textarea id="f-note" name="note" maxlength="500" rows="4"></textarea>' in html
    assert "(optional)" in html and "Why?" in html
    assert 'type="date" id="f-day" name="day" required value="2026-11-23"' in html
    assert 'type="datetime-local" id="f-at" name="at" required value="2026-11-23T10:00"' in html
    assert 'placeholder="e.g. Webinar"' in html
    assert html.count('class="field-error"') == 5
