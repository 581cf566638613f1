"""Nothing lost, nothing said twice, in order: the real server under faults, kill -9 and replicas.

A CI-sized run of ``tests/chaos.py``: signed CRM events in, 20% of Slack calls failing (500, 429
with Retry-After, resets before and after Slack acted), the server killed mid-delivery three
times. ``bench/bench_delivery_chaos.py`` is the long run (2,000 events, two replicas)."""

from __future__ import annotations

import time

import pytest

from tests.chaos import ChaosRun

pytestmark = pytest.mark.slow


def test_under_faults_and_kill_9_every_post_reaches_slack_once_and_in_order(engine, database_url, tmp_path):
    report = ChaosRun(database_url, tmp_path, events=120, kills=3, fault_rate=0.2, seed=7).run()
    print(report.summary())
    assert report.kills == ["held-act", "held-reset", "random"]
    assert sum(report.faults.values()) > 20  # the faults really happened, of every kind
    assert all(report.faults[k] for k in ("500", "429", "reset_before", "reset_after"))
    assert report.queued_posts == report.expected_posts
    assert report.lost == []
    assert report.doubled == {}
    assert report.out_of_order == {}
    assert report.unknown == []
    assert report.delivered == report.expected_posts


def test_two_replicas_killed_in_turn_still_post_everything_once_and_in_order(engine, database_url, tmp_path):
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL database; SQLite is for one process")
    report = ChaosRun(database_url, tmp_path, replicas=2, events=120, kills=3, fault_rate=0.2, seed=11).run()
    print(report.summary())
    assert len(report.kills) == 3
    assert report.lost == [] and report.doubled == {} and report.out_of_order == {} and report.unknown == []
    assert report.delivered == report.queued_posts == report.expected_posts


def test_a_slack_event_whose_handling_was_killed_is_handled_and_answered_once_on_slacks_retry(
    engine, database_url, tmp_path
):
    """The server dies while handling a DM (Slack is slow to say who the sender is): nothing of
    it was committed, so Slack's retry is handled, not answered "already handled". A second DM
    is killed while its answer is being posted: the answer was queued with the event's id, so the
    restarted server delivers it, once, and the retry does nothing more."""
    import json

    import httpx
    import sqlalchemy as sa

    from bot.signing import HEADER, sign
    from tests import slack_requests as sr
    from tests.chaos import SIGNING_SECRET, WEBHOOK_SECRET, Replica, server_env, slack_users, write_config
    from tests.slack_mock import SlackMock

    def event(text: str, event_id: str, user: str = "U_ANA"):
        return sr.event_callback(
            {
                "type": "message",
                "channel_type": "im",
                "user": user,
                "text": text,
                "channel": "D" + user[1:],
                "ts": "1.1",
            },
            event_id=event_id,
        )

    def deliver(r: Replica, body: bytes, ctype: str, retry: int = 0) -> httpx.Response | None:
        headers = sr.signed_headers(SIGNING_SECRET, body, ctype)
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        try:
            return httpx.post(r.url + "/slack/events", content=body, headers=headers, timeout=30)
        except httpx.HTTPError:
            return None  # the server died under it: Slack will retry

    def replies(slack, channel: str, needle: str) -> list[dict]:
        return [m for m in slack.messages(channel) if needle in m["text"]]

    with SlackMock(users=slack_users()) as slack:
        config = tmp_path / "config.yaml"
        write_config(config)
        r = Replica("server", server_env(database_url, slack, config), tmp_path).start()
        try:
            lead = json.dumps(
                {
                    "id": "q1",
                    "type": "lead.qualified",
                    "occurred_at": "2026-11-23T10:00:00Z",
                    "data": {
                        "id": "L-9",
                        "email": "pat@prospect.example",
                        "name": "Pat Doe",
                        "company": "Prospect",
                        "status": "SQL",
                        "score": 90,
                        "owner_email": "ana@northwind.example",
                    },
                }
            ).encode()
            assert (
                httpx.post(
                    r.url + "/webhooks/crm",
                    content=lead,
                    timeout=30,
                    headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, lead)},
                ).status_code
                == 200
            )
            slack.wait_for("chat.postMessage", 1, timeout=30)  # Ana's handoff DM

            # 1. Killed while finding out who wrote (Maya, Ana's manager, writes for the first time).
            body, ctype = event("touch L-9 called her", "EvTouch", user="U_MAYA")
            arrived, release = slack.hold_next("users.info")
            sent = []
            import threading

            t = threading.Thread(target=lambda: sent.append(deliver(r, body, ctype)), daemon=True)
            t.start()
            assert arrived.wait(30)
            r.kill()
            release.set()
            t.join(30)
            assert sent == [None]
            r.start()
            assert deliver(r, body, ctype, retry=1).status_code == 200
            slack.wait_for("chat.postMessage", 2, timeout=30)  # and the answer (in Maya's DM)

            # 2. Killed while its answer is being posted (after the work was committed).
            body2, ctype2 = event("help", "EvHelp")
            posting, let_go = slack.hold_next("chat.postMessage")
            assert deliver(r, body2, ctype2).status_code == 200
            assert posting.wait(30)
            r.kill()
            let_go.set()  # Slack posts it after all: the restarted server must find it, not repeat it
            r.start()
            assert deliver(r, body2, ctype2, retry=1).status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    waiting = conn.execute(
                        sa.text("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")
                    ).scalar_one()
                if not waiting:
                    break
                time.sleep(0.2)
            assert waiting == 0
        finally:
            r.stop()
        assert len(replies(slack, "D_ANA", "Commands")) == 1  # the help answer, once
        assert len(slack.messages("D_MAYA")) == 1  # the answer to the touch, once
        with engine.connect() as conn:
            touches = conn.execute(sa.text("SELECT count(*) FROM leadtouch WHERE source = 'command'")).scalar_one()
            handled = conn.execute(
                sa.text("SELECT count(*) FROM processedinbound WHERE source = 'slack_event'")
            ).scalar_one()
        assert touches == 1 and handled == 2  # the follow-up logged once; both events recorded
