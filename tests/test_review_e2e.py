"""The joint review through the real server: Slack's requests signed as Slack signs them against
the Web API stand-in, Teams through its stand-in, and the local workspace's JSON API."""

from __future__ import annotations


from bot.scheduler import run_job
from tests import slack_requests as sr
from tests import teams_standin as ts
from tests.conftest import post_slack
from tests.cooling_helpers import person_id
from tests.teams_helpers import (  # noqa: F401 - fixtures
    app as teams_app,
    install,
    make_teams_app,
    only_card,
    post,
    teams,
    teams_server,
)
from tests.test_cooling_e2e import rendered_text
from tests.test_scoreboard import a_month, at_ny, move_to
from tests.test_scoreboard_teams import texts


def test_in_slack_an_action_is_added_by_mention_listed_and_the_agenda_is_posted_in_the_review_channel(app, slack):
    c = app.container
    a_month(c)
    with app.client() as http:
        added = post_slack(
            http, sr.slash_command("action <@U_ANA|ana> Call back the Acme leads by 2026-11-25", user_id="U_MAYA")
        ).json()
        assert "Added #1 for Ana Torres, due Wed 25 Nov" in rendered_text(added)
        refused = post_slack(http, sr.slash_command("action done 1", user_id="U_BEN")).json()
        assert "Only Ana Torres (its owner)" in rendered_text(refused)
        listed = post_slack(http, sr.slash_command("action list", user_id="U_BEN")).json()
        assert "Call back the Acme leads" in rendered_text(listed)
    move_to(c, at_ny(2026, 11, 26, 9, 0))
    assert run_job(c, "review_agenda").done == 1
    c.dispatcher.drain()
    [agenda] = [m for m in slack.messages("C_COMPANY") if m["text"].startswith("Joint review")]
    text = rendered_text(agenda)
    assert "1. The scoreboard" in text and "Call back the Acme leads" in text and len(agenda["blocks"]) <= 50


def test_in_slack_add_to_review_on_a_bounce_post_opens_the_form_and_its_submission_adds_the_item(app, slack):
    c = app.container
    a_month(c)  # Ben bounced L-4: the marketing post has *Add to review*
    move_to(c, at_ny(2026, 11, 24, 9, 0))  # the bounce came after marketing's hours in London: posted next day
    c.dispatcher.drain()
    [bounce_post] = [m for m in slack.messages("C_MARKETING") if "back to marketing" in m["text"]]
    button = next(
        e
        for b in bounce_post["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Add to review"
    )
    with app.client() as http:
        assert (
            post_slack(
                http,
                sr.block_actions(
                    button["action_id"],
                    button["value"],
                    user_id="U_JONAS",
                    message=bounce_post,
                    response_url=slack.response_url("add"),
                ),
            ).status_code
            == 200
        )
        [opened] = slack.wait_for("views.open")
        view = opened["view"]
        assert view["callback_id"] == "review.add" and len(view["blocks"]) <= 100
        values = {
            blk["block_id"]: {
                blk["element"]["action_id"]: _value(
                    blk["element"], owner="kira", text="Check why ebook leads have no budget"
                )
            }
            for blk in view["blocks"]
            if blk["type"] == "input"
        }
        resp = post_slack(
            http,
            sr.view_submission(
                view["callback_id"], values, user_id="U_JONAS", private_metadata=view.get("private_metadata", "")
            ),
        )
        assert resp.status_code == 200
    kira = person_id(c, "kira")
    with c.uow_factory() as uow:
        [item] = uow.review.open_items()
    assert item.owner_id == kira and item.source_key and item.source_key.startswith("bounce:")
    assert item.source_text == "Jane Doe: bounced (No budget)"


def _value(element: dict, *, owner: str, text: str) -> dict:
    kind = element["type"]
    if kind == "static_select":
        option = next(o for o in element["options"] if o["value"] == owner)
        return {"type": kind, "selected_option": option}
    if kind == "datepicker":
        return {"type": kind, "selected_date": element.get("initial_date")}
    name = element["action_id"]
    if name.endswith("text") or "text" in name:
        return {"type": kind, "value": text}
    return {"type": kind, "value": element.get("initial_value")}


def test_in_teams_the_same_words_add_list_and_close_items(teams_app, teams):
    install(teams_app, teams)
    maya = teams.user("maya@northwind.example")
    post(teams_app, ts.message(teams.service_url, "action ana Call back the Acme leads", user=maya))
    post(teams_app, ts.message(teams.service_url, "action list", user=maya))
    added = teams.wait_for(
        lambda: [a for a in teams.sent("a:29:maya") if "Added #1 for Ana Torres" in str(a)], timeout=30
    )
    listed = teams.wait_for(
        lambda: [a for a in teams.sent("a:29:maya") if ts.cards_in(a) and "Open action items" in texts(only_card(a))],
        timeout=30,
    )
    assert added and "Call back the Acme leads" in texts(only_card(listed[0]))


def test_in_the_local_workspace_actions_are_commands_like_anywhere(make_container, live_server):
    c = make_container(local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    with server.client() as http:
        resp = http.post(
            "/local/api/command",
            json={"person_id": person_id(c, "maya"), "text": "/smarketing action ana Call the Acme leads by tomorrow"},
        )
        assert resp.status_code == 200 and "Added #1 for Ana Torres, due Tue 24 Nov" in resp.json()["ephemeral"]
        bad = http.post(
            "/local/api/command", json={"person_id": person_id(c, "maya"), "text": "/smarketing action nobody Do it"}
        )
        assert "not a person I know" in bad.json()["ephemeral"]
