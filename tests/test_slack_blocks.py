"""Slack Block Kit rendering: what a Slack user sees, and that Slack would accept every payload.

Slack rejects a whole message when one block breaks a limit, so ``check_limits`` encodes the
limits (and the escaping rules that keep user text from pinging anyone) and is run on every
rendered message, including random ones from hypothesis.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

# The repo has no packaging or pytest config yet; make `handlers`/`bot` importable when pytest
# is run from the repo root as `pytest tests/...`.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from bot.slack.blocks import (  # noqa: E402
    parse_action_id,
    parse_view_values,
    plain_text,
    render_errors,
    render_form,
    render_message,
    render_reply,
    render_text,
    slack_len,
    truncate,
)
from handlers.messages import (  # noqa: E402
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

PEOPLE = {
    1: ("Alice Archer", "U0ALICE"),
    2: ("Bob <b> & Co", None),  # not linked to Slack; a name that needs escaping
    3: ("<!channel>", None),  # a hostile display name
    4: ("Dora", "W0DORA"),  # an enterprise-grid user id
    5: ("Eve", "U1> <!here"),  # a corrupt slack id must not be trusted into <@...>
}


def resolve(person_id: int) -> tuple[str, str | None]:
    return PEOPLE[person_id]  # unknown ids raise KeyError, like a deleted person


# --- the limits Slack enforces ----------------------------------------------------------------

# In parsed (mrkdwn) text the only "<...>" allowed are the user mentions we made, and every "&"
# must start one of the three entities; anything else could be a forged mention or link.
_SAFE_MRKDWN = re.compile(r"(?:[^<>&]|<@[UW][A-Z0-9]+>|&amp;|&lt;|&gt;)*", re.S)


def _check_text(obj: dict, kind: str, limit: int) -> None:
    assert obj["type"] == kind, obj
    text = obj["text"]
    assert isinstance(text, str) and text.strip(), f"empty text in {obj}"
    assert slack_len(text) <= limit, (slack_len(text), limit)
    if kind == "mrkdwn":
        assert _SAFE_MRKDWN.fullmatch(text), f"unescaped markup in {text!r}"


def _check_blocks(blocks: list[dict], max_blocks: int, action_ids: set[str]) -> None:
    assert len(blocks) <= max_blocks, len(blocks)
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            _check_text(block["text"], "plain_text", 150)
        elif kind == "section":
            assert "text" in block or "fields" in block, block
            if "text" in block:
                _check_text(block["text"], "mrkdwn", 3000)
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                for field in block["fields"]:
                    _check_text(field, "mrkdwn", 2000)
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                _check_text(element, "mrkdwn", 2000)
        elif kind == "divider":
            assert block == {"type": "divider"}
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                _check_text(button["text"], "plain_text", 75)
                assert 1 <= slack_len(button["action_id"]) <= 255
                assert button["action_id"] not in action_ids, "duplicate action_id"
                action_ids.add(button["action_id"])
                if "value" in button:
                    assert 1 <= slack_len(button["value"]) <= 2000
                if "url" in button:
                    assert 1 <= slack_len(button["url"]) <= 3000
                assert button.get("style", "primary") in ("primary", "danger")
        elif kind == "input":
            assert 1 <= slack_len(block["block_id"]) <= 255
            _check_text(block["label"], "plain_text", 2000)
            if "hint" in block:
                _check_text(block["hint"], "plain_text", 2000)
            element = block["element"]
            assert 1 <= slack_len(element["action_id"]) <= 255
            if "placeholder" in element:
                _check_text(element["placeholder"], "plain_text", 150)
            if element["type"] == "static_select":
                assert 1 <= len(element["options"]) <= 100
                for option in element["options"]:
                    _check_text(option["text"], "plain_text", 75)
                    assert 1 <= slack_len(option["value"]) <= 150
                if "initial_option" in element:
                    assert element["initial_option"] in element["options"]
            if element["type"] == "plain_text_input" and "initial_value" in element:
                assert slack_len(element["initial_value"]) <= element.get("max_length", 3000)
        else:
            raise AssertionError(f"unknown block type {kind}")


def check_limits(rendered: dict) -> None:
    """Assert a ``render_message``/``render_reply`` payload is one Slack accepts, and safe."""
    json.dumps(rendered)  # plain JSON, nothing else
    text = rendered["text"]
    assert isinstance(text, str) and text.strip(), "fallback text missing"
    assert slack_len(text) <= 3000
    # The fallback is parsed by Slack too: same escaping rules, plus "@Name" mentions.
    assert _SAFE_MRKDWN.fullmatch(text), f"unescaped markup in fallback {text!r}"
    _check_blocks(rendered["blocks"], 50, set())


def check_view_limits(view: dict) -> None:
    """Assert a ``render_form`` view is one ``views.open`` accepts."""
    json.dumps(view)
    assert view["type"] == "modal"
    assert 1 <= slack_len(view["callback_id"]) <= 255
    assert slack_len(view["private_metadata"]) <= 3000
    for key in ("title", "submit", "close"):
        _check_text(view[key], "plain_text", 24)
    _check_blocks(view["blocks"], 100, set())
    block_ids = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert len(block_ids) == len(set(block_ids))


def all_mrkdwn(rendered: dict) -> str:
    """Every mrkdwn text of a rendered message, joined (what Slack parses)."""
    texts = []
    for block in rendered["blocks"]:
        if block["type"] == "section":
            texts += [block["text"]["text"]] if "text" in block else []
            texts += [f["text"] for f in block.get("fields", [])]
        elif block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return "\n".join(texts)


# --- mentions and escaping ------------------------------------------------------------------


def test_mention_of_linked_person_is_a_real_slack_mention():
    assert render_text(f"Nice one {mention(1)}!", resolve) == "Nice one <@U0ALICE>!"
    assert render_text(f"{mention(4)}", resolve) == "<@W0DORA>"


def test_mention_of_unlinked_person_shows_their_name_escaped():
    assert render_text(f"Ping {mention(2)}", resolve) == "Ping Bob &lt;b&gt; &amp; Co"


def test_hostile_names_and_ids_cannot_ping():
    # A display name "<!channel>" and a slack id that tries to close the token both fall back
    # to harmless text.
    assert render_text(f"{mention(3)}", resolve) == "&lt;!channel&gt;"
    assert render_text(f"{mention(5)}", resolve) == "Eve"


def test_ids_not_in_slack_format_show_the_name():
    # Real ids are U/W + uppercase letters and digits; the Slack mock's U_ANA is not one, so the
    # e2e tests see names (tests/test_bounce_e2e.py relies on this).
    assert render_text(f"{mention(1)}", lambda pid: ("Ana Torres", "U_ANA")) == "Ana Torres"
    assert render_text(f"{mention(1)}", lambda pid: ("Ana", "u0ana")) == "Ana"


def test_unknown_person_is_someone_rather_than_an_error():
    assert render_text(f"by {mention(999)}", resolve) == "by someone"


def test_user_text_is_escaped_and_cannot_ping_or_inject():
    deal = "Acme <!channel> <script>alert(1)</script> & <@U0BOSS> <https://evil|click>"
    msg = Message(
        text=f"New deal {deal}",
        blocks=[Header(text=deal), Section(text=f"Deal: {deal}", fields=[("Name", deal)]), Context(text=deal)],
    )
    out = render_message(msg, resolve)
    check_limits(out)
    mrkdwn = all_mrkdwn(out)
    assert "<!channel>" not in mrkdwn and "<@U0BOSS>" not in mrkdwn and "<script>" not in mrkdwn
    assert "&lt;!channel&gt;" in mrkdwn
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in mrkdwn
    assert "<" not in out["text"] and "&lt;!channel&gt;" in out["text"]
    # A header is plain_text: Slack shows it verbatim, so it is not escaped (and cannot ping).
    assert out["blocks"][0]["text"]["text"] == deal


def test_plain_text_fallback_mentions():
    assert plain_text(f"*Won* by {mention(1)} and {mention(2)}", resolve) == (
        "*Won* by <@U0ALICE> and @Bob &lt;b&gt; &amp; Co"
    )


def test_header_and_button_show_names_not_mention_syntax():
    msg = Message(
        text="x",
        blocks=[
            Header(text=f"Deal won by {mention(1)}"),
            Actions(buttons=[Button(label=f"Thank {mention(2)}", action="t")]),
        ],
    )
    out = render_message(msg, resolve)
    assert out["blocks"][0]["text"] == {"type": "plain_text", "text": "Deal won by Alice Archer", "emoji": True}
    assert out["blocks"][1]["elements"][0]["text"]["text"] == "Thank Bob <b> & Co"


# --- truncation -----------------------------------------------------------------------------


def test_long_deal_name_is_truncated_in_header_and_section():
    deal = "Mega Corp " + "x" * 5000
    msg = Message(text=f"Deal {deal} won", blocks=[Header(text=deal), Section(text=f"*{deal}*")])
    out = render_message(msg, resolve)
    check_limits(out)
    header = out["blocks"][0]["text"]["text"]
    section = out["blocks"][1]["text"]["text"]
    assert len(header) == 150 and header.startswith("Mega Corp x") and header.endswith("…")
    assert len(section) == 3000 and section.startswith("*Mega Corp x") and section.endswith("…")
    assert len(out["text"]) == 3000 and out["text"].endswith("…")


def test_truncation_never_splits_an_escape_or_a_mention():
    out = render_message(Message(text="&" * 5000, blocks=[Section(text="&" * 5000)]), resolve)
    check_limits(out)
    section = out["blocks"][0]["text"]["text"]
    assert re.fullmatch(r"(&amp;)+…", section)
    # A mention that would straddle the cut is dropped whole, never left as "<@U0AL".
    text = "y" * 2995 + f"{mention(1)} thanks"
    rendered = render_message(Message(text=text, blocks=[Section(text=text)]), resolve)
    assert rendered["blocks"][0]["text"]["text"] == "y" * 2995 + "…"
    assert truncate(f"ab{mention(12)}cd", 8) == "ab…"
    assert truncate("short", 5) == "short"


def test_emoji_count_as_two_units_so_any_slack_count_fits():
    out = render_message(Message(text="🎉" * 2000, blocks=[Header(text="🎉" * 200)]), resolve)
    check_limits(out)
    assert out["blocks"][0]["text"]["text"] == "🎉" * 74 + "…"


# --- blocks and buttons ---------------------------------------------------------------------


def test_field_rendering_and_spill_past_ten_fields():
    fields = [(f"Label {i}", f"value {i}") for i in range(23)]
    out = render_message(Message(text="t", blocks=[Section(text="Lead", fields=fields)]), resolve)
    check_limits(out)
    sections = out["blocks"]
    assert [len(s["fields"]) for s in sections] == [10, 10, 3]
    assert sections[0]["text"]["text"] == "Lead" and "text" not in sections[1]
    assert sections[0]["fields"][0] == {"type": "mrkdwn", "text": "*Label 0*\nvalue 0"}


def test_empty_section_text_never_makes_an_invalid_block():
    out = render_message(
        Message(text="t", blocks=[Section(text="", fields=[("Stage", "Won")]), Section(text="  "), Header(text="")]),
        resolve,
    )
    check_limits(out)
    assert out["blocks"] == [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Stage*\nWon"}]}]


def test_120_buttons_and_80_sections_stay_within_50_blocks():
    buttons = [Button(label=f"Lead {i}", action="lead.claim", value=str(i)) for i in range(120)]
    msg = Message(text="Leads", blocks=[Section(text=f"Lead {i}") for i in range(80)] + [Actions(buttons=buttons)])
    out = render_message(msg, resolve)
    check_limits(out)
    assert len(out["blocks"]) == 50
    # 80 sections + 5 actions blocks (25+25+25+25+20) = 85; 49 shown, 36 hidden.
    assert out["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "… 36 more not shown"}]}

    only_buttons = render_message(Message(text="Leads", blocks=[Actions(buttons=buttons)]), resolve)
    check_limits(only_buttons)
    assert [len(b["elements"]) for b in only_buttons["blocks"]] == [25, 25, 25, 25, 20]


def test_duplicate_actions_get_unique_ids_that_map_back():
    msg = Message(
        text="t",
        blocks=[
            Actions(
                buttons=[
                    Button(label="Claim", action="lead.claim", value="7"),
                    Button(label="Claim", action="lead.claim", value="8"),
                ]
            ),
            Actions(buttons=[Button(label="Odd", action="odd#name#5", style="danger")]),
        ],
    )
    out = render_message(msg, resolve)
    check_limits(out)
    ids = [e["action_id"] for b in out["blocks"] for e in b["elements"]]
    assert ids == ["lead.claim#0", "lead.claim#1", "odd#name#5#2"]
    assert [parse_action_id(i) for i in ids] == ["lead.claim", "lead.claim", "odd#name#5"]
    assert out["blocks"][0]["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Claim", "emoji": True},
        "action_id": "lead.claim#0",
        "value": "7",
    }
    assert out["blocks"][1]["elements"][0]["style"] == "danger"


def test_link_button_keeps_short_url_and_drops_an_impossible_one():
    msg = Message(
        text="t",
        blocks=[
            Actions(
                buttons=[
                    Button(label="Open", action="crm.open", url="https://crm.example.com/deal/1"),
                    Button(label="Open", action="crm.open", url="https://x.example.com/" + "a" * 4000),
                ]
            )
        ],
    )
    out = render_message(msg, resolve)
    check_limits(out)
    first, second = out["blocks"][0]["elements"]
    assert first["url"] == "https://crm.example.com/deal/1" and "value" not in first
    assert "url" not in second


def test_button_value_too_long_is_a_handler_bug():
    with pytest.raises(ValueError):
        msg = Message(text="t", blocks=[Actions(buttons=[Button(label="x", action="a", value="v" * 2001)])])
        render_message(msg, resolve)


def test_fallback_text_is_always_present():
    blocks = [Header(text="Deal won"), Section(text=f"by {mention(1)}", fields=[("Amount", "$5")])]
    built = render_message(Message(text="", blocks=blocks), resolve)
    assert built["text"] == "Deal won\nby <@U0ALICE>\nAmount: $5"
    nothing = render_message(Message(text=" ", blocks=[Divider()]), resolve)
    assert nothing["text"].strip() and nothing["blocks"] == [{"type": "divider"}]
    check_limits(built)
    check_limits(nothing)


# --- replies and errors ---------------------------------------------------------------------


def test_render_reply_is_ephemeral_and_refuses_forms():
    out = render_reply(Reply.say(f"Claimed {mention(1)}'s lead & done"), resolve)
    assert out["response_type"] == "ephemeral"
    assert out["text"] == "Claimed <@U0ALICE>'s lead &amp; done"
    assert out["blocks"][0]["text"]["text"] == "Claimed <@U0ALICE>'s lead &amp; done"
    check_limits({k: v for k, v in out.items() if k != "response_type"})
    with pytest.raises(ValueError):
        render_reply(Reply(form=Form(title="t", action="a")), resolve)
    with pytest.raises(ValueError):
        render_reply(Reply(errors={"x": "bad"}), resolve)


def test_render_errors():
    assert render_errors({"amount": "Must be a number"}) == {
        "response_action": "errors",
        "errors": {"amount": "Must be a number"},
    }


# --- forms ----------------------------------------------------------------------------------


def _deal_form(**overrides) -> Form:
    fields = dict(
        title=f"Log a deal for {mention(2)} and everyone else",
        action="deal.log",
        submit_label="Save",
        state="lead:42",
        blocks=[Section(text=f"Logging for {mention(1)}")],
        inputs=[
            Input(name="name", label="Deal name", placeholder="Acme renewal", max_length=200, initial="Acme"),
            Input(name="notes", label="Notes", kind="textarea", required=False, hint="Visible to the team"),
            Input(
                name="stage",
                label="Stage",
                kind="select",
                options=[Option(value=f"s{i}", label=f"Stage {i}") for i in range(150)],
                initial="s120",
            ),
            Input(name="close", label="Close date", kind="date", initial="2024-05-01"),
            Input(name="follow_up", label="Follow up", kind="datetime", initial="2024-05-01T09:00:00+00:00"),
        ],
    )
    fields.update(overrides)
    return Form(**fields)


def test_render_form_modal():
    view = render_form(_deal_form(), resolve)
    check_view_limits(view)
    assert view["callback_id"] == "deal.log" and view["private_metadata"] == "lead:42"
    assert view["title"]["text"] == "Log a deal for Bob <b>…" and len(view["title"]["text"]) <= 24
    assert view["submit"]["text"] == "Save"
    section, name, notes, stage, close, follow_up = view["blocks"]
    assert section["text"]["text"] == "Logging for <@U0ALICE>"
    assert name["block_id"] == name["element"]["action_id"] == "name"
    assert name["element"] == {
        "action_id": "name",
        "type": "plain_text_input",
        "max_length": 200,
        "initial_value": "Acme",
        "placeholder": {"type": "plain_text", "text": "Acme renewal", "emoji": True},
    }
    assert name["optional"] is False and notes["optional"] is True
    assert notes["element"]["multiline"] is True and notes["hint"]["text"] == "Visible to the team"
    assert stage["element"]["type"] == "static_select"
    assert close["element"] == {"action_id": "close", "type": "datepicker", "initial_date": "2024-05-01"}
    assert follow_up["element"] == {"action_id": "follow_up", "type": "datetimepicker", "initial_date_time": 1714554000}


def test_select_with_150_options_keeps_100_and_the_preset():
    view = render_form(_deal_form(), resolve)
    stage = next(b for b in view["blocks"] if b.get("block_id") == "stage")["element"]
    assert len(stage["options"]) == 100
    assert stage["options"][0] == {"text": {"type": "plain_text", "text": "Stage 0", "emoji": True}, "value": "s0"}
    assert stage["initial_option"]["value"] == "s120" and stage["initial_option"] in stage["options"]


def test_form_state_too_long_and_bad_names_are_refused():
    with pytest.raises(ValueError):
        render_form(_deal_form(state="x" * 3001), resolve)
    with pytest.raises(ValueError):
        render_form(_deal_form(inputs=[Input(name="a", label="A"), Input(name="a", label="B")]), resolve)
    with pytest.raises(ValueError):
        render_form(_deal_form(inputs=[Input(name="s", label="S", kind="select")]), resolve)
    render_form(_deal_form(state="x" * 3000), resolve)  # exactly at the limit is fine


def test_form_with_many_blocks_keeps_every_input():
    form = _deal_form(blocks=[Section(text=f"line {i}") for i in range(200)])
    view = render_form(form, resolve)
    check_view_limits(view)
    assert len(view["blocks"]) == 100
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == ["name", "notes", "stage", "close", "follow_up"]
    assert view["blocks"][94]["elements"][0]["text"] == "… 106 more not shown"


def test_parse_view_values_from_a_view_submission():
    # view["state"]["values"] as Slack sends it on view_submission for the deal form.
    values = {
        "name": {"name": {"type": "plain_text_input", "value": "Acme & Co <renewal>"}},
        "notes": {"notes": {"type": "plain_text_input", "value": None}},
        "stage": {
            "stage": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "Stage 3", "emoji": True}, "value": "s3"},
            }
        },
        "close": {"close": {"type": "datepicker", "selected_date": "2024-05-01"}},
        "follow_up": {"follow_up": {"type": "datetimepicker", "selected_date_time": 1714554000}},
        "owner": {"owner": {"type": "static_select", "selected_option": None}},
    }
    assert parse_view_values(values) == {
        "name": "Acme & Co <renewal>",
        "notes": None,
        "stage": "s3",
        "close": "2024-05-01",
        "follow_up": "1714554000",
        "owner": None,
    }
    # The names read back are exactly the rendered inputs' block ids.
    view = render_form(_deal_form(), resolve)
    assert {b["block_id"] for b in view["blocks"] if b["type"] == "input"} <= set(parse_view_values(values))


# --- property: every random message renders within Slack's limits -------------------------

# Strategies are built to be cheap in hypothesis' entropy budget: long texts come from
# repeating a short one.
_tricky = st.sampled_from(["<", ">", "&", "&amp;", "<!channel>", "<@U0BOSS>", "*", "_", "\n", " ", "🎉", "é"])
_token = st.sampled_from([1, 2, 3, 4, 5, 99]).map(lambda i: f"{mention(i)}")
_chunk = st.one_of(st.text(max_size=20), _tricky, _token)
_text = st.lists(_chunk, max_size=12).map("".join)
_long_text = st.one_of(_text, st.builds(lambda t, n: t * n, _text, st.integers(1, 40)))
_button = st.builds(
    Button,
    label=_long_text,
    action=st.sampled_from(["lead.claim", "deal.close", "cooling.follow_up", "a#1"]),
    value=st.text(max_size=20),
    style=st.sampled_from([None, "primary", "danger"]),
    url=st.sampled_from([None, "https://example.com/x", "https://example.com/" + "p" * 3100]),
)


def _few_or_many(strategy, many: int, most: int):
    """A short list, or a long one (``many``..``most`` items) made by cycling a few drawn items:
    hypothesis cannot draw 50 independent large blocks within one example's budget, and the
    splits and caps only run on long lists."""
    seeds = st.lists(strategy, min_size=1, max_size=4)
    cycled = st.builds(lambda items, n: (items * n)[:n], seeds, st.integers(many, most))
    return st.one_of(st.lists(strategy, max_size=4), cycled)


_block = st.one_of(
    st.builds(Header, text=_long_text),
    st.builds(Section, text=_long_text, fields=_few_or_many(st.tuples(_text, _long_text), 9, 25)),
    st.builds(Context, text=_long_text),
    st.builds(Divider),
    st.builds(Actions, buttons=_few_or_many(_button, 24, 60)),
)
_message = st.builds(Message, text=_long_text, blocks=_few_or_many(_block, 45, 70))


@settings(max_examples=150, deadline=None)
@given(_message)
def test_any_message_renders_within_slack_limits(msg):
    out = render_message(msg, resolve)
    check_limits(out)
    # Buttons map back to their actions, in order, for everything that is shown.
    shown = [e["action_id"] for b in out["blocks"] if b["type"] == "actions" for e in b["elements"]]
    actions = [b.action for block in msg.blocks if isinstance(block, Actions) for b in block.buttons]
    assert [parse_action_id(i) for i in shown] == actions[: len(shown)]


@settings(max_examples=30, deadline=None)
@given(
    title=_text,
    blocks=_few_or_many(_block, 90, 110),
    labels=st.lists(_long_text, max_size=8),
)
def test_any_form_renders_within_slack_limits(title, blocks, labels):
    inputs = [
        Input(name=f"f{i}", label=label, placeholder=label, hint=label or None, initial=label)
        for i, label in enumerate(labels)
    ]
    check_view_limits(render_form(Form(title=title, action="deal.log", blocks=blocks, inputs=inputs), resolve))
