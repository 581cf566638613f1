"""The scoreboard, the Home and the weekly chart in Microsoft Teams: the same handlers, rendered
as Adaptive Cards and sent to the Teams stand-in."""

from __future__ import annotations

import base64

import pytest

from bot.scheduler import run_job
from tests import teams_standin as ts
from tests.teams_helpers import (  # noqa: F401 - fixtures
    SALES,
    app,
    install,
    make_teams_app,
    only_card,
    post,
    teams,
    teams_server,
)
from tests.test_scoreboard import a_month, at_ny, move_to


def texts(card: dict) -> str:
    out = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(node.get("text", ""))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return "\n".join(out)


@pytest.mark.parametrize(
    "email, command, shows",
    [
        ("ana@northwind.example", "sla", "Your SLA line"),
        ("maya@northwind.example", "sla", "Your team's scoreboard"),
        ("kira@northwind.example", "sla", "Winter webinar"),
        ("sam@northwind.example", "sla", "The smarketing scoreboard"),
        ("ana@northwind.example", "home", "Your qualified leads, most urgent first"),
        ("maya@northwind.example", "home", "Each rep's queue and SLA line"),
        ("kira@northwind.example", "home", "Your campaigns this month"),
        ("sam@northwind.example", "home", "The company this month"),
    ],
)
def test_each_role_sees_their_scoreboard_and_home_as_a_card(app, teams, email, command, shows):
    install(app, teams)
    a_month(app.container)
    user = teams.user(email)
    assert post(app, ts.message(teams.service_url, command, user=user)).status_code == 200
    conv = f"a:29:{email.split('@')[0]}"
    # Ana's handoff cards may reach the same chat while she asks: wait for the answer itself.
    replies = teams.wait_for(
        lambda: [a for a in teams.sent(conv) if ts.cards_in(a) and shows in texts(only_card(a))], timeout=30
    )
    assert replies


def test_the_weekly_post_shows_the_chart_inside_the_card(app, teams):
    install(app, teams)
    c = app.container
    a_month(c)
    move_to(c, at_ny(2026, 11, 30, 9, 20))
    assert run_job(c, "scoreboard_weekly").done == 2
    posts = teams.wait_for(lambda: [a for a in teams.sent(SALES) if "scoreboard" in a.get("summary", "")])
    card = only_card(posts[0])
    [image] = [e for e in card["body"] if e["type"] == "Image"]
    assert image["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(image["url"].split(",", 1)[1]).startswith(b"\x89PNG")
    assert "23 Nov: 5/28 (60% in SLA)" in image["altText"]  # the demo agreement: 120 a month
    assert "Leads delivered" in texts(card)


def test_a_button_on_the_teams_home_card_acts(app, teams):
    install(app, teams)
    c = app.container
    a_month(c)
    from tests.cooling_helpers import hot_lead, ingest

    ingest(c, hot_lead("L-40", owner="ana", name="Card Carla", at="2026-11-23T18:30:00Z"))
    ana = teams.user("ana@northwind.example")
    post(app, ts.message(teams.service_url, "home", user=ana))
    [home] = teams.wait_for(
        lambda: [a for a in teams.sent("a:29:ana") if ts.cards_in(a) and "your Smarketing home" in texts(only_card(a))],
        timeout=30,
    )
    follow = next(a for a in ts.actions_of(only_card(home)) if a.get("title") == "Log follow-up")
    resp = post(
        app, ts.card_action(teams.service_url, user=ana, verb=follow["verb"], data=follow["data"], reply_to=home["id"])
    )
    assert resp.status_code == 200 and "Logged your follow-up" in resp.text
