"""Weekly schedules end to end: signed ``schedule.upserted`` events through the real server, then
the ``digest`` job at a controlled time, to the local stand-in for Slack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest
import yaml

from bot import signing
from bot.config import DEMO_CONFIG
from bot.dispatch import wait_until_delivered
from bot.scheduler import run_job
from tests import slack_requests as sr
from tests.conftest import BOT_TOKEN, ROOT, SIGNING_SECRET, SLACK_CHANNELS, WEBHOOK_SECRET

UTC = timezone.utc


def at(y, m, d, h=0, mi=0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def event(n: int, **data) -> dict:
    return {
        "id": f"sched-{n}",
        "type": "schedule.upserted",
        "occurred_at": "2026-11-20T12:00:00Z",
        "data": {"id": f"S-{n}", **data},
    }


EVENTS = [
    event(
        1,
        team="marketing",
        kind="campaign_launch",
        title="Winter analytics launch",
        regions=["EMEA", "UK"],
        start="2026-11-25T09:00:00Z",
        end="2026-11-25T17:00:00Z",
        owner_email="kira@northwind.example",
        link="https://northwind.example/launch",
    ),
    event(
        2,
        team="sales",
        kind="promotion",
        title="Black Friday 20% off",
        regions=["emea"],
        start="2026-11-24T00:00:00Z",
        end="2026-11-28T00:00:00Z",
        owner_email="ana@northwind.example",
    ),
    event(
        3,
        team="sales",
        kind="territory_focus",
        title="Texas push",
        regions=["US South"],
        start="2026-11-23T14:00:00Z",
        end="2026-11-27T22:00:00Z",
        owner_email="ben@northwind.example",
    ),
    event(
        4,
        team="marketing",
        kind="webinar",
        title="Data in retail",
        regions=["US East"],
        start="2026-11-26T16:00:00Z",
        end="2026-11-26T17:00:00Z",
        owner_email="leo@northwind.example",
    ),
]


def post_events(http, events: list[dict]):
    body = json.dumps(events).encode()
    return http.post(
        "/webhooks/crm",
        content=body,
        headers={signing.HEADER: signing.sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"},
    )


def channel_posts(slack, name: str) -> list[dict]:
    return slack.messages(SLACK_CHANNELS[name])


def digest_keys(c) -> list[str]:
    from sqlmodel import select

    from storage.models import Outbox

    with c.uow_factory() as uow:
        return [r.key for r in uow.session.exec(select(Outbox).where(Outbox.key.startswith("schedule:digest:")))]


def test_crm_events_then_the_digest_job_post_once_to_each_team_channel(app, slack, clock):
    c = app.container
    with app.client() as http:
        resp = post_events(http, EVENTS)
    assert resp.status_code == 200 and resp.json() == {"accepted": 4, "duplicates": 0}
    # The promotion collides with the launch: both owners hear at once, in a DM.
    dms = slack.wait_for("chat.postMessage", 2)
    assert {m["channel"] for m in dms} == {"U_ANA", "U_KIRA"}
    assert all("Black Friday 20% off" in m["text"] and "Winter analytics launch" in m["text"] for m in dms)

    clock.at = at(2026, 11, 23, 9)  # 09:00 in London
    assert run_job(c, "digest").detail == "marketing 2026-W48"
    clock.at = at(2026, 11, 23, 14)  # 09:00 in New York
    assert run_job(c, "digest").detail == "sales 2026-W48"
    assert wait_until_delivered(c.uow_factory, digest_keys(c))
    [sales], [marketing] = channel_posts(slack, "sales"), channel_posts(slack, "marketing")
    for post in (sales, marketing):
        text = json.dumps(post["blocks"])
        assert "Week of 23 Nov 2026" in post["text"]
        assert (
            "Black Friday 20% off" in text and "Ana Torres" in text and "Kira Novak" in text
        )  # (mock ids render as names)
        assert "Texas push" in text and "where marketing has nothing this week" in text
        assert post["metadata"]["event_payload"]["key"].startswith("schedule:digest:")
    # Said once: no second listing of the other team's items (what touches you is noted on its line).
    assert "touches you" not in json.dumps(sales["blocks"]) and "touches you" not in json.dumps(marketing["blocks"])

    posted = len(slack.calls("chat.postMessage"))
    clock.at = at(2026, 11, 23, 15)
    assert run_job(c, "digest").done == 0
    c.dispatcher.drain()
    assert len(slack.calls("chat.postMessage")) == posted


def test_the_schedule_command_answers_ephemerally_through_slack(app, slack):
    with app.client() as http:
        post_events(http, EVENTS)
        body, ctype = sr.slash_command("schedule", user_id="U_KIRA")
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["response_type"] == "ephemeral"
    assert "Week of 23 Nov 2026" in answer["text"]
    assert "Winter analytics launch" in json.dumps(answer["blocks"])


def test_the_add_form_opens_and_a_submission_is_stored_and_confirmed(app, slack):
    with app.client() as http:
        body, ctype = sr.slash_command("schedule add", user_id="U_BEN")
        assert (
            http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype)).status_code
            == 200
        )
        [view] = slack.views()
        assert view["callback_id"] == "schedule.add"
        values = {
            "team": {"team": {"type": "static_select", "selected_option": {"value": "sales"}}},
            "kind": {"kind": {"type": "static_select", "selected_option": {"value": "call_blitz"}}},
            "title": {"title": "Q4 renewal blitz"},
            "regions": {"regions": "US East"},
            "start": {"start": {"type": "datepicker", "selected_date": "2026-11-24"}},
            "end": {"end": {"type": "datepicker", "selected_date": None}},
            "link": {"link": None},
        }
        body, ctype = sr.view_submission("schedule.add", _block_ids(view, values), user_id="U_BEN")
        resp = http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))
    assert resp.status_code == 200 and resp.text in ("", "null")
    [confirmation] = slack.wait_for("chat.postMessage", 1)
    assert confirmation["channel"] == "U_BEN" and "Added *Q4 renewal blitz*" in confirmation["text"]


def _block_ids(view: dict, values: dict) -> dict:
    """``values`` keyed by input name -> keyed by the view's block ids, as Slack sends them."""
    by_action = {
        b["element"]["action_id"]: b.get("block_id", b["element"]["action_id"])
        for b in view["blocks"]
        if b.get("type") == "input"
    }
    return {by_action[name]: actions for name, actions in values.items()}


# --- `python -m bot jobs run digest` as a real process ---------------------------------------------

RUNNER = textwrap.dedent("""
    import runpy, sys
    from freezegun import freeze_time
    # Only the clock is controlled; everything else is `python -m bot jobs run digest`.
    with freeze_time(sys.argv[1]):
        sys.argv = ["python -m bot", "jobs", "run", "digest"]
        try:
            runpy.run_module("bot", run_name="__main__", alter_sys=True)
        except SystemExit as e:
            sys.exit(e.code)
""")


def run_digest_process(env: dict, when: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, when], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_jobs_run_digest_as_a_process_posts_once_per_team_and_then_nothing(app, slack, database_url, tmp_path, clock):
    with app.client() as http:
        assert post_events(http, EVENTS).status_code == 200
    config = yaml.safe_load(DEMO_CONFIG.read_text())
    for name, ch in config["channels"].items():
        ch["slack"] = SLACK_CHANNELS[name]
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_", "SMARKETING_"))}
    env.update(
        DATABASE_URL=database_url,
        SMARKETING_CONFIG=str(config_path),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.base_url,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        LOCAL_WORKSPACE="false",
        DELIVERY_CHANNEL_INTERVAL="0",
        LOG_LEVEL="WARNING",
    )

    # The serving process's clock agrees with the job's (its dispatcher honours the job's claims).
    clock.at = at(2026, 11, 23, 14)
    first = run_digest_process(env, "2026-11-23 14:00:00")  # 09:00 New York, 14:00 London
    assert first.returncode == 0, first.stderr
    assert "digest: 2 done" in first.stdout and "marketing 2026-W48 late" in first.stdout
    assert wait_until_delivered(app.container.uow_factory, digest_keys(app.container))
    assert len(channel_posts(slack, "sales")) == 1 and len(channel_posts(slack, "marketing")) == 1
    assert "(posted late — the bot was offline at 09:00)" in channel_posts(slack, "marketing")[0]["text"]

    posted = len(slack.calls("chat.postMessage"))
    clock.at = at(2026, 11, 23, 14, 5)
    again = run_digest_process(env, "2026-11-23 14:05:00")
    assert again.returncode == 0, again.stderr
    assert "digest: 0 done" in again.stdout
    assert len(slack.calls("chat.postMessage")) == posted
