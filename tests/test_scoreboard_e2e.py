"""The scoreboard and the Home through the real server: Slack's requests signed as Slack signs
them, Slack's Web API stood in for by the local mock (which enforces Home views' 100 blocks and
speaks the files upload API), Teams through its stand-in, and the local workspace's JSON API."""

from __future__ import annotations

import pytest

from bot.scheduler import run_job
from tests import slack_requests as sr
from tests.conftest import demo_config_with_slack, post_slack
from tests.cooling_helpers import hot_lead, ingest, person_id
from tests.test_cooling_e2e import rendered_text
from tests.test_scoreboard import a_month, at_ny, move_to


@pytest.fixture
def app(make_container, slack, live_server):
    cfg = demo_config_with_slack()
    cfg.agreement.leads_per_month, cfg.agreement.within_sla = 30, 0.8
    return live_server(make_container(slack_mock=slack, config=cfg))


@pytest.mark.parametrize(
    "user, heading, shows, hides",
    [
        ("U_ANA", "Your SLA line", "67% (target 80%)", "Winter webinar"),
        ("U_MAYA", "Your team's scoreboard", "By rep", "Winter webinar"),
        ("U_KIRA", "Your campaigns' scoreboard", "Winter webinar", "Pricing ebook"),
        ("U_SAM", "The smarketing scoreboard", "Pricing ebook", "By rep:* none"),
    ],
)
def test_each_role_sees_their_own_scoreboard_in_slack(app, slack, user, heading, shows, hides):
    a_month(app.container)
    with app.client() as http:
        resp = post_slack(http, sr.slash_command("sla", user_id=user))
    assert resp.status_code == 200
    body = resp.json()
    text = rendered_text(body)
    assert body["response_type"] == "ephemeral" and heading in text and shows in text and hides not in text
    assert len(body["blocks"]) <= 50


@pytest.mark.parametrize(
    "user, shows",
    [
        ("U_ANA", "Your qualified leads, most urgent first"),
        ("U_MAYA", "Each rep's queue and SLA line"),
        ("U_KIRA", "Your campaigns this month"),
        ("U_SAM", "The company this month"),
    ],
)
def test_each_role_gets_their_home_published_when_they_open_the_home_tab(app, slack, user, shows):
    a_month(app.container)
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1700000000.000100"}
    with app.client() as http:
        assert post_slack(http, sr.event_callback(event, event_id=f"Ev-home-{user}")).status_code == 200
    [call] = slack.wait_for("views.publish")
    assert call["user_id"] == user and "_error" not in call
    home = slack.home(user)
    assert home["type"] == "home" and len(home["blocks"]) <= 100
    assert shows in rendered_text({"blocks": home["blocks"]})


def test_reopening_an_unchanged_home_does_not_publish_it_again_and_a_change_does_once(app, slack):
    c = app.container
    a_month(c)
    event = {"type": "app_home_opened", "user": "U_ANA", "channel": "D1", "tab": "home", "event_ts": "1.1"}
    with app.client() as http:
        post_slack(http, sr.event_callback(event, event_id="Ev-1"))
        slack.wait_for("views.publish", 1)
        published = slack.home("U_ANA")
        again = {**event, "view": {"id": published["id"], "hash": published["hash"], "type": "home"}}
        post_slack(http, sr.event_callback(again, event_id="Ev-2"))
    ingest(c, hot_lead("L-20", owner="ana", name="New Nadia"), hot_lead("L-21", owner="ana"))
    run_job(c, "home_refresh")
    run_job(c, "home_refresh")
    c.dispatcher.drain()
    calls = slack.successful_calls("views.publish")
    assert len(calls) == 2  # the first open, then once for the batch of two new leads
    assert "New Nadia" in rendered_text({"blocks": slack.home("U_ANA")["blocks"]})


def test_a_button_on_the_home_acts_and_the_home_is_published_again(app, slack):
    c = app.container
    a_month(c)
    ingest(c, hot_lead("L-30", owner="ana", name="Button Bea", at="2026-11-23T18:30:00Z"))
    event = {"type": "app_home_opened", "user": "U_ANA", "channel": "D1", "tab": "home", "event_ts": "1.1"}
    with app.client() as http:
        post_slack(http, sr.event_callback(event, event_id="Ev-b1"))
        slack.wait_for("views.publish", 1)
        home = slack.home("U_ANA")
        button = next(
            e
            for b in home["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == "Log follow-up"
        )
        payload = sr.home_block_actions(button["action_id"], button["value"], home, user_id="U_ANA")
        assert post_slack(http, payload).status_code == 200
    slack.wait_for("views.publish", 2)
    dm = slack.wait_for("chat.postMessage", 1)
    assert any("Logged your follow-up" in (m.get("text") or "") for m in dm)


def test_the_weekly_post_carries_a_real_chart_uploaded_through_the_files_api(app, slack):
    c = app.container
    a_month(c)
    move_to(c, at_ny(2026, 11, 30, 9, 20))
    assert run_job(c, "scoreboard_weekly").done == 2
    c.dispatcher.drain()
    posts = [
        m
        for m in slack.messages("C_SALES") + slack.messages("C_MARKETING")
        if m["text"].startswith("The smarketing scoreboard")
    ]
    assert len(posts) == 2
    images = [b for m in posts for b in m["blocks"] if b["type"] == "image"]
    assert len(images) == 2
    files = slack.files()
    file_id = images[0]["slack_file"]["id"]
    assert files[file_id]["completed"] and files[file_id]["content"].startswith(b"\x89PNG")
    assert len(files) == 1  # one upload, shown in both channels
    assert "Leads delivered: 5 of 30" in posts[0]["text"]  # the fallback carries the numbers
    [get_url] = slack.successful_calls("files.getUploadURLExternal")
    assert int(get_url["length"]) == len(files[file_id]["content"])


def test_the_manifest_turns_the_home_tab_on_and_asks_for_files_write():
    from bot.slack.manifest import manifest

    m = manifest()
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert "files:write" in m["oauth_config"]["scopes"]["bot"]
    assert "app_home_opened" in m["settings"]["event_subscriptions"]["bot_events"]


def test_the_local_workspace_shows_each_persons_home_and_the_chart_inline(make_container, live_server):
    from tests.test_scoreboard import config_with

    c = make_container(config=config_with(leads_per_month=30), local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    a_month(c)
    with server.client() as http:
        for who, shows in (
            ("ana", "Your qualified leads"),
            ("maya", "Each rep"),
            ("kira", "Winter webinar"),
            ("sam", "The company this month"),
        ):
            resp = http.get("/local/api/home", params={"person_id": person_id(c, who)})
            assert resp.status_code == 200 and shows in resp.json()["html"]
        assert http.get("/local/api/home", params={"person_id": "x"}).status_code == 400
        move_to(c, at_ny(2026, 11, 30, 9, 20))
        run_job(c, "scoreboard_weekly")
        c.dispatcher.drain()
        msgs = http.get("/local/api/messages", params={"conversation": "channel:sales"}).json()["messages"]
        html = next(m["html"] for m in msgs if "scoreboard" in m["html"])
        src = html.split('<img src="', 1)[1].split('"', 1)[0]
        img = http.get(src)
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        assert img.content.startswith(b"\x89PNG")
        assert http.get("/local/images/nope").status_code == 404
