"""Bounce-back on a real database: a bounce, its marketing post and its buttons end to end, what a
refusal leaves stored, a CRM re-qualification, the CRM's events, and the repository queries the
in-memory unit of work imitates. The rules themselves are in tests/test_bounce_unit.py."""

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


def test_text_typed_into_a_note_cannot_mention_or_ping_anyone(c):
    seed_lead(c)
    maya = person_id(c, "maya")
    command(c, "ana", f"bounce L-1 other ask <person:{maya}> and <!channel>")
    [post] = marketing_posts(c)
    rendered = json.dumps(render_message(post, lambda pid: (f"P{pid}", f"U{pid}X")))
    assert f"<@U{maya}X>" not in rendered and "<!channel>" not in rendered
    assert "&lt;!channel&gt;" in rendered
    assert f"<@U{person_id(c, 'ana')}X>" in rendered  # the real mention of who bounced it stays


# --- a refusal on a real database --------------------------------------------------------------
# The command's, the form's and the buttons' rules (who may, bad input, the form, repeats) are in
# tests/test_bounce_unit.py, on the in-memory unit of work.


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


# --- storage: the queries tests/fake_uow.py stands in for ---------------------------------------


def test_the_repositories_find_leads_and_keep_bounces_events_and_messages_as_the_fake_does(c):
    from storage.models import Bounce

    first = seed_lead(c, crm_id="L-1", email="info@acme.example")
    second = seed_lead(c, crm_id="L-2", email="info@acme.example", campaign=None, follow_ups=0)
    now = c.deps.now()
    with c.uow_factory() as uow:
        assert [x.id for x in uow.leads.find(" INFO@acme.example ")] == [first, second]  # lower-cased, by id
        assert [x.id for x in uow.leads.find("info@acme.example", limit=1)] == [first]
        assert [x.id for x in uow.leads.find("L-2")] == [second] and uow.leads.find("l-2") == []
        assert [t.note for t in uow.leads.touches(first)] == ["call 1", "call 2"]  # oldest first
        uow.leads.add_events(
            [
                dict(lead_id=first, version=v, kind=k, by_person_id=None, owner_id=None, at=now, detail={})
                for v, k in ((1, "bounce"), (2, "send_back"), (3, "snooze"))
            ]
        )
        last = uow.leads.last_events([first, second], ["bounce", "send_back"])
        assert list(last) == [first] and (last[first].kind, last[first].version) == ("send_back", 2)
        later = uow.bounces.add(Bounce(lead_id=first, reason="no_budget", at=now))
        early = uow.bounces.create(lead_id=first, reason="not_ready", at=now - timedelta(days=1))
        assert [b.id for b in uow.bounces.for_lead(first)] == [early.id, later.id]  # by time, then id
        assert uow.bounces.for_leads([first, second]) == {first: [early, later]}
        assert not uow.bounces.facts(lead_id=second, reason="not_ready", since=None).repeat
        assert not uow.bounces.facts(lead_id=first, reason="wrong_fit", since=None).repeat
        # What a bounce records in one query: a repeat, and the follow-ups from a time on (inclusive).
        touched = [t.occurred_at for t in uow.leads.touches(first)]
        facts = uow.bounces.facts(lead_id=first, reason="not_ready", since=None)
        assert (facts.repeat, facts.follow_ups, facts.last_follow_up_at) == (True, 2, touched[-1])
        facts = uow.bounces.facts(lead_id=first, reason="wrong_person", since=touched[-1])
        assert (facts.repeat, facts.follow_ups, facts.last_follow_up_at) == (False, 1, touched[-1])
        facts = uow.bounces.facts(lead_id=first, reason=None, since=touched[-1] + timedelta(seconds=1))
        assert (facts.repeat, facts.follow_ups, facts.last_follow_up_at) == (False, 0, None)
        facts = uow.bounces.facts(lead_id=second, reason="not_ready", since=None)
        assert (facts.repeat, facts.follow_ups, facts.last_follow_up_at) == (False, 0, None)
        early.note = "changed after it was stored"  # written at the next flush, like any loaded row
        assert uow.bounces.for_lead(first)[0] is early
        assert uow.bounces.mark_requalified(lead_ids=[first], at=now) == 2
        assert uow.bounces.mark_requalified(lead_ids=[first], at=now, by_person_id=1) == 0  # only open ones
        assert uow.bounces.get_for_update(early.id).requalified_by_id is None
        uow.commit()
    with c.uow_factory() as uow:
        stored = uow.bounces.get(early.id)
        assert (stored.note, stored.reason, stored.at) == ("changed after it was stored", "not_ready", early.at)
        for key, subject, op in (("a", f"lead:{first}", "post"), ("b", f"lead:{first}", "update"), ("c", None, "post")):
            uow.outbox.add(key=key, destination="channel:sales", payload={}, at=now, subject=subject, op=op)
        assert uow.outbox.add(key="a", destination="channel:x", payload={}, at=now) is False  # queued once
        assert uow.outbox.add_many(
            [dict(key="a", destination="d", payload={}), dict(key="d", destination="d", payload={})], at=now
        ) == {"d"}
        uow.outbox.add(key="e", destination="channel:sales", payload={"n": 1}, at=now, op="update", target_key="a")
        assert uow.outbox.updates_queued_here() == {"a": {"n": 1}}
        assert [r.key for r in uow.outbox.about([f"lead:{first}", f"lead:{second}"])] == ["a"]  # posts only
        uow.outbox.settle(["a"])
        assert uow.outbox.about([f"lead:{first}"]) == [] and uow.outbox.by_key("a").destination == "channel:sales"


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
