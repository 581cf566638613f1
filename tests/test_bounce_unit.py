"""``/smarketing bounce`` on the in-memory unit of work (tests/fake_uow.py): who may bounce a lead,
what a bounce stores and queues (the lead back with marketing, the bounce, the marketing post, the
CRM's event), the form, the marketing post's buttons, and every refusal, which stores and queues
nothing. No database: tests/test_bounce.py keeps the repository queries the fake imitates and what
a real database adds (rendering for Slack, a CRM re-qualification through ingestion). The clock is
Monday 2026-11-23 15:00 UTC."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from handlers.commands import run_command
from handlers.config import OutboundWebhook, load_config
from handlers.messages import Actions, Message, mention
from handlers.ports import Actor
from handlers.registry import MessageRef
from tests.fake_uow import FakeApp, FakeCampaign, FakeLead

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)


@pytest.fixture
def c() -> FakeApp:
    return FakeApp(at=NOW)


def seed_lead(
    c: FakeApp,
    *,
    crm_id: str = "L-1",
    owner: str | None = "ana",
    email: str = "jane@acme.example",
    name: str = "Jane Doe",
    status: str = "qualified",
    campaign: str | None = "Spring Webinar",
    follow_ups: int = 2,
    qualified_days_ago: float = 3,
) -> int:
    """A lead handed to ``owner`` ``qualified_days_ago`` days ago from a campaign Kira runs, with
    ``follow_ups`` follow-ups logged since; its id."""
    qualified_at = NOW - timedelta(days=qualified_days_ago)
    with c.uow_factory() as uow:
        camp = None
        if campaign:
            camp = uow.campaigns.add(
                FakeCampaign(crm_id=f"C-{campaign}", name=campaign, kind="webinar", owner_id=c.person_id("kira"))
            )
        owner_id = c.person_id(owner) if owner else None
        lead = uow.leads.add(
            FakeLead(
                crm_id=crm_id,
                email=email,
                name=name,
                company="Acme",
                title="VP Operations",
                status=status,
                score=85,
                owner_id=owner_id,
                source_campaign_id=camp.id if camp else None,
                qualified_at=qualified_at,
                sla_started_at=qualified_at,
                sla_due_at=qualified_at + timedelta(hours=4),
                next_alert_at=NOW + timedelta(hours=1),
                created_at=qualified_at,
                touch_count=follow_ups,
            )
        )
        uow.leads.add_touches(
            [
                dict(lead_id=lead.id, person_id=owner_id, source="crm", note=f"call {i + 1}", occurred_at=at)
                for i, at in enumerate(qualified_at + timedelta(hours=h + 1) for h in range(follow_ups))
            ]
        )
        uow.commit()
        return lead.id


def lead(c: FakeApp, lead_id: int):
    with c.uow_factory() as uow:
        return uow.leads.get(lead_id)


def bounces(c: FakeApp, lead_id: int):
    with c.uow_factory() as uow:
        return uow.bounces.for_lead(lead_id)


def queued(c: FakeApp, *, op: str | None = None, destination: str | None = None):
    """What is queued in the outbox, oldest first (filtered)."""
    with c.uow_factory() as uow:
        rows = uow.outbox.rows()
    return [r for r in rows if (op is None or r.op == op) and (destination is None or r.destination == destination)]


def post_text(msg: Message) -> str:
    parts = [msg.text]
    for b in msg.blocks:
        parts.append(getattr(b, "text", "") or "")
        parts.extend(f"{k}: {v}" for k, v in getattr(b, "fields", []))
        parts.extend(btn.label for btn in getattr(b, "buttons", []))
    return "\n".join(parts)


def marketing_posts(c: FakeApp) -> list[Message]:
    return [Message.from_json(r.payload) for r in queued(c, op="post", destination="channel:marketing")]


def untouched(c: FakeApp, lead_id: int) -> bool:
    """Nothing happened to the lead: still with sales, no bounce stored, nothing queued."""
    back = lead(c, lead_id)
    return (
        (back.status, back.bounce_count, back.version) == ("qualified", 0, 0)
        and not bounces(c, lead_id)
        and (queued(c) == [])
    )


# --- one step ---------------------------------------------------------------------------------


def test_a_known_reason_bounces_the_lead_back_to_marketing_and_marketing_is_told(c):
    lead_id = seed_lead(c)
    reply = c.command("ana", "bounce L-1 not_ready Circle back in Q2, budget frozen")
    assert reply.text == (
        "Bounced *Jane Doe* (Acme) back to marketing: _Not ready to buy_. Its SLA alerts have stopped; "
        "marketing has been told."
    )
    back = lead(c, lead_id)
    assert (back.status, back.bounce_count, back.version) == ("nurture", 1, 1)
    assert back.next_alert_at is None and back.sla_due_at is None, "its SLA ladder stopped"
    [b] = bounces(c, lead_id)
    assert (b.reason, b.note, b.by_person_id, b.at, b.repeat) == (
        "not_ready",
        "Circle back in Q2, budget frozen",
        c.person_id("ana"),
        NOW,
        False,
    )
    assert b.campaign_id == back.source_campaign_id is not None
    [row] = queued(c)
    assert (row.key, row.destination, row.role, row.subject) == (
        f"bounce:{b.id}:post",
        "channel:marketing",
        "bounce_post",
        f"lead:{lead_id}",
    )
    text = post_text(Message.from_json(row.payload))
    assert f"{mention(c.person_id('ana'))} sent *Jane Doe* (Acme) back to marketing: *Not ready to buy*" in text
    assert "> Circle back in Q2, budget frozen" in text


def test_the_lead_can_be_named_by_its_email_in_any_case_and_a_reason_with_dashes(c):
    lead_id = seed_lead(c)
    assert c.command("ana", "bounce JANE@acme.example no-budget").text.startswith("Bounced *Jane Doe* (Acme)")
    assert [b.reason for b in bounces(c, lead_id)] == ["no_budget"]


def test_the_marketing_post_carries_the_leads_context_and_its_buttons(c):
    seed_lead(c, qualified_days_ago=3.5, follow_ups=2)
    c.command("ana", "bounce L-1 no_budget They spent it all on a competitor")
    [post] = marketing_posts(c)
    text = post_text(post)
    assert "Company: Acme" in text
    assert f"Source campaign: Spring Webinar · {mention(c.person_id('kira'))}" in text  # its owner mentioned
    assert "Score: 85" in text
    assert "Days in sales: 3 days" in text
    assert "Follow-ups logged: 2" in text
    assert "Bounced again" not in text
    [actions] = [b for b in post.blocks if isinstance(b, Actions)]
    assert [(b.label, b.action) for b in actions.buttons] == [
        ("Acknowledge", "bounce.ack"),
        ("Send back to sales", "bounce.send_back"),
        ("Add to review", "review.add"),
    ]


def test_a_second_bounce_for_the_same_reason_is_marked_as_a_repeat(c):
    lead_id = seed_lead(c)
    c.command("ana", "bounce L-1 not_ready")
    with c.uow_factory() as uow:  # back in sales (re-qualified), then bounced again
        uow.leads.get(lead_id).status = "qualified"
        uow.commit()
    c.command("ana", "bounce L-1 no_budget")
    with c.uow_factory() as uow:
        uow.leads.get(lead_id).status = "qualified"
        uow.commit()
    c.command("ana", "bounce L-1 not_ready still not ready")
    assert [(b.reason, b.repeat) for b in bounces(c, lead_id)] == [
        ("not_ready", False),
        ("no_budget", False),
        ("not_ready", True),
    ]
    assert lead(c, lead_id).bounce_count == 3
    last = post_text(marketing_posts(c)[2])
    assert "*Bounced again for the same reason* — this is the lead's 3rd bounce" in last


def test_the_messages_still_following_the_lead_are_updated_and_stop_following_it(c):
    lead_id = seed_lead(c)
    with c.uow_factory() as uow:  # the handoff DM Ana got
        uow.outbox.add(
            key=f"cooling:{lead_id}:0:handoff",
            destination=f"dm:{c.person_id('ana')}",
            payload=Message(text="New lead: Jane Doe").to_json(),
            at=NOW - timedelta(days=3),
            subject=f"lead:{lead_id}",
            role="handoff",
        )
        uow.commit()
    c.command("ana", "bounce L-1 not_ready")
    [handoff, post] = queued(c, op="post")
    [update] = queued(c, op="update")
    assert (update.op, update.target_key, update.destination) == ("update", handoff.key, handoff.destination)
    assert update.key == f"{handoff.key}:v1"
    assert handoff.subject is None, "settled: the lead left sales"
    assert post.subject == f"lead:{lead_id}", "the marketing post follows the lead"
    assert "bounced this lead to marketing" in post_text(Message.from_json(update.payload))


def test_without_a_marketing_channel_the_bounce_is_stored_and_nobody_is_posted_to():
    config = load_config(None)
    del config.teams["marketing"]  # no marketing team: no channel to tell
    c = FakeApp(config=config, at=NOW)
    lead_id = seed_lead(c)
    reply = c.command("ana", "bounce L-1 duplicate")
    assert reply.text.endswith("Its SLA alerts have stopped.")
    assert len(bounces(c, lead_id)) == 1 and queued(c) == []


# --- refusals: nothing stored, nothing queued --------------------------------------------------


@pytest.mark.parametrize(
    "who, text, says",
    [
        (
            "ana",
            "bounce nobody@nowhere.example not_ready",
            "No lead matches 'nobody@nowhere.example' — use its CRM id or email.",
        ),
        (
            "ana",
            "bounce L-1 not_ready " + "y" * 501,
            "The note is 501 characters; please keep it to 500.",
        ),
        (
            "ben",
            "bounce L-1 not_ready",
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can bounce this lead back to marketing.",
        ),
        (
            "kira",
            "bounce L-1 not_ready",
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can bounce this lead back to marketing.",
        ),
        (
            "ben",
            "bounce L-1",
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can bounce this lead back to marketing.",
        ),
    ],
    ids=["unknown lead", "note too long", "not the owner", "marketing", "not the owner, form"],
)
def test_a_refused_bounce_says_why_and_stores_and_queues_nothing(c, who, text, says):
    lead_id = seed_lead(c)
    reply = c.command(who, text)
    assert reply.text == says and reply.form is None
    assert untouched(c, lead_id)


def test_no_arguments_explains_the_usage_with_the_configs_reasons(c):
    text = c.command("ana", "bounce").text
    assert "/smarketing bounce <lead> [reason] [note]" in text
    assert all(f"`{r.code}`" in text for r in c.deps.config.bounce.reasons)


def test_several_matching_leads_are_listed_and_none_is_bounced(c):
    first = seed_lead(c, crm_id="L-1", email="info@acme.example", name="Jane Doe")
    second = seed_lead(c, crm_id="L-2", email="info@acme.example", name="John Roe", campaign=None)
    text = c.command("ana", "bounce info@acme.example not_ready").text
    assert text.startswith("Several leads match 'info@acme.example'")
    assert text.index("`L-1` Jane Doe") < text.index("`L-2` John Roe")
    assert untouched(c, first) and untouched(c, second)


@pytest.mark.parametrize(
    "status, says",
    [
        ("nurture", "*Jane Doe* (Acme) is already back with marketing."),
        ("converted", "*Jane Doe* (Acme) was won: it is a customer now, so there is nothing to bounce."),
    ],
)
def test_a_lead_no_longer_with_sales_cannot_be_bounced(c, status, says):
    lead_id = seed_lead(c, status=status)
    assert c.command("ana", "bounce L-1 not_ready").text == says
    assert bounces(c, lead_id) == [] and lead(c, lead_id).bounce_count == 0 and queued(c) == []


def test_a_lead_nobody_owns_is_a_sales_managers_to_bounce(c):
    lead_id = seed_lead(c, owner=None)
    assert c.command("ana", "bounce L-1 not_ready").text == (
        "Nobody owns this lead yet: claim it first (its Claim button is in the sales channel)."
    )
    assert untouched(c, lead_id)
    c.command("maya", "bounce L-1 not_ready")
    assert lead(c, lead_id).status == "nurture"


@pytest.mark.parametrize("who", ["ana", "maya", "sam"], ids=["the owner", "the owner's manager", "an admin"])
def test_the_owner_their_manager_and_an_admin_may_bounce(c, who):
    lead_id = seed_lead(c)
    c.command(who, "bounce L-1 duplicate")
    assert lead(c, lead_id).status == "nurture"
    assert [b.by_person_id for b in bounces(c, lead_id)] == [c.person_id(who)]


def test_someone_unknown_to_the_bot_or_who_left_is_refused(c):
    lead_id = seed_lead(c)
    stranger = Actor(None, "slack", "U_STRANGER")
    reply = run_command(c.registry, c.uow_factory, c.deps, stranger, "bounce L-1 not_ready")
    assert reply.text.startswith("I don't know who you are yet")
    with c.uow_factory() as uow:
        uow.people.get(c.person_id("ana")).active = False
        uow.commit()
    assert c.command("ana", "bounce L-1 not_ready").text.startswith("Your account is marked as having left")
    assert untouched(c, lead_id)


# --- the form -----------------------------------------------------------------------------------


def test_without_a_reason_the_command_opens_the_form_with_the_configs_reasons(c):
    lead_id = seed_lead(c)
    form = c.command("ana", "bounce L-1").form
    assert form.action == "bounce.submit" and form.state == f"{lead_id}@0"
    reason, note = form.inputs
    assert reason.required and reason.kind == "select"
    assert [(o.value, o.label) for o in reason.options] == [(r.code, r.label) for r in c.deps.config.bounce.reasons]
    assert note.kind == "textarea" and note.max_length == 500 and not note.required and note.initial is None
    assert "*Jane Doe* (Acme)" in form.blocks[0].text
    assert untouched(c, lead_id), "nothing happened yet"


def test_an_unknown_reason_opens_the_form_keeping_what_was_typed_as_the_note(c):
    lead_id = seed_lead(c)
    form = c.command("ana", "bounce L-1 they went with a competitor").form
    assert form.inputs[1].initial == "they went with a competitor"
    assert untouched(c, lead_id)


def test_the_bounce_button_opens_the_same_form_and_its_submission_bounces_the_lead(c):
    lead_id = seed_lead(c)
    form = c.action("ana", "bounce.open", f"{lead_id}@0").form
    assert form.action == "bounce.submit" and form.state == f"{lead_id}@0"
    reply = c.form("ana", "bounce.submit", {"reason": "wrong_contact", "note": "Talk to their CFO"}, state=form.state)
    assert reply.text.startswith("Bounced *Jane Doe* (Acme) back to marketing: _Wrong contact_.")
    assert [(b.reason, b.note) for b in bounces(c, lead_id)] == [("wrong_contact", "Talk to their CFO")]
    assert len(marketing_posts(c)) == 1


@pytest.mark.parametrize(
    "values, errors",
    [
        ({"reason": "not_ready", "note": "x" * 501}, {"note": "The note is 501 characters; please keep it to 500."}),
        ({"reason": None, "note": "hm"}, {"reason": "Pick a reason from the list."}),
        ({"reason": "bored", "note": None}, {"reason": "Pick a reason from the list."}),
    ],
)
def test_a_bad_submission_is_an_inline_error_and_nothing_changes(c, values, errors):
    lead_id = seed_lead(c)
    assert c.form("ana", "bounce.submit", values, state=f"{lead_id}@0").errors == errors
    assert untouched(c, lead_id)


def test_a_form_opened_before_the_lead_changed_is_out_of_date_and_changes_nothing_more(c):
    lead_id = seed_lead(c)
    c.command("ana", "bounce L-1 not_ready")
    reply = c.form("ana", "bounce.submit", {"reason": "no_budget", "note": None}, state=f"{lead_id}@0")
    assert reply.text.startswith("Ana Torres bounced this lead to marketing at")
    assert reply.text.endswith("This message is out of date; it now shows where the lead stands.")
    assert [b.reason for b in bounces(c, lead_id)] == ["not_ready"] and len(queued(c)) == 1


def test_someone_else_pressing_the_bounce_button_or_submitting_the_form_is_refused(c):
    lead_id = seed_lead(c)
    for reply in (
        c.action("ben", "bounce.open", f"{lead_id}@0"),
        c.form("ben", "bounce.submit", {"reason": "not_ready", "note": None}, state=f"{lead_id}@0"),
    ):
        assert reply.text.startswith("Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin")
        assert reply.form is None
    assert untouched(c, lead_id)


# --- the marketing post's buttons ---------------------------------------------------------------


def bounced(c: FakeApp) -> tuple[int, str, MessageRef]:
    """Ana bounces L-1: its lead id, the bounce id (the post's button value) and the post."""
    lead_id = seed_lead(c)
    c.command("ana", "bounce L-1 not_ready")
    [row] = queued(c, destination="channel:marketing")
    bounce_id = Message.from_json(row.payload).blocks[-1].buttons[0].value
    return lead_id, bounce_id, MessageRef(outbox_key=row.key)


def test_acknowledge_updates_the_marketing_post_in_place_once(c):
    lead_id, bounce_id, ref = bounced(c)
    reply = c.action("kira", "bounce.ack", bounce_id, ref)
    assert reply.as_message() is None, "nothing to say to Kira: the post itself changes"
    [update] = queued(c, op="update")
    assert reply.updated.to_json() == update.payload
    assert (update.target_key, update.destination) == (ref.outbox_key, "channel:marketing")
    updated = Message.from_json(update.payload)
    assert f"Acknowledged by {mention(c.person_id('kira'))}" in post_text(updated)
    assert [b.label for b in updated.blocks[-1].buttons] == ["Send back to sales"]
    [b] = bounces(c, lead_id)
    assert (b.acknowledged_by_id, b.acknowledged_at) == (c.person_id("kira"), NOW)
    again = c.action("leo", "bounce.ack", bounce_id, ref)
    assert again.text == "Kira Novak acknowledged this one already."
    assert len(queued(c, op="update")) == 1 and bounces(c, lead_id)[0].acknowledged_by_id == c.person_id("kira")


def test_only_marketing_can_acknowledge_or_send_back(c):
    lead_id, bounce_id, ref = bounced(c)
    for action in ("bounce.ack", "bounce.send_back"):
        reply = c.action("ben", action, bounce_id, ref)
        assert reply.text == "Only marketing (or an admin) can acknowledge a bounce or send the lead back to sales."
    assert lead(c, lead_id).status == "nurture" and queued(c, op="update") == []
    assert bounces(c, lead_id)[0].acknowledged_by_id is None


@pytest.mark.parametrize("value", ["999999", "abc", ""])
def test_a_button_naming_no_bounce_says_so(c, value):
    bounced(c)
    assert c.action("kira", "bounce.ack", value).text == "That bounce is no longer in the system."


def test_send_back_to_sales_requalifies_the_lead_hands_it_to_its_owner_and_updates_the_post(c):
    lead_id, bounce_id, ref = bounced(c)
    c.deps.clock.advance(timedelta(days=30))
    later = c.deps.now()
    reply = c.action("kira", "bounce.send_back", bounce_id, ref)
    assert reply.as_message() is None
    assert "Sent back to sales" in json.dumps(reply.updated.to_json())
    back = lead(c, lead_id)
    assert (back.status, back.qualified_at) == ("qualified", later)
    [b] = bounces(c, lead_id)
    assert (b.requalified_at, b.requalified_by_id) == (later, c.person_id("kira"))
    [update] = queued(c, op="update")
    updated = Message.from_json(update.payload)
    assert f"Sent back to sales by {mention(c.person_id('kira'))}" in post_text(updated)
    assert not [blk for blk in updated.blocks if isinstance(blk, Actions)], "no buttons left"
    [handoff] = queued(c, destination=f"dm:{c.person_id('ana')}")
    assert handoff.role == "handoff" and "Not ready to buy" in post_text(Message.from_json(handoff.payload))
    again = c.action("leo", "bounce.send_back", bounce_id, ref)
    assert again.text.startswith("Jane Doe (Acme) is with sales (Kira Novak sent this lead back to sales at")
    assert again.text.endswith("nothing to send back.")
    assert len(queued(c, op="update")) == 1 and lead(c, lead_id).version == 2


# --- back to the CRM ----------------------------------------------------------------------------


def test_with_an_outbound_webhook_the_bounce_and_the_requalification_are_queued_for_the_crm():
    config = load_config(None)
    config.outbound_webhook = OutboundWebhook(url="http://127.0.0.1:9/crm", secret="s3cret-s3cret")
    c = FakeApp(config=config, at=NOW)
    _, bounce_id, ref = bounced(c)
    [hook] = queued(c, op="webhook")
    assert (hook.key, hook.destination) == (f"webhook:bounce:{bounce_id}:bounced", "webhook:crm")
    p = hook.payload
    assert (p["type"], p["id"], p["occurred_at"]) == ("lead.bounced", f"bounce:{bounce_id}:bounced", NOW.isoformat())
    assert p["data"] == {
        "lead_id": "L-1",
        "email": "jane@acme.example",
        "bounce_id": int(bounce_id),
        "reason": "not_ready",
        "reason_label": "Not ready to buy",
        "note": None,
        "by_email": "ana@northwind.example",
        "repeat": False,
        "bounce_count": 1,
        "status": "nurture",
        "campaign_id": "C-Spring Webinar",
    }
    c.action("kira", "bounce.send_back", bounce_id, ref)
    requalified = queued(c, op="webhook")[1].payload
    assert requalified["type"] == "lead.requalified"
    assert requalified["data"]["by_email"] == "kira@northwind.example"
    assert requalified["data"]["status"] == "qualified"


def test_without_an_outbound_webhook_nothing_is_queued_for_the_crm(c):
    bounced(c)
    assert queued(c, op="webhook") == []
