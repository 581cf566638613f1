"""The Adaptive Card renderer (``bot/teams/cards.py``): pure functions, tested without a server."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bot.teams.cards import (
    MAX_CARD_CHARS,
    META,
    markdown,
    parse_submission,
    plain_text,
    render_form,
    render_message,
    summary_text,
)
from handlers.messages import Actions, Button, Context, Divider, Form, Header, Input, Message, Option, Section, mention

PEOPLE = {1: ("Ana Torres", "aad-ana"), 2: ("Ben Okafor", None)}


def resolve(person_id: int):
    if person_id not in PEOPLE:
        raise LookupError(person_id)
    return PEOPLE[person_id]


def texts(card: dict) -> list[str]:
    return [b["text"] for b in card["body"] if b["type"] == "TextBlock"]


def test_a_message_becomes_an_adaptive_card_1_5_with_its_blocks_in_order():
    msg = Message(
        text="Deal won",
        blocks=[
            Header(text="🎉 Acme — $12,000"),
            Section(text="*Acme* closed won", fields=[("Owner", f"{mention(1)}"), ("Amount", "$12,000")]),
            Divider(),
            Context(text="November: $40,000 of $250,000"),
        ],
    )
    card = render_message(msg, resolve)
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.5")
    header, text, facts, context = card["body"]
    assert header == {
        "type": "TextBlock",
        "text": "🎉 Acme — $12,000",
        "size": "Large",
        "weight": "Bolder",
        "wrap": True,
        "style": "heading",
    }
    assert text["text"] == "**Acme** closed won"
    assert facts["facts"] == [{"title": "Owner", "value": "Ana Torres"}, {"title": "Amount", "value": "$12,000"}]
    assert context["isSubtle"] and context["separator"]  # the divider is a line above what follows
    assert card["fallbackText"] == "Deal won"


def test_a_linked_person_is_a_real_mention_and_an_unlinked_one_is_their_name():
    card = render_message(
        Message(text="x", blocks=[Section(text=f"{mention(1)} and {mention(2)} and {mention(9)}")]), resolve
    )
    assert texts(card) == ["<at>Ana Torres</at> and Ben Okafor and someone"]
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Ana Torres</at>", "mentioned": {"id": "aad-ana", "name": "Ana Torres"}}
    ]


def test_bold_around_a_mention_still_pairs_up_and_lone_stars_stay():
    card = render_message(Message(text="x", blocks=[Section(text=f"*{mention(1)}* won, 5 * 3 = 15")]), resolve)
    assert texts(card) == ["**<at>Ana Torres</at>** won, 5 * 3 = 15"]


def test_buttons_are_action_execute_with_the_verb_value_and_outbox_key():
    msg = Message(
        text="x",
        blocks=[
            Actions(
                buttons=[
                    Button(label="Log follow-up", action="cooling.follow_up", value="7", style="primary"),
                    Button(label="Bounce", action="bounce.open", value="7", style="danger"),
                    Button(label="Open in CRM", action="crm.open", url="https://crm.example/7"),
                ]
            )
        ],
    )
    [actions] = render_message(msg, resolve, key="alert:7:breach")["body"]
    assert actions["type"] == "ActionSet"
    follow, bounce, link = actions["actions"]
    assert follow == {
        "type": "Action.Execute",
        "title": "Log follow-up",
        "verb": "cooling.follow_up",
        "data": {"value": "7", "key": "alert:7:breach"},
        "style": "positive",
    }
    assert bounce["style"] == "destructive"
    assert link == {"type": "Action.OpenUrl", "title": "Open in CRM", "url": "https://crm.example/7"}


def test_more_buttons_than_teams_shows_in_a_row_continue_in_another_set():
    buttons = [Button(label=f"B{i}", action="a.b", value=str(i)) for i in range(8)]
    sets = render_message(Message(text="x", blocks=[Actions(buttons=buttons)]), resolve)["body"]
    assert [len(s["actions"]) for s in sets] == [6, 2]


def test_a_huge_message_is_cut_to_fit_with_a_note_saying_how_much():
    blocks = [Section(text="word " * 500) for _ in range(40)]
    card = render_message(Message(text="big", blocks=blocks), resolve)
    assert len(json.dumps(card, ensure_ascii=False)) <= MAX_CARD_CHARS
    assert card["body"][-1]["text"].endswith("more not shown")


def test_a_long_text_is_cut_without_breaking_a_mention():
    text = "x" * 2990 + f" {mention(1)} tail"
    [block] = render_message(Message(text="x", blocks=[Section(text=text)]), resolve)["body"]
    assert block["text"].endswith("…") and "<at>" not in block["text"] and "<person" not in block["text"]


def test_the_summary_is_plain_text_without_markup():
    msg = Message(text=f"*Acme* won by {mention(1)}")
    assert summary_text(msg, resolve) == "Acme won by Ana Torres"
    assert plain_text("_quiet_ *loud*", resolve) == "_quiet_ loud"
    assert markdown(f"*Acme* for {mention(1)}", resolve) == "**Acme** for Ana Torres"


def test_a_message_with_only_text_still_shows_it():
    card = render_message(Message(text="Just this"), resolve)
    assert texts(card) == ["Just this"]


FORM = Form(
    title="Bounce to marketing",
    action="bounce.submit",
    submit_label="Bounce",
    state="12",
    blocks=[Section(text="*Jane Doe* (Acme)")],
    inputs=[
        Input(
            name="reason",
            label="Reason",
            kind="select",
            options=[Option(value="not_ready", label="Not ready to buy"), Option(value="other", label="Other")],
        ),
        Input(name="note", label="Note", kind="textarea", required=False, max_length=500, hint="Optional"),
        Input(name="day", label="Day", kind="date", initial="2026-11-30"),
        Input(name="starts", label="Starts", kind="datetime", initial="2026-11-30T14:00:00Z"),
    ],
)


def test_a_form_is_a_card_with_inputs_and_a_submit_whose_verb_is_the_form_action():
    card = render_form(FORM, resolve, key="alert:7", tz="America/New_York")
    inputs = {b["id"]: b for b in card["body"] if b["type"].startswith("Input.")}
    assert inputs["reason"] == {
        "type": "Input.ChoiceSet",
        "id": "reason",
        "style": "compact",
        "label": "Reason",
        "isRequired": True,
        "errorMessage": "Reason is required",
        "choices": [{"title": "Not ready to buy", "value": "not_ready"}, {"title": "Other", "value": "other"}],
    }
    assert inputs["note"]["isMultiline"] and inputs["note"]["maxLength"] == 500 and not inputs["note"]["isRequired"]
    assert inputs["day"]["value"] == "2026-11-30"
    # A datetime is a date and a time, shown in the person's timezone (14:00 UTC is 09:00 in New York).
    assert (inputs["starts.date"]["value"], inputs["starts.time"]["value"]) == ("2026-11-30", "09:00")
    submit, cancel = card["actions"]
    assert submit["verb"] == "bounce.submit" and submit["title"] == "Bounce"
    assert submit["data"] == {META: {"form": "bounce.submit", "state": "12", "key": "alert:7"}}
    assert cancel["data"] == {META: {"cancel": True, "key": "alert:7"}} and cancel["associatedInputs"] == "none"
    assert "**Jane Doe** (Acme)" in texts(card)


def test_a_form_shown_again_keeps_the_values_and_shows_each_error_under_its_input():
    values = {"reason": "other", "note": "too long", "day": None, "starts": None}
    card = render_form(FORM, resolve, errors={"note": "Keep it short.", "form": "Something is off."}, values=values)
    body = card["body"]
    note_at = next(i for i, b in enumerate(body) if b.get("id") == "note")
    assert body[note_at]["value"] == "too long"
    assert {
        "type": "TextBlock",
        "text": "Keep it short.",
        "color": "Attention",
        "wrap": True,
        "spacing": "None",
    } in body[note_at + 1 : note_at + 3]
    assert body[1]["text"] == "Something is off." and body[1]["color"] == "Attention"  # not an input: on top
    assert next(b for b in body if b.get("id") == "reason")["value"] == "other"


def test_a_submission_splits_into_our_context_and_the_values():
    data = {
        META: {"form": "bounce.submit", "state": "12"},
        "reason": "other",
        "note": "",
        "starts.date": "2026-11-30",
        "starts.time": "09:00",
    }
    meta, values = parse_submission(data, "America/New_York")
    assert meta == {"form": "bounce.submit", "state": "12"}
    expected = int(datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc).timestamp())
    assert values == {"reason": "other", "note": None, "starts": str(expected)}


def test_a_form_may_not_use_the_reserved_name_or_repeat_names():
    with pytest.raises(ValueError):
        render_form(Form(title="t", action="a", inputs=[Input(name=META, label="x")]), resolve)
    with pytest.raises(ValueError):
        render_form(
            Form(title="t", action="a", inputs=[Input(name="x", label="x"), Input(name="x", label="y")]), resolve
        )


def test_the_card_is_accepted_by_the_teams_sdks_card_model():
    from microsoft_teams.cards import AdaptiveCard

    for card in (
        render_form(FORM, resolve, key="k"),
        render_message(Message(text="x", blocks=[Header(text="h"), Section(text=f"{mention(1)}")]), resolve),
    ):
        assert AdaptiveCard.model_validate(card).model_dump(by_alias=True, exclude_none=True)["version"] == "1.5"


def test_links_and_code_are_shown_as_written_and_a_textual_at_in_code_is_broken():
    card = render_message(
        Message(text="x", blocks=[Section(text="See https://crm.example/a_b and `<at>Ana</at>`")]), resolve
    )
    assert texts(card) == ["See https://crm.example/a_b and `<\u2060at>Ana<\u2060/at>`"]
    assert "entities" not in card["msteams"]
