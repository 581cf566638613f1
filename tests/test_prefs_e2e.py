"""Preferences through the real server on every platform: Slack's signed slash command, modal
submission and Home button against the Web API stand-in; Teams' card form through its stand-in;
the local workspace's JSON API."""

from __future__ import annotations

from datetime import time


from tests import slack_requests as sr
from tests import teams_standin as ts
from tests.conftest import post_slack
from tests.cooling_helpers import person_id
from tests.teams_helpers import (  # noqa: F401 - fixtures
    app as teams_app,
    make_teams_app,
    only_card,
    post,
    teams,
    teams_server,
)
from tests.test_cooling_e2e import rendered_text
from tests.test_teams_flows import press


def stored(c, who: str):
    with c.uow_factory() as uow:
        pref = uow.prefs.get(person_id(c, who))
        return None if pref is None else (pref.digest_time, pref.warn, pref.manager, list(pref.muted))


def _slack_values(view: dict, **chosen: str) -> dict:
    """The modal's state as Slack submits it: ``chosen`` by input name (a select by option value)."""
    values = {}
    for blk in view["blocks"]:
        if blk["type"] != "input":
            continue
        element, name = blk["element"], blk["block_id"]
        if element["type"] == "static_select":
            option = next(o for o in element["options"] if o["value"] == chosen.get(name, "default"))
            values[name] = {element["action_id"]: {"type": "static_select", "selected_option": option}}
        else:
            values[name] = {element["action_id"]: {"type": "plain_text_input", "value": chosen.get(name)}}
    return values


def test_in_slack_prefs_opens_the_modal_whose_submission_saves_or_shows_the_error_on_the_field(app, slack):
    c = app.container
    with app.client() as http:
        assert post_slack(http, sr.slash_command("prefs", user_id="U_ANA")).status_code == 200
        [opened] = slack.wait_for("views.open")
        view = opened["view"]
        assert view["callback_id"] == "prefs.save" and "_error" not in opened
        assert "Morning digest at 09:00" in rendered_text({"blocks": view["blocks"]})

        bad = post_slack(
            http,
            sr.view_submission(
                "prefs.save", _slack_values(view, digest_time="25:00", warn="realtime"), user_id="U_ANA"
            ),
        )
        assert bad.json() == {
            "response_action": "errors",
            "errors": {"digest_time": "'25:00' is not a time; use HH:MM, e.g. 09:30. Nothing changed."},
        }
        assert stored(c, "ana") is None

        good = post_slack(
            http,
            sr.view_submission(
                "prefs.save", _slack_values(view, digest_time="10:30", warn="realtime"), user_id="U_ANA"
            ),
        )
        assert good.status_code == 200
    assert stored(c, "ana") == (time(10, 30), "realtime", None, [])
    [answer] = slack.wait_for("chat.postMessage")  # a modal has nowhere to answer: the DM
    assert answer["channel"] == "U_ANA" and "Saved." in answer["text"]


def test_in_slack_the_text_form_answers_and_a_refusal_changes_nothing(app, slack):
    c = app.container
    with app.client() as http:
        set_ = post_slack(http, sr.slash_command("prefs warn realtime", user_id="U_ANA")).json()
        assert set_["response_type"] == "ephemeral"
        assert "Your warnings come one message each, as they happen from now on." in rendered_text(set_)
        refused = post_slack(http, sr.slash_command("prefs mute breach", user_id="U_ANA")).json()
        assert "You can't mute 'breach': a breach of your own lead is the alert you must act on." in rendered_text(
            refused
        )
    assert stored(c, "ana") == (None, "realtime", None, [])


def test_in_slack_the_homes_preferences_button_opens_the_modal(app, slack):
    event = {"type": "app_home_opened", "user": "U_ANA", "channel": "D1", "tab": "home", "event_ts": "1.1"}
    with app.client() as http:
        post_slack(http, sr.event_callback(event, event_id="Ev-prefs-home"))
        slack.wait_for("views.publish", 1)
        home = slack.home("U_ANA")
        button = next(
            e
            for b in home["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["text"]["text"] == "Preferences"
        )
        assert (
            post_slack(
                http, sr.home_block_actions(button["action_id"], button.get("value", ""), home, user_id="U_ANA")
            ).status_code
            == 200
        )
    [opened] = slack.wait_for("views.open")
    assert opened["view"]["callback_id"] == "prefs.save" and "_error" not in opened


def test_in_teams_prefs_is_a_card_form_whose_submission_saves_or_comes_back_with_the_error(teams_app, teams):
    c = teams_app.container
    post(teams_app, ts.message(teams.service_url, "prefs", user=teams.user("ana@northwind.example")))
    sent = teams.wait_for(lambda: [a for a in teams.sent("a:29:ana") if ts.cards_in(a)])[0]
    form = only_card(sent)
    inputs = {b["id"]: b for b in form["body"] if b["type"].startswith("Input.")}
    assert set(inputs) == {"digest_time", "warn"} and inputs["warn"]["type"] == "Input.ChoiceSet"
    submit = form["actions"][0]
    assert submit["verb"] == "prefs.save"
    bad = press(
        teams_app,
        teams,
        email="ana@northwind.example",
        card_post=sent,
        conversation="a:29:ana",
        act=submit,
        digest_time="18:00",
        warn="realtime",
    )
    assert "18:00 is outside your business hours" in ts.card_text(bad["value"])
    assert stored(c, "ana") is None
    good = press(
        teams_app,
        teams,
        email="ana@northwind.example",
        card_post=sent,
        conversation="a:29:ana",
        act=submit,
        digest_time="",
        warn="mute",
    )
    assert "Saved." in str(good["value"])
    assert stored(c, "ana") == (None, None, None, ["warn"])


def test_in_teams_the_home_cards_preferences_button_opens_the_form(teams_app, teams):
    post(teams_app, ts.message(teams.service_url, "home", user=teams.user("ana@northwind.example")))
    sent = teams.wait_for(lambda: [a for a in teams.sent("a:29:ana") if ts.cards_in(a)])[0]
    button = next(a for a in ts.actions_of(only_card(sent)) if a.get("title") == "Preferences")
    opened = press(teams_app, teams, email="ana@northwind.example", card_post=sent, conversation="a:29:ana", act=button)
    assert [a.get("verb") for a in opened["value"]["actions"]][0] == "prefs.save"


def test_in_the_local_workspace_prefs_is_a_form_and_the_home_has_its_button(make_container, live_server):
    c = make_container(local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    ana = person_id(c, "ana")
    with server.client() as http:
        opened = http.post("/local/api/command", json={"person_id": ana, "text": "/smarketing prefs"}).json()
        assert 'data-action="prefs.save"' in opened["form"]
        bad = http.post(
            "/local/api/form",
            json={
                "person_id": ana,
                "action": "prefs.save",
                "state": "",
                "values": {"digest_time": "9h", "warn": "digest"},
            },
        ).json()
        assert bad["errors"] == {"digest_time": "'9h' is not a time; use HH:MM, e.g. 09:30. Nothing changed."}
        good = http.post(
            "/local/api/form",
            json={
                "person_id": ana,
                "action": "prefs.save",
                "state": "",
                "values": {"digest_time": "09:45", "warn": "digest"},
            },
        ).json()
        assert good["errors"] is None and "Saved." in good["ephemeral"]
        shown = http.post("/local/api/command", json={"person_id": ana, "text": "prefs show"}).json()
        assert "Morning digest at 09:45 America/New_York — yours (company default: 09:00)" in shown["ephemeral"]
        home = http.get("/local/api/home", params={"person_id": ana}).json()
        assert "Preferences</button>" in home["html"]
        from_home = http.post("/local/api/action", json={"person_id": ana, "action": "prefs.open", "value": ""}).json()
        assert 'data-action="prefs.save"' in from_home["form"]
    assert stored(c, "ana") == (time(9, 45), "digest", None, [])
