"""Bounce-back rules, on a real database: who may, what happens, what marketing sees, bad input."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.config import OutboundWebhook
from bot.slack.blocks import render_message
from handlers.commands import run_action, run_command, run_form
from handlers.messages import Actions, Message, mention
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.bounce_helpers import bounces, lead, outbox, person_id, seed_lead


@pytest.fixture
def c(make_container):
    return make_container()


def actor(c, key: str) -> Actor:
    return Actor(person_id(c, key), "local")


def command(c, who: str, text: str):
    return run_command(c.registry, c.uow_factory, c.deps, actor(c, who), text)


def press(c, who: str, action: str, value: str, ref: MessageRef | None = None):
    return run_action(c.registry, c.uow_factory, c.deps, actor(c, who), action, value, ref)


def submit(c, who: str, state: str, **values):
    return run_form(c.registry, c.uow_factory, c.deps, actor(c, who), "bounce.submit", state, values)


def marketing_posts(c):
    return [Message.from_json(r.payload) for r in outbox(c, op="post", destination="channel:marketing")]


def post_text(msg: Message) -> str:
    parts = [msg.text]
    for b in msg.blocks:
        parts.append(getattr(b, "text", "") or "")
        parts.extend(f"{k}: {v}" for k, v in getattr(b, "fields", []))
        parts.extend(btn.label for btn in getattr(b, "buttons", []))
    return "\n".join(parts)


# --- one step -------------------------------------------------------------------------------


def test_a_known_reason_bounces_the_lead_back_to_marketing_in_one_step(c):
    lead_id = seed_lead(c)
    reply = command(c, "ana", "bounce L-1 not_ready Circle back in Q2, budget frozen")
    assert "Bounced *Jane Doe* (Acme) back to marketing: _Not ready to buy_" in reply.text
    back = lead(c, lead_id)
    assert back.status == "nurture" and back.bounce_count == 1
    assert back.next_alert_at is None  # its SLA ladder stopped
    [b] = bounces(c, lead_id)
    assert (b.reason, b.note, b.by_person_id, b.at) == (
        "not_ready",
        "Circle back in Q2, budget frozen",
        person_id(c, "ana"),
        c.deps.now(),
    )
    assert b.campaign_id == back.source_campaign_id and b.repeat is False
    assert len(marketing_posts(c)) == 1


def test_the_lead_can_be_named_by_its_email_and_a_dashed_reason(c):
    lead_id = seed_lead(c)
    command(c, "ana", "bounce JANE@acme.example no-budget")
    assert bounces(c, lead_id)[0].reason == "no_budget"


def test_the_marketing_post_carries_the_leads_context_and_the_reason(c):
    seed_lead(c, qualified_days_ago=3.5, follow_ups=2)
    command(c, "ana", "bounce L-1 no_budget They spent it all on a competitor")
    [post] = marketing_posts(c)
    text = post_text(post)
    kira, ana = person_id(c, "kira"), person_id(c, "ana")
    assert f"{mention(ana)} sent *Jane Doe* (Acme) back to marketing: *No budget*" in text
    assert "> They spent it all on a competitor" in text
    assert "Company: Acme" in text
    assert f"Source campaign: Spring Webinar · {mention(kira)}" in text  # its owner mentioned
    assert "Score: 85" in text
    assert "Days in sales: 3 days" in text
    assert "Follow-ups logged: 2" in text
    assert "Bounced again" not in text
    [actions] = [b for b in post.blocks if isinstance(b, Actions)]
    assert [(b.label, b.action) for b in actions.buttons] == [
        ("Acknowledge", "bounce.ack"),
        ("Send back to sales", "bounce.send_back"),
        ("Add to review", "review.add"),
    ]  # demo has a review


def test_text_typed_into_a_note_cannot_mention_or_ping_anyone(c):
    seed_lead(c)
    maya = person_id(c, "maya")
    command(c, "ana", f"bounce L-1 other ask <person:{maya}> and <!channel>")
    [post] = marketing_posts(c)
    rendered = json.dumps(render_message(post, lambda pid: (f"P{pid}", f"U{pid}X")))
    assert f"<@U{maya}X>" not in rendered and "<!channel>" not in rendered
    assert "&lt;!channel&gt;" in rendered
    assert f"<@U{person_id(c, 'ana')}X>" in rendered  # the real mention of who bounced it stays


def test_a_second_bounce_for_the_same_reason_is_marked_as_a_repeat(c):
    lead_id = seed_lead(c)
    command(c, "ana", "bounce L-1 not_ready")
    with c.uow_factory() as uow:  # back in sales (re-qualified), then bounced again
        row = uow.leads.get(lead_id)
        row.status = "qualified"
        uow.leads.add(row)
        uow.commit()
    command(c, "ana", "bounce L-1 not_ready still not ready")
    first, second = bounces(c, lead_id)
    assert (first.repeat, second.repeat) == (False, True)
    assert lead(c, lead_id).bounce_count == 2
    assert "*Bounced again for the same reason* — this is the lead's 2nd bounce" in post_text(marketing_posts(c)[1])


def test_a_lead_already_with_marketing_cannot_be_bounced_again(c):
    seed_lead(c, status="nurture")
    reply = command(c, "ana", "bounce L-1 not_ready")
    assert reply.text == "*Jane Doe* (Acme) is already back with marketing."
    assert outbox(c) == []


# --- the form -------------------------------------------------------------------------------


def test_without_a_reason_the_command_opens_the_form_with_the_reasons_from_the_config(c):
    lead_id = seed_lead(c)
    form = command(c, "ana", "bounce L-1").form
    assert form.action == "bounce.submit" and form.state == f"{lead_id}@0"
    reason, note = form.inputs
    assert reason.required and reason.kind == "select"
    assert [(o.value, o.label) for o in reason.options] == [(r.code, r.label) for r in c.config.bounce.reasons]
    assert note.kind == "textarea" and note.max_length == c.config.bounce.note_max and not note.required
    assert "*Jane Doe* (Acme)" in form.blocks[0].text  # the lead's summary
    assert lead(c, lead_id).status == "qualified"  # nothing happened yet


def test_an_unknown_reason_opens_the_form_keeping_what_was_typed_as_the_note(c):
    seed_lead(c)
    form = command(c, "ana", "bounce L-1 they went with a competitor").form
    assert form is not None
    assert form.inputs[1].initial == "they went with a competitor"


def test_a_valid_submission_bounces_the_lead(c):
    lead_id = seed_lead(c)
    reply = submit(c, "ana", str(lead_id), reason="wrong_contact", note="Talk to their CFO instead")
    assert "_Wrong contact_" in reply.text
    [b] = bounces(c, lead_id)
    assert (b.reason, b.note) == ("wrong_contact", "Talk to their CFO instead")


def test_a_note_over_the_limit_is_an_inline_form_error_and_nothing_changes(c):
    lead_id = seed_lead(c)
    reply = submit(c, "ana", str(lead_id), reason="not_ready", note="x" * 501)
    assert reply.errors == {"note": "The note is 501 characters; please keep it to 500."}
    assert bounces(c, lead_id) == [] and lead(c, lead_id).status == "qualified" and outbox(c) == []


def test_a_submission_without_a_known_reason_asks_for_one_inline(c):
    lead_id = seed_lead(c)
    assert submit(c, "ana", str(lead_id), reason=None, note="hm").errors == {"reason": "Pick a reason from the list."}


def test_a_note_over_the_limit_on_the_command_line_changes_nothing(c):
    lead_id = seed_lead(c)
    reply = command(c, "ana", "bounce L-1 not_ready " + "y" * 600)
    assert reply.text == "The note is 600 characters; please keep it to 500."
    assert bounces(c, lead_id) == []


def test_the_bounce_button_on_a_cooling_alert_opens_the_same_form(c):
    lead_id = seed_lead(c)
    form = press(c, "ana", "bounce.open", f"{lead_id}@0").form
    assert form.action == "bounce.submit" and form.state == f"{lead_id}@0"


# --- bad input ------------------------------------------------------------------------------


def test_an_unknown_lead_gets_a_specific_answer(c):
    assert command(c, "ana", "bounce nobody@nowhere.example not_ready").text == (
        "No lead matches 'nobody@nowhere.example' — use its CRM id or email."
    )


def test_several_matching_leads_are_listed(c):
    seed_lead(c, crm_id="L-1", email="info@acme.example", name="Jane Doe")
    seed_lead(c, crm_id="L-2", email="info@acme.example", name="John Roe", campaign=None)
    text = command(c, "ana", "bounce info@acme.example not_ready").text
    assert text.startswith("Several leads match 'info@acme.example'")
    assert "`L-1` Jane Doe" in text and "`L-2` John Roe" in text
    assert outbox(c) == []


def test_no_arguments_explains_the_usage(c):
    text = command(c, "ana", "bounce").text
    assert "/smarketing bounce <lead> [reason] [note]" in text and "`not_ready`" in text


# --- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["ana", "maya", "sam"], ids=["the owner", "the owner's manager", "an admin"])
def test_the_owner_their_manager_and_an_admin_may_bounce(c, who):
    lead_id = seed_lead(c)
    command(c, who, "bounce L-1 duplicate")
    assert lead(c, lead_id).status == "nurture"
    assert bounces(c, lead_id)[0].by_person_id == person_id(c, who)


def test_anyone_else_is_told_who_can_and_nothing_changes(c):
    lead_id = seed_lead(c)
    for reply in (
        command(c, "ben", "bounce L-1 not_ready"),
        command(c, "ben", "bounce L-1"),
        press(c, "ben", "bounce.open", str(lead_id)),
        submit(c, "ben", str(lead_id), reason="not_ready", note=None),
    ):
        assert reply.text == (
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can bounce "
            "this lead back to marketing."
        )
        assert reply.form is None
    assert lead(c, lead_id).status == "qualified" and bounces(c, lead_id) == [] and outbox(c) == []


def test_someone_unknown_to_the_bot_is_told_to_get_added(c):
    seed_lead(c)
    reply = run_command(c.registry, c.uow_factory, c.deps, Actor(None, "slack", "U_STRANGER"), "bounce L-1 not_ready")
    assert "I don't know who you are yet" in reply.text


# --- the marketing post's buttons ------------------------------------------------------------


def _posted(c):
    [row] = outbox(c, op="post", destination="channel:marketing")
    bounce_id = Message.from_json(row.payload).blocks[-1].buttons[0].value
    return row, bounce_id


def test_acknowledge_updates_the_marketing_post_in_place(c):
    seed_lead(c)
    command(c, "ana", "bounce L-1 not_ready")
    row, bounce_id = _posted(c)
    reply = press(c, "kira", "bounce.ack", bounce_id, MessageRef(outbox_key=row.key))
    assert reply.as_message() is None  # nothing to say to Kira: the post itself changes
    [update] = outbox(c, op="update")
    assert reply.updated.to_json() == update.payload
    assert update.target_key == row.key and update.destination == "channel:marketing"
    updated = Message.from_json(update.payload)
    assert f"Acknowledged by {mention(person_id(c, 'kira'))}" in post_text(updated)
    assert [b.label for b in updated.blocks[-1].buttons] == ["Send back to sales"]
    again = press(c, "leo", "bounce.ack", bounce_id, MessageRef(outbox_key=row.key))
    assert again.text == "Kira Novak acknowledged this one already."
    assert len(outbox(c, op="update")) == 1


def test_only_marketing_can_acknowledge_or_send_back(c):
    lead_id = seed_lead(c)
    command(c, "ana", "bounce L-1 not_ready")
    _, bounce_id = _posted(c)
    for action in ("bounce.ack", "bounce.send_back"):
        reply = press(c, "ben", action, bounce_id)
        assert reply.text.startswith("Only marketing (or an admin)")
    assert lead(c, lead_id).status == "nurture" and outbox(c, op="update") == []


def test_send_back_to_sales_requalifies_the_lead_and_updates_the_post(c):
    lead_id = seed_lead(c)
    command(c, "ana", "bounce L-1 not_ready")
    row, bounce_id = _posted(c)
    c.deps.clock.advance(timedelta(days=30))
    reply = press(c, "kira", "bounce.send_back", bounce_id, MessageRef(outbox_key=row.key))
    assert reply.as_message() is None  # nothing to say to Kira: the post itself changes
    assert "Sent back to sales" in json.dumps(reply.updated.to_json())
    back = lead(c, lead_id)
    assert back.status == "qualified" and back.qualified_at == c.deps.now()
    [b] = bounces(c, lead_id)
    assert b.requalified_at == c.deps.now() and b.requalified_by_id == person_id(c, "kira")
    [update] = outbox(c, op="update")
    text = post_text(Message.from_json(update.payload))
    assert f"Sent back to sales by {mention(person_id(c, 'kira'))}" in text
    assert not [blk for blk in Message.from_json(update.payload).blocks if isinstance(blk, Actions)]
    assert outbox(c, destination=f"dm:{person_id(c, 'ana')}"), "the owner gets the handoff"
    again = press(c, "leo", "bounce.send_back", bounce_id, MessageRef(outbox_key=row.key))
    assert "nothing to send back" in again.text


def test_a_crm_requalification_updates_the_marketing_post_and_leaves_no_buttons(c):
    from handlers.events import validate_events
    from handlers.ingest import ingest_events

    lead_id = seed_lead(c)
    command(c, "ana", "bounce L-1 not_ready")
    row, bounce_id = _posted(c)
    c.deps.clock.advance(timedelta(days=30))
    events, _ = validate_events(
        [{"id": "crm-q-1", "type": "lead.qualified", "occurred_at": "2026-12-23T15:00:00Z", "data": {"id": "L-1"}}]
    )
    ingest_events(c.registry, c.uow_factory, c.deps, events)
    assert lead(c, lead_id).status == "qualified"
    [b] = bounces(c, lead_id)
    assert b.requalified_at == c.deps.now() and b.requalified_by_id is None
    [update] = outbox(c, op="update")
    assert update.target_key == row.key
    msg = Message.from_json(update.payload)
    assert "Back in sales (re-qualified in the CRM)" in post_text(msg)
    assert not [blk for blk in msg.blocks if isinstance(blk, Actions)]
    again = press(c, "kira", "bounce.send_back", bounce_id, MessageRef(outbox_key=row.key))
    assert "nothing to send back" in again.text and len(outbox(c, op="update")) == 1  # no second update


# --- back to the CRM --------------------------------------------------------------------------


def test_with_an_outbound_webhook_the_bounce_and_the_requalification_are_queued_for_the_crm(make_container):
    from bot.config import load_config

    config = load_config(None)
    config.outbound_webhook = OutboundWebhook(url="http://127.0.0.1:9/crm", secret="s3cret-s3cret")
    c = make_container(config=config)
    seed_lead(c)
    command(c, "ana", "bounce L-1 no_budget Maybe next year")
    [hook] = outbox(c, op="webhook")
    assert hook.destination == "webhook:crm"
    p = hook.payload
    assert p["type"] == "lead.bounced" and p["id"] and p["occurred_at"].startswith("2026-11-23T15:00:00")
    assert p["data"] == {
        "lead_id": "L-1",
        "email": "jane@acme.example",
        "bounce_id": p["data"]["bounce_id"],
        "reason": "no_budget",
        "reason_label": "No budget",
        "note": "Maybe next year",
        "by_email": "ana@northwind.example",
        "repeat": False,
        "bounce_count": 1,
        "status": "nurture",
        "campaign_id": "C-Spring Webinar",
    }
    _, bounce_id = _posted(c)
    press(c, "kira", "bounce.send_back", bounce_id)
    requalified = outbox(c, op="webhook")[1].payload
    assert requalified["type"] == "lead.requalified"
    assert requalified["data"]["by_email"] == "kira@northwind.example"
    assert requalified["data"]["status"] == "qualified"


def test_without_an_outbound_webhook_nothing_is_queued_for_the_crm(c):
    seed_lead(c)
    command(c, "ana", "bounce L-1 no_budget")
    assert outbox(c, op="webhook") == []


def test_help_lists_the_bounce_command(c):
    assert "/smarketing bounce <lead> [reason] [note]" in command(c, "ana", "help").message.text
