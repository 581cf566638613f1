"""Cooling leads end to end: the CRM webhook and Slack's requests signed and sent to the real
server, Slack's Web API stood in for by the local mock, the ``cooling`` job run as
``python -m bot jobs run cooling`` runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from bot.dispatch import wait_until_delivered
from bot.scheduler import run_job
from bot.signing import HEADER, sign
from tests.conftest import demo_config_with_slack, ladder_config, post_slack
from bot.slack.blocks import parse_action_id
from handlers.ports import OffsetClock
from tests import slack_requests as sr
from tests.conftest import ROOT, WEBHOOK_SECRET
from tests.cooling_helpers import hot_lead, ingest, lead, outbox


@pytest.fixture
def app(make_container, slack, live_server):
    # The ladder step by step (the default policy's digests: tests/test_policy.py).
    return live_server(make_container(slack_mock=slack, config=ladder_config(demo_config_with_slack())))


def post_crm(http, *events: dict):
    body = json.dumps(list(events)).encode()
    return http.post(
        "/webhooks/crm", content=body, headers={HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}
    )


def run_cooling(c) -> int:
    """What ``python -m bot jobs run cooling`` does: run the job, then deliver what it queued."""
    done = run_job(c, "cooling").done
    c.dispatcher.drain()
    return done


def rendered_text(message: dict) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        parts.append((block.get("text") or {}).get("text", ""))
        parts.extend(f["text"] for f in block.get("fields") or [])
        for element in block.get("elements") or []:
            inner = element.get("text") or ""
            parts.append(inner if isinstance(inner, str) else inner.get("text", ""))
    return sr.as_read("\n".join(parts))


def button(message: dict, label: str) -> dict:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button" and element["text"]["text"] == label:
                return element
    raise AssertionError(f"no {label!r} button in {rendered_text(message)!r}")


def press(http, slack, message: dict, label: str, user: str, answer: str):
    """Press a button on a delivered message as ``user``; returns the ephemeral answer."""
    element = button(message, label)
    seen = len(slack.responses(answer))
    resp = post_slack(
        http,
        sr.block_actions(
            element["action_id"],
            element["value"],
            user_id=user,
            message=message,
            response_url=slack.response_url(answer),
        ),
    )
    assert resp.status_code == 200
    return slack.wait_for_responses(answer, seen + 1)[-1]


def the_message(slack, channel: str, starting: str) -> dict:
    return next(m for m in slack.messages(channel) if m["text"].startswith(starting))


def recorded(c, crm_id: str, step: str) -> None:
    """Wait until the dispatcher has recorded the message as sent (its Slack ts), as it will
    have long before anyone can press one of its buttons."""
    key = f"cooling:{lead(c, crm_id).id}:1:{step}"
    assert wait_until_delivered(c.uow_factory, [key]), key


def test_a_lead_qualified_long_ago_is_alerted_once_however_many_times_the_job_runs(app, slack):
    c = app.container
    with app.client() as http:
        resp = post_crm(http, hot_lead("L-7", at="2026-11-02T15:00:00Z"))
    assert resp.status_code == 200 and resp.json() == {"accepted": 1, "duplicates": 0}
    slack.wait_for("chat.postMessage", 1)  # the handoff
    assert run_cooling(c) == 3
    for _ in range(3):
        assert run_cooling(c) == 0
    slack.wait_for("chat.postMessage", 4)
    handoff, breach = slack.messages("U_ANA")
    assert handoff["text"].startswith("New qualified lead: Jane Doe") and breach["text"].startswith("🔥 SLA breached")
    [to_maya] = slack.messages("U_MAYA")
    assert "Escalation" in to_maya["text"] and "Ana Torres's" in rendered_text(to_maya)
    [in_channel] = slack.messages("C_SALES")
    assert "passed its SLA (due Mon 2 Nov, 11:00 EST) without a first follow-up" in rendered_text(in_channel)
    # In the channel the time is a Slack date token: each reader sees it in their own timezone.
    assert (
        "(due <!date^1793635200^{date_short} {time}|Mon 2 Nov, 11:00 EST>)" in in_channel["blocks"][0]["text"]["text"]
    )
    assert len(slack.successful_calls("chat.postMessage")) == 4
    with c.uow_factory() as uow:
        assert [a.step for a in uow.alerts.for_lead(lead(c, "L-7").id)] == ["breach", "manager", "channel"]


def test_the_breach_buttons_work_through_signed_block_actions_and_update_the_message(app, slack):
    c = app.container
    with app.client() as http:
        post_crm(http, hot_lead("L-8", at="2026-11-23T14:00:00Z"))  # 09:00 in New York: due 10:00
        assert run_cooling(c) == 1
        recorded(c, "L-8", "breach")
        breach = the_message(slack, "U_ANA", "🔥 SLA breached")
        assert [parse_action_id(b["action_id"]) for b in breach["blocks"][-1]["elements"]] == [
            "cooling.follow_up",
            "cooling.snooze",
            "cooling.snooze",
            "bounce.open",
        ]

        refused = press(http, slack, breach, "Snooze 1 hour", "U_BEN", "ben")
        assert refused["text"] == (
            "Only Ana Torres (its owner), Maya Patel (Ana's manager) or an admin can snooze this lead."
        )
        assert refused["response_type"] == "ephemeral" and refused["replace_original"] is False

        snoozed = press(http, slack, breach, "Snooze 1 hour", "U_ANA", "snooze")
        assert sr.as_read(snoozed["text"]) == "Snoozed until Mon 23 Nov, 11:00 EST. I'll remind you then."
        slack.wait_for("chat.update", 2)  # the alert and the handoff: every message about the lead
        breach = the_message(slack, "U_ANA", "🔥 SLA breached")
        assert "💤 Ana Torres snoozed this lead until Mon 23 Nov, 11:00 EST" in rendered_text(breach)
        assert [b["text"]["text"] for b in breach["blocks"][-1]["elements"]] == ["Log follow-up", "Bounce to marketing"]

        followed = press(http, slack, breach, "Log follow-up", "U_ANA", "follow")
        assert followed["text"].startswith("Logged your follow-up on Jane Doe (Acme).")
        slack.wait_for("chat.update", 4)
    breach = the_message(slack, "U_ANA", "🔥 SLA breached")
    text = rendered_text(breach)
    assert "✅ Ana Torres followed up at 10:00" in text and "snoozed" not in text
    assert all(b["type"] != "actions" for b in breach["blocks"])
    assert len(slack.messages("U_ANA")) == 2  # updated in place, nothing new posted
    got = lead(c, "L-8")
    assert (got.touch_count, got.snooze_count, got.sla_window) == (1, 1, 2)


def test_an_unowned_lead_is_claimed_through_the_button_and_the_first_claim_wins(app, slack):
    c = app.container
    with app.client() as http:
        post_crm(http, hot_lead("L-9", owner=None))
        recorded(c, "L-9", "handoff")
        [original] = slack.messages("C_SALES")
        assert "no owner" in rendered_text(original)
        claimed = press(http, slack, original, "Claim", "U_BEN", "ben")
        assert sr.as_read(claimed["text"]) == "Jane Doe (Acme) is yours. Follow up by Mon 23 Nov, 11:00 EST."
        slack.wait_for("chat.update", 1)
        [post] = slack.messages("C_SALES")
        assert "🙋 Ben Okafor claimed this lead at 10:00" in rendered_text(post)
        assert all(b["type"] != "actions" for b in post["blocks"])
        # Chloe's Slack still showed the button when she pressed it.
        late = press(http, slack, original, "Claim", "U_CHLOE", "chloe")
        assert sr.as_read(late["text"]).startswith("Ben Okafor claimed this lead at 10:00 EST.")
    assert lead(c, "L-9").owner_email == "ben@northwind.example"
    assert len(slack.successful_calls("chat.update")) == 1


@pytest.mark.slow
def test_python_m_bot_jobs_run_cooling_alerts_once(make_container, database_url):
    c = make_container(clock=OffsetClock())  # the subprocess runs on the real clock
    long_ago = datetime.now(timezone.utc) - timedelta(days=30)
    ingest(c, hot_lead("L-10", at=long_ago))
    env = {k: v for k, v in os.environ.items() if k not in ("SMARKETING_CONFIG", "SLACK_BOT_TOKEN")}
    env.update(DATABASE_URL=database_url, LOCAL_WORKSPACE="true", LOG_LEVEL="WARNING")

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "run", "cooling"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first, second = run(), run()
    # The demo config's delivery policy: the breach to Ana and (hot: urgent) the manager's DM in
    # real time; the channel step is a line of the day's at-risk roll-up, not a post of its own.
    assert "cooling: 2 done (1 lead(s) due)" in first and "delivery:" in first
    assert "cooling: 0 done (0 lead(s) due)" in second
    lead_id = lead(c, "L-10").id
    assert [r.key.split(":")[3] for r in outbox(c, key=f"cooling:{lead_id}:")] == ["handoff", "breach", "manager"]
    now = datetime.now(timezone.utc)
    # Sent, or (run in someone's quiet hours on the real clock) held until their next opening.
    assert all(r.status == "sent" or (r.status == "pending" and r.next_attempt_at > now) for r in outbox(c))


def test_a_follow_up_from_the_managers_dm_updates_every_message_about_the_lead_through_signed_requests(app, slack):
    import copy

    c = app.container
    with app.client() as http:
        post_crm(http, hot_lead("L-11", at="2026-11-02T15:00:00Z"))  # long past: breach, manager, channel at once
        assert run_cooling(c) == 3
        for step in ("handoff", "breach", "manager", "channel"):
            recorded(c, "L-11", step)
        [to_maya] = slack.messages("U_MAYA")
        before = copy.deepcopy(to_maya)
        followed = press(http, slack, to_maya, "Log follow-up", "U_MAYA", "maya")
        assert followed["text"].startswith("Logged your follow-up on Jane Doe (Acme).")
        slack.wait_for("chat.update", 4)  # the handoff, the breach, the manager's DM and the #sales post
        # Maya's Slack had not refreshed yet: the old Snooze does nothing and says why.
        late = press(http, slack, before, "Snooze 1 hour", "U_MAYA", "late")
        assert (
            sr.as_read(late["text"]).startswith("Maya Patel followed up at 10:00 EST.")
            and "out of date" in late["text"]
        )
    for channel_id in ("U_MAYA", "C_SALES"):
        [message] = slack.messages(channel_id)
        assert "✅ Maya Patel followed up at 10:00" in rendered_text(message), channel_id
        assert all(b["type"] != "actions" for b in message["blocks"]), channel_id
    breach = the_message(slack, "U_ANA", "🔥 SLA breached")
    assert "✅ Maya Patel followed up at 10:00" in rendered_text(breach)
    assert "has none yet" not in rendered_text(breach)
    assert all(b["type"] != "actions" for b in breach["blocks"])
    got = lead(c, "L-11")
    assert (got.touch_count, got.snooze_count, got.sla_clock) == (1, 0, "cadence")
    assert len(slack.successful_calls("chat.postMessage")) == 4  # nothing new posted


def test_after_a_bounce_from_an_alert_the_alert_has_no_buttons_and_an_old_one_says_what_happened(app, slack):
    import copy

    c = app.container
    with app.client() as http:
        post_crm(http, hot_lead("L-12", at="2026-11-23T14:00:00Z"))  # 09:00 in New York: due 10:00
        assert run_cooling(c) == 1
        recorded(c, "L-12", "breach")
        breach = copy.deepcopy(the_message(slack, "U_ANA", "🔥 SLA breached"))
        bounce = button(breach, "Bounce to marketing")
        post_slack(http, sr.block_actions(bounce["action_id"], bounce["value"], user_id="U_ANA", message=breach))
        [opened] = slack.calls("views.open")
        values = {
            "reason": {"reason": {"type": "static_select", "selected_option": {"value": "no_budget"}}},
            "note": {"note": "Frozen until Q2"},
        }
        resp = post_slack(
            http,
            sr.view_submission(
                "bounce.submit", values, user_id="U_ANA", private_metadata=opened["view"]["private_metadata"]
            ),
        )
        assert resp.status_code == 200
        slack.wait_for("chat.update", 2)  # the handoff and the alert
        now = the_message(slack, "U_ANA", "🔥 SLA breached")
        assert "↩️ Ana Torres bounced this lead to marketing at 10:00 EST (No budget)" in rendered_text(now)
        assert all(b["type"] != "actions" for b in now["blocks"])
        # A client that still shows the old alert: neither button acts, each says what happened.
        for label, who in (("Log follow-up", "follow"), ("Snooze 1 hour", "snooze")):
            answer = press(http, slack, breach, label, "U_ANA", who)
            assert sr.as_read(answer["text"]).startswith(
                "Ana Torres bounced this lead to marketing at 10:00 EST (No budget)."
            ), label
            assert "nurture" not in answer["text"] and "L-12" not in answer["text"]
    got = lead(c, "L-12")
    assert (got.status, got.touch_count, got.snooze_count) == ("nurture", 0, 0)
