"""The lead lifecycle in the local workspace, through the real HTTP server: a follow-up pressed in
the manager's DM updates every message about the lead on the page; a stale button says what
happened instead of acting."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import ladder_config

from bot.dispatch import wait_until_delivered
from bot.scheduler import run_job
from tests.cooling_helpers import hot_lead, ingest, lead, outbox, person_id


def wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


@pytest.fixture
def local(make_container, live_server):
    # The ladder step by step, #sales post included (the default policy's roll-up: tests/test_policy.py).
    return live_server(make_container(local_workspace=True, demo_data=False, config=ladder_config()), local=True)


def history(http, conversation):
    resp = http.get("/local/api/messages", params={"conversation": conversation})
    assert resp.status_code == 200, resp.text
    return resp.json()["messages"]


def test_a_follow_up_in_the_managers_dm_updates_the_reps_alert_and_the_sales_post_on_the_page(local):
    c = local.container
    ingest(c, hot_lead(at="2026-11-02T15:00:00Z"))
    run_job(c, "cooling")
    keys = [r.key for r in outbox(c)]
    assert wait_until_delivered(c.uow_factory, keys)
    maya, ana = person_id(c, "maya"), person_id(c, "ana")
    stale = f"{lead(c).id}@{lead(c).version}"
    with local.client() as http:
        [escalation] = history(http, f"dm:{maya}")
        assert "Log follow-up</button>" in escalation["html"]
        resp = http.post(
            "/local/api/action",
            json={"person_id": maya, "key": escalation["key"], "action": "cooling.follow_up", "value": stale},
        )
        assert resp.status_code == 200 and "Logged your follow-up" in resp.json()["ephemeral"]

        def settled(conversation):
            return [
                m
                for m in history(http, conversation)  # the time is a <time> the browser shows in the viewer's zone
                if "followed up at 10:00" in re.sub(r"<[^>]+>", "", m["html"])
            ]

        for conversation in (f"dm:{maya}", "channel:sales", f"dm:{ana}"):
            for message in wait_for(lambda: settled(conversation)):  # noqa: B023 - used within this iteration
                assert "Snooze" not in message["html"], conversation
        assert len(settled(f"dm:{ana}")) == 2  # the handoff card and the breach alert
        # A page that had not refreshed: the old button is passed on, does nothing, and says why.
        again = http.post(
            "/local/api/action",
            json={"person_id": maya, "key": escalation["key"], "action": "cooling.snooze", "value": f"{stale}:1h"},
        )
    assert again.status_code == 200
    assert "Maya Patel followed up at 10:00" in re.sub(r"<[^>]+>", "", again.json()["ephemeral"])
    got = lead(c)
    assert (got.touch_count, got.snooze_count) == (1, 0)
