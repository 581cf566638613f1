"""Microsoft Teams end to end: activities posted to ``/api/messages`` of the real server (the SDK's
token validation off for the test, as with the Agents Playground), replies and proactive posts
captured by a local stand-in for the Teams service URL (tests/teams_standin.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handlers.messages import Actions, Button, Form, Input, Message, Option, Reply, Section, mention
from handlers.ports import channel, dm
from handlers.registry import Flow
from tests import teams_standin as ts
from tests.teams_helpers import (  # noqa: F401 - fixtures
    CHANNELS,
    SALES,
    TEAM_ID,
    WINS,
    app,
    install,
    make_teams_app,
    only_card,
    outbox_row,
    outbox_status,
    person,
    post,
    teams,
    teams_server,
)


# --- the endpoint -------------------------------------------------------------------------------


def test_an_activity_without_a_valid_token_is_refused_with_401(make_teams_app, teams):
    app = make_teams_app(dangerously_allow_unauthenticated_requests=False)
    user = teams.user("ana@northwind.example")
    activity = ts.message(teams.service_url, "help", user=user)
    assert post(app, activity).status_code == 401
    assert post(app, activity, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    assert teams.requests == []  # nothing answered, nothing looked up
    with app.container.uow_factory() as uow:
        assert uow.teams.all() == []


def test_a_body_that_is_not_an_activity_is_a_400(app):
    with app.client() as http:
        assert (
            http.post("/api/messages", content=b"{nope", headers={"Content-Type": "application/json"}).status_code
            == 400
        )
        assert http.post("/api/messages", json=[1, 2]).status_code == 400


def test_without_teams_credentials_the_endpoint_says_how_to_configure_it(make_container, live_server):
    app = live_server(make_container())
    with app.client() as http:
        resp = http.post("/api/messages", json={})
    assert resp.status_code == 404 and "TEAMS_CLIENT_ID" in resp.text


# --- commands -----------------------------------------------------------------------------------


def test_help_sent_in_a_personal_chat_is_answered_with_the_command_list(app, teams):
    user = teams.user("ana@northwind.example")
    assert post(app, ts.message(teams.service_url, "help", user=user)).status_code == 200
    [answer] = teams.sent("a:29:ana")
    text = ts.card_text(only_card(answer))
    assert "Smarketing Bot" in text and "help" in text and "bounce" in text
    assert answer["summary"].startswith("Smarketing Bot keeps sales and marketing in step")
    card = only_card(answer)
    assert card["version"] == "1.5" and card["type"] == "AdaptiveCard"


def test_the_sender_is_matched_to_a_person_by_email_and_their_chat_is_remembered(app, teams):
    user = teams.user("ana@northwind.example")
    post(app, ts.message(teams.service_url, "help", user=user))
    ana = person(app.container, "ana")
    assert ana.teams_user_id == "aad-ana"
    with app.container.uow_factory() as uow:
        chat = uow.teams.personal(ana.id)
    assert (chat.conversation_id, chat.service_url, chat.tenant_id) == ("a:29:ana", teams.service_url, ts.TENANT)


def test_a_command_by_mention_in_a_channel_is_answered_in_its_thread(app, teams):
    user = teams.user("ana@northwind.example")
    activity = ts.message(
        teams.service_url,
        "frobnicate now",
        user=user,
        mention=True,
        conversation=ts.channel_conversation(SALES, thread="1700"),
        team=(TEAM_ID, "Northwind"),
        channel=(SALES, "Sales"),
    )
    assert post(app, activity).status_code == 200
    [answer] = teams.sent(f"{SALES};messageid=1700")
    assert "I don't know `frobnicate`" in answer["text"]
    with app.container.uow_factory() as uow:
        sales = uow.teams.by_conversation(SALES)
    assert (sales.kind, sales.name, sales.team_id, sales.team_name) == ("channel", "Sales", TEAM_ID, "Northwind")


def test_a_repeated_activity_is_answered_once(app, teams):
    activity = ts.message(teams.service_url, "help", user=teams.user("ana@northwind.example"))
    post(app, activity)
    post(app, activity)
    assert len(teams.sent("a:29:ana")) == 1


def test_someone_the_config_does_not_know_still_gets_an_answer(app, teams):
    stranger = teams.add_user("zed@elsewhere.example", "29:zed", "aad-zed")
    post(app, ts.message(teams.service_url, "help", user=stranger))
    assert len(teams.sent("a:29:zed")) == 1


# --- installs -----------------------------------------------------------------------------------


def test_installing_in_a_team_records_its_channels_matches_its_members_and_says_hello(app, teams):
    install(app, teams)
    c = app.container
    with c.uow_factory() as uow:
        names = {r.conversation_id: r.name for r in uow.teams.all() if r.kind == "channel"}
        assert names == {cid: name or "General" for cid, name in CHANNELS.items()}
        kira = uow.people.by_key("kira")
        assert kira.teams_user_id == "aad-kira"
        assert uow.people.by_key("diego").teams_user_id is None  # not in the team
        chat = uow.teams.personal(kira.id)
        assert (chat.conversation_id, chat.user_id) == (None, "29:kira")  # created on the first DM
    [welcome] = teams.sent(TEAM_ID)
    assert "Northwind" in welcome["text"]


def test_installing_personally_says_hello_by_first_name(app, teams):
    post(app, ts.installed_personally(teams.service_url, user=teams.user("ben@northwind.example")))
    [hello] = teams.sent("a:29:ben")
    assert hello["text"].startswith("Hi Ben!")


def test_channels_created_renamed_and_deleted_are_followed(app, teams):
    install(app, teams)
    user = teams.user("sam@northwind.example")
    for event, name in (("channelCreated", "Launches"), ("channelRenamed", "Launch Room")):
        post(
            app,
            ts.channel_event(
                teams.service_url,
                user=user,
                team_id=TEAM_ID,
                team_name="Northwind",
                event=event,
                channel_id="19:launch@thread.tacv2",
                channel_name=name,
            ),
        )
    with app.container.uow_factory() as uow:
        [room] = uow.teams.find_channels("launch room")
        assert room.conversation_id == "19:launch@thread.tacv2"
    post(
        app,
        ts.channel_event(
            teams.service_url,
            user=user,
            team_id=TEAM_ID,
            team_name="Northwind",
            event="channelDeleted",
            channel_id="19:launch@thread.tacv2",
            channel_name=None,
        ),
    )
    with app.container.uow_factory() as uow:
        assert uow.teams.find_channels("Launch Room") == []


# --- proactive posts, buttons, forms (with a small flow of the test's own) ------------------------


def _ping(uow, deps, actor, args):
    """``ping``: posts a card with a button to the wins channel."""
    msg = Message(
        text="Ping!",
        blocks=[
            Section(text=f"*Ping* from {mention(actor.person_id)}"),
            Actions(buttons=[Button(label="Ack", action="test.ack", value="42", style="primary")]),
        ],
    )
    uow.outbox.add(key="ping:1", destination=channel("wins"), payload=msg.to_json(), at=deps.now())
    uow.commit()
    return Reply.say("Pinged.")


def _ack(uow, deps, actor, value, source):
    """The button: replaces the card with who acknowledged it."""
    msg = Message(text="Acked", blocks=[Section(text=f"Acknowledged by {mention(actor.person_id)} ({value})")])
    uow.outbox.add(
        key=f"{source.outbox_key}:ack",
        op="update",
        target_key=source.outbox_key,
        destination=channel("wins"),
        payload=msg.to_json(),
        at=deps.now(),
    )
    uow.commit()
    return Reply.say("Thanks!")


def _ask(uow, deps, actor, args):
    return Reply(
        form=Form(
            title="Tell me",
            action="test.tell",
            state="s-1",
            submit_label="Send",
            inputs=[
                Input(
                    name="color",
                    label="Color",
                    kind="select",
                    options=[Option(value="r", label="Red"), Option(value="g", label="Green")],
                ),
                Input(name="note", label="Note", kind="textarea", required=False, max_length=20),
                Input(name="when", label="When", kind="datetime"),
            ],
        )
    )


def _tell(uow, deps, actor, state, values):
    if values.get("note") and "bad" in values["note"]:
        return Reply(errors={"note": "No bad words, please."})
    return Reply.say(f"Got {values['color']} at {values['when']} ({state})")


def _dm(uow, deps, actor, args):
    kira = uow.people.by_key("kira")
    uow.outbox.add(key="dm:kira", destination=dm(kira.id), payload=Message(text="Psst, Kira").to_json(), at=deps.now())
    uow.commit()
    return Reply.say("Sent.")


TEST_FLOW = Flow(
    name="test",
    commands={"ping": _ping, "ask": _ask, "dmkira": _dm},
    actions={"test.ack": _ack},
    forms={"test.tell": _tell},
)


@pytest.fixture
def test_app(make_teams_app):
    return make_teams_app(flows=[TEST_FLOW])


def test_a_proactive_post_goes_to_the_configured_channel_as_a_card_with_buttons(test_app, teams):
    install(test_app, teams)
    post(test_app, ts.message(teams.service_url, "ping", user=teams.user("ana@northwind.example")))
    [card_post] = teams.wait_for(lambda: teams.sent(WINS))
    card = only_card(card_post)
    assert "**Ping** from <at>Ana Torres</at>" in ts.card_text(card)
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": "<at>Ana Torres</at>", "mentioned": {"id": "aad-ana", "name": "Ana Torres"}}
    ]
    [ack] = ts.actions_of(card)
    assert ack == {
        "type": "Action.Execute",
        "title": "Ack",
        "verb": "test.ack",
        "style": "positive",
        "data": {"value": "42", "key": "ping:1"},
    }
    assert card_post["summary"] == "Ping!"
    row = outbox_row(test_app.container, "ping:1", "sent")
    assert (row.status, row.platform, row.platform_channel, row.platform_ref) == (
        "sent",
        "teams",
        WINS,
        card_post["id"],
    )


def test_pressing_a_button_replaces_the_card_in_place(test_app, teams):
    install(test_app, teams)
    ana, ben = teams.user("ana@northwind.example"), teams.user("ben@northwind.example")
    post(test_app, ts.message(teams.service_url, "ping", user=ana))
    [card_post] = teams.wait_for(lambda: teams.sent(WINS))
    [ack] = ts.actions_of(only_card(card_post))
    press = ts.card_action(
        teams.service_url,
        user=ben,
        verb=ack["verb"],
        data=ack["data"],
        reply_to=card_post["id"],
        conversation=ts.channel_conversation(WINS),
    )
    resp = post(test_app, press)
    assert resp.status_code == 200
    answer = resp.json()
    assert answer["statusCode"] == 200 and answer["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Acknowledged by <at>Ben Okafor</at> (42)" in ts.card_text(answer["value"])
    # The dispatcher also updates the posted activity, so everyone sees the new card.
    teams.wait_for(lambda: teams.calls("PUT", f"/activities/{card_post['id']}"))
    [now] = teams.sent(WINS)
    assert "Acknowledged by" in ts.card_text(only_card(now))


def test_a_command_that_opens_a_form_gets_a_card_with_inputs(test_app, teams):
    user = teams.user("ana@northwind.example")
    post(test_app, ts.message(teams.service_url, "ask", user=user))
    [sent] = teams.sent("a:29:ana")
    card = only_card(sent)
    inputs = {b["id"]: b for b in card["body"] if b["type"].startswith("Input.")}
    assert inputs["color"]["type"] == "Input.ChoiceSet" and inputs["color"]["isRequired"] is True
    assert [c["title"] for c in inputs["color"]["choices"]] == ["Red", "Green"]
    assert inputs["note"]["isMultiline"] is True and inputs["note"]["maxLength"] == 20
    assert inputs["when.date"]["type"] == "Input.Date" and inputs["when.time"]["type"] == "Input.Time"
    submit, cancel = card["actions"]
    assert (submit["type"], submit["verb"], submit["title"]) == ("Action.Execute", "test.tell", "Send")
    assert cancel["associatedInputs"] == "none"


def test_a_form_submission_with_an_error_comes_back_with_the_error_and_the_values(test_app, teams):
    user = teams.user("ana@northwind.example")
    post(test_app, ts.message(teams.service_url, "ask", user=user))
    submit = only_card(teams.sent("a:29:ana")[0])["actions"][0]
    data = dict(submit["data"], color="g", note="bad idea", **{"when.date": "2026-11-24", "when.time": "09:30"})
    resp = post(test_app, ts.card_action(teams.service_url, user=user, verb=submit["verb"], data=data))
    card = resp.json()["value"]
    assert "No bad words, please." in ts.card_text(card)
    inputs = {b["id"]: b for b in card["body"] if b["type"].startswith("Input.")}
    assert inputs["color"]["value"] == "g" and inputs["note"]["value"] == "bad idea"
    assert (inputs["when.date"]["value"], inputs["when.time"]["value"]) == ("2026-11-24", "09:30")


def test_a_valid_form_submission_runs_the_handler_and_confirms(test_app, teams):
    user = teams.user("ana@northwind.example")
    post(test_app, ts.message(teams.service_url, "ask", user=user))
    submit = only_card(teams.sent("a:29:ana")[0])["actions"][0]
    data = dict(submit["data"], color="r", note="", **{"when.date": "2026-11-24", "when.time": "09:30"})
    resp = post(test_app, ts.card_action(teams.service_url, user=user, verb=submit["verb"], data=data))
    # 09:30 in New York (the Teams client's timezone) on 24 November is 14:30 UTC.
    assert "Got r at 1795530600 (s-1)" in ts.card_text(resp.json()["value"])


def test_a_direct_message_to_someone_known_from_the_roster_creates_the_chat(test_app, teams):
    install(test_app, teams)
    post(test_app, ts.message(teams.service_url, "dmkira", user=teams.user("sam@northwind.example")))
    [psst] = teams.wait_for(lambda: teams.sent("a:dm-29:kira"))
    assert only_card(psst)["fallbackText"] == "Psst, Kira"
    [created] = [r for r in teams.calls("POST") if r["path"] == "/v3/conversations"]
    assert created["json"]["members"] == [{"id": "29:kira"}] and created["json"]["tenantId"] == ts.TENANT
    with test_app.container.uow_factory() as uow:
        assert uow.teams.personal(person(test_app.container, "kira").id).conversation_id == "a:dm-29:kira"


# --- delivery failures --------------------------------------------------------------------------


def test_a_rate_limited_post_is_retried_after_the_time_teams_asks(test_app, teams):
    install(test_app, teams)
    teams.fail_next(WINS, 429, retry_after=0.2)
    post(test_app, ts.message(teams.service_url, "ping", user=teams.user("ana@northwind.example")))
    teams.wait_for(lambda: teams.calls("POST", f"/v3/conversations/{WINS}/activities"))
    c = test_app.container
    teams.wait_for(lambda: outbox_status(c, "ping:1") == "pending")
    with c.uow_factory() as uow:
        row = uow.outbox.by_key("ping:1")
    assert "rate limited by Teams" in row.last_error
    assert row.next_attempt_at - c.deps.now() >= timedelta(seconds=0.2)
    # Teams refused it: nothing was posted, and "later" is not counted against the message.
    assert row.attempts == 0 and row.attempt_started_at is None
    c.deps.clock.advance(timedelta(seconds=1))  # the test's clock only moves when told
    c.wake()
    teams.wait_for(lambda: teams.sent(WINS))
    posts = teams.calls("POST", f"/v3/conversations/{WINS}/activities")
    assert len(posts) == 2  # refused once, then delivered


def test_a_post_to_a_conversation_that_is_gone_is_marked_dead(test_app, teams):
    install(test_app, teams)
    teams.gone.add(WINS)
    post(test_app, ts.message(teams.service_url, "ping", user=teams.user("ana@northwind.example")))
    row = outbox_row(test_app.container, "ping:1", "dead")
    assert "no longer exists" in row.last_error
    assert len(teams.calls("POST", f"/v3/conversations/{WINS}/activities")) == 1


def test_a_channel_the_bot_was_never_added_to_is_dead_with_a_reason(test_app, teams):
    # No install: nothing is known about the Wins channel.
    post(test_app, ts.message(teams.service_url, "ping", user=teams.user("ana@northwind.example")))
    assert "not connected in Teams" in outbox_row(test_app.container, "ping:1", "dead").last_error


# --- errors -------------------------------------------------------------------------------------


def test_an_error_gives_the_sender_a_brief_answer_with_a_reference(app, teams, monkeypatch):
    from bot.teams import app as teams_app

    def boom(*a, **k):
        raise RuntimeError("database on fire")

    # The failure is injected below the adapter (in the runners it calls).
    monkeypatch.setattr(teams_app, "run_command", boom)
    monkeypatch.setattr(teams_app, "run_action", boom)
    user = teams.user("ana@northwind.example")
    assert post(app, ts.message(teams.service_url, "help", user=user)).status_code == 200
    [answer] = teams.sent("a:29:ana")
    assert "Something went wrong" in answer["text"] and "ref teams-" in answer["text"]
    assert "database on fire" not in answer["text"]
    resp = post(app, ts.card_action(teams.service_url, user=user, verb="cooling.follow_up", data={"value": "1"}))
    assert resp.status_code == 200
    assert resp.json()["type"] == "application/vnd.microsoft.activity.message"
    assert "Something went wrong" in resp.json()["value"] and "database on fire" not in resp.json()["value"]


def test_when_teams_cannot_be_reached_for_the_answer_the_activity_is_still_acknowledged(app, teams):
    user = teams.user("ana@northwind.example")
    activity = ts.message("http://127.0.0.1:9/", "help", user=user)  # nothing listens there
    assert post(app, activity).status_code == 200
