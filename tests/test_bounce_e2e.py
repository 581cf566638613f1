"""Bounce-back end to end: signed Slack requests to the real server, Slack's Web API stood in
for by the local mock, messages delivered by the live outbox dispatcher."""

from __future__ import annotations

import json
import time
from datetime import timedelta


from bot.scheduler import run_job
from bot.slack.blocks import parse_action_id
from bot.signing import HEADER, sign
from tests import slack_requests as sr
from tests.bounce_helpers import bounces, lead, outbox, seed_lead
from tests.conftest import WEBHOOK_SECRET, post_slack


def names(text: str, slack_id: str, name: str) -> bool:
    """Whether ``text`` mentions the person: ``<@U..>`` when the renderer links the id, else by name
    (the mock's ids such as ``U_KIRA`` are not real Slack ids, so the renderer uses names)."""
    return f"<@{slack_id}>" in text or name in text


def rendered_text(message: dict) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        parts.append((block.get("text") or {}).get("text", ""))
        parts.extend(f["text"] for f in block.get("fields") or [])
        for element in block.get("elements") or []:  # context texts and buttons
            inner = element.get("text") or ""
            parts.append(inner if isinstance(inner, str) else inner.get("text", ""))
    return "\n".join(parts)


def delivered(slack, channel: str, count: int = 1, timeout: float = 5) -> list[dict]:
    """The messages in ``channel`` once there are ``count`` (the dispatcher delivers them)."""
    deadline = time.monotonic() + timeout
    while len(slack.messages(channel)) < count and time.monotonic() < deadline:
        seen = len(slack.successful_calls("chat.postMessage"))
        try:  # woken by the next post, wherever it goes
            slack.wait_for("chat.postMessage", seen + 1, timeout=max(deadline - time.monotonic(), 0.01))
        except AssertionError:
            break
    found = slack.messages(channel)
    assert len(found) >= count, f"{len(found)} message(s) in {channel}, expected {count}"
    return found


def post_crm(http, events):
    body = json.dumps(events).encode()
    return http.post(
        "/webhooks/crm", content=body, headers={HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
    )


def lead_qualified(event_id: str, crm_id: str, *, score: int) -> dict:
    return {
        "id": event_id,
        "type": "lead.qualified",
        "occurred_at": "2026-11-23T15:00:00Z",
        "data": {
            "id": crm_id,
            "email": "jane@acme.example",
            "name": "Jane Doe",
            "company": "Acme",
            "score": score,
            "status": "SQL",
            "owner_email": "ana@northwind.example",
        },
    }


def lead_id_of(c, crm_id: str) -> int:
    with c.uow_factory() as uow:
        return uow.leads.by_crm_id(crm_id).id


def marketing_post(slack) -> dict:
    [post] = delivered(slack, "C_MARKETING")
    return post


def button(message: dict, label: str) -> dict:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element
    raise AssertionError(f"no {label!r} button in {message.get('blocks')}")


# --- the slash command --------------------------------------------------------------------------


def test_a_slash_command_with_a_reason_bounces_the_lead_and_tells_marketing(app, slack):
    lead_id = seed_lead(app.container, qualified_days_ago=4.2, follow_ups=3)
    with app.client() as http:
        resp = post_slack(http, sr.slash_command("bounce L-1 not_ready Circle back in Q2", user_id="U_ANA"))
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["response_type"] == "ephemeral"
    assert "Bounced *Jane Doe* (Acme) back to marketing: _Not ready to buy_" in answer["text"]
    assert lead(app.container, lead_id).status == "nurture"

    post = marketing_post(slack)
    text = rendered_text(post)
    assert post["blocks"][0]["text"]["text"] == "Bounced back: Jane Doe"
    assert "sent *Jane Doe* (Acme) back to marketing: *Not ready to buy*" in text
    assert names(text, "U_ANA", "Ana Torres")
    assert "&gt; Circle back in Q2" in text  # the note, quoted
    assert "*Company*\nAcme" in text
    assert "*Source campaign*\nSpring Webinar · " in text and names(text, "U_KIRA", "Kira Novak")
    assert "*Score*\n85" in text
    assert "*Days in sales*\n4 days" in text
    assert "*Follow-ups logged*\n3" in text
    assert "jane@acme.example" in text and "L-1" not in text  # how to name it, not the CRM's id
    assert [b["text"]["text"] for b in post["blocks"][-1]["elements"]] == [
        "Acknowledge",
        "Send back to sales",
        "Add to review",
    ]  # the demo's review


def test_a_slash_command_without_a_reason_opens_the_form_within_slacks_three_seconds(app, slack):
    lead_id = seed_lead(app.container)
    with app.client() as http:
        started = time.perf_counter()
        resp = post_slack(http, sr.slash_command("bounce jane@acme.example", user_id="U_ANA"))
        elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and elapsed < 3.0
    [opened] = slack.calls("views.open")  # opened during the request, with its trigger_id
    view = opened["view"]
    assert view["callback_id"] == "bounce.submit" and view["private_metadata"] == f"{lead_id}@0"
    reason = next(b for b in view["blocks"] if b.get("block_id") == "reason")
    assert reason["optional"] is False
    assert [o["text"]["text"] for o in reason["element"]["options"]][:3] == [
        "Not ready to buy",
        "No budget",
        "Wrong contact",
    ]
    note = next(b for b in view["blocks"] if b.get("block_id") == "note")
    assert note["element"]["max_length"] == 500 and note["element"]["multiline"] is True
    assert "*Jane Doe* (Acme)" in view["blocks"][0]["text"]["text"]
    assert lead(app.container, lead_id).status == "qualified"


def test_submitting_the_form_with_a_valid_reason_bounces_the_lead(app, slack):
    lead_id = seed_lead(app.container)
    values = {
        "reason": {"reason": {"type": "static_select", "selected_option": {"value": "wrong_contact"}}},
        "note": {"note": "Their CFO decides, not her"},
    }
    with app.client() as http:
        resp = post_slack(
            http, sr.view_submission("bounce.submit", values, user_id="U_ANA", private_metadata=str(lead_id))
        )
    assert resp.status_code == 200 and resp.text == ""  # the modal closes
    [b] = bounces(app.container, lead_id)
    assert (b.reason, b.note) == ("wrong_contact", "Their CFO decides, not her")
    [confirmation] = slack.messages("U_ANA")  # a modal has nowhere to answer: a DM
    assert "back to marketing: _Wrong contact_" in confirmation["text"]
    assert "*Wrong contact*" in rendered_text(marketing_post(slack))


def test_submitting_an_over_long_note_shows_an_inline_error_and_changes_nothing(app, slack):
    lead_id = seed_lead(app.container)
    values = {
        "reason": {"reason": {"type": "static_select", "selected_option": {"value": "not_ready"}}},
        "note": {"note": "n" * 501},
    }
    with app.client() as http:
        resp = post_slack(
            http, sr.view_submission("bounce.submit", values, user_id="U_ANA", private_metadata=str(lead_id))
        )
    assert resp.status_code == 200
    assert resp.json() == {
        "response_action": "errors",
        "errors": {"note": "The note is 501 characters; please keep it to 500."},
    }
    assert bounces(app.container, lead_id) == [] and lead(app.container, lead_id).status == "qualified"
    assert outbox(app.container) == []


def test_the_bounce_button_on_a_cooling_alert_opens_the_form(app, slack):
    c = app.container
    # The CRM hands a lead to sales; nobody follows up; the cooling ladder DMs the owner.
    with app.client() as http:
        assert post_crm(http, lead_qualified("evt-q-7", "L-7", score=75)).status_code == 200
    c.deps.clock.advance(timedelta(hours=5))  # past the 4 business hours of a warm lead
    assert run_job(c, "cooling").done >= 1
    alert = next(m for m in delivered(slack, "U_ANA", count=2) if m["text"].startswith("🔥 SLA breached"))
    bounce_button = button(alert, "Bounce to marketing")
    assert parse_action_id(bounce_button["action_id"]) == "bounce.open"
    with app.client() as http:
        started = time.perf_counter()
        resp = post_slack(
            http, sr.block_actions(bounce_button["action_id"], bounce_button["value"], user_id="U_ANA", message=alert)
        )
        elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and elapsed < 3.0
    [opened] = slack.calls("views.open")  # opened during the request
    lead_id = lead_id_of(c, "L-7")
    assert opened["view"]["callback_id"] == "bounce.submit"
    assert opened["view"]["private_metadata"] == f"{lead_id}@1"  # the lead as the alert showed it
    assert "*Jane Doe* (Acme)" in opened["view"]["blocks"][0]["text"]["text"]


def test_a_bounce_by_someone_not_allowed_is_refused_ephemerally_and_nothing_changes(app, slack):
    lead_id = seed_lead(app.container)
    with app.client() as http:
        resp = post_slack(http, sr.slash_command("bounce L-1 not_ready", user_id="U_BEN"))
    answer = resp.json()
    assert answer["response_type"] == "ephemeral"
    assert answer["text"] == (
        "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can bounce this lead back to marketing."
    )
    assert lead(app.container, lead_id).status == "qualified" and bounces(app.container, lead_id) == []
    assert outbox(app.container) == [] and slack.calls("views.open") == []


def test_an_unknown_lead_gets_a_specific_answer(app):
    with app.client() as http:
        resp = post_slack(http, sr.slash_command("bounce L-404 not_ready", user_id="U_ANA"))
    assert resp.json()["text"] == "No lead matches 'L-404' — use its CRM id or email."


# --- the marketing post's buttons --------------------------------------------------------------


def test_acknowledge_and_send_back_to_sales_update_the_marketing_post_in_place(app, slack):
    c = app.container
    lead_id = seed_lead(c)
    with app.client() as http:
        post_slack(http, sr.slash_command("bounce L-1 not_ready", user_id="U_ANA"))
        post = marketing_post(slack)
        ack = button(post, "Acknowledge")
        assert (
            post_slack(
                http, sr.block_actions(ack["action_id"], ack["value"], user_id="U_KIRA", message=post)
            ).status_code
            == 200
        )
        slack.wait_for("chat.update")
        [post] = slack.messages("C_MARKETING")
        assert "Acknowledged by" in rendered_text(post) and names(rendered_text(post), "U_KIRA", "Kira Novak")
        back = button(post, "Send back to sales")
        assert (
            post_slack(
                http, sr.block_actions(back["action_id"], back["value"], user_id="U_KIRA", message=post)
            ).status_code
            == 200
        )
        slack.wait_for("chat.update", 2)
    [post] = slack.messages("C_MARKETING")  # still one post, updated twice
    text = rendered_text(post)
    assert "Acknowledged by" in text and "Sent back to sales by" in text
    assert not [b for b in post["blocks"] if b["type"] == "actions"]
    assert lead(c, lead_id).status == "qualified"
    [b] = bounces(c, lead_id)
    assert b.requalified_at == c.deps.now()


def test_sent_back_to_sales_the_owner_gets_the_handoff_with_the_bounce_history(app, slack):
    lead_id = seed_lead(app.container)
    with app.client() as http:
        post_slack(http, sr.slash_command("bounce L-1 no_budget Budget frozen until March", user_id="U_ANA"))
        post = marketing_post(slack)
        back = button(post, "Send back to sales")
        post_slack(http, sr.block_actions(back["action_id"], back["value"], user_id="U_KIRA", message=post))
    handoff = _handoff(slack)
    assert "Sent back to sales by" in handoff and names(handoff, "U_KIRA", "Kira Novak")
    assert "Bounced before: " in handoff and "No budget" in handoff and "Budget frozen until March" in handoff
    assert lead(app.container, lead_id).status == "qualified"


def test_a_new_lead_qualified_event_for_a_bounced_lead_shows_its_history_in_the_handoff(app, slack):
    lead_id = seed_lead(app.container)
    with app.client() as http:
        post_slack(http, sr.slash_command("bounce L-1 unresponsive Three calls, no answer", user_id="U_ANA"))
        marketing_post(slack)
        resp = post_crm(http, lead_qualified("evt-requalify-1", "L-1", score=92))
    assert resp.status_code == 200, resp.text
    assert lead(app.container, lead_id).status == "qualified"
    handoff = _handoff(slack)
    assert "(bounced 1 time before)" in handoff
    assert "Bounced before: " in handoff and "Unresponsive" in handoff and "Three calls, no answer" in handoff


def _handoff(slack) -> str:
    """The text of the owner's newest DM (the handoff), once delivered."""
    return rendered_text(delivered(slack, "U_ANA")[-1])
