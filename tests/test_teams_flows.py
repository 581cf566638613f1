"""The product's flows in Microsoft Teams, end to end: the same handlers as Slack, rendered as
Adaptive Cards and delivered to Teams (a local stand-in for the service URL) by the live
dispatcher; buttons and forms come back as ``adaptiveCard/action`` invokes on ``/api/messages``."""

from __future__ import annotations

from datetime import timedelta

from bot.scheduler import run_job
from tests import teams_standin as ts
from tests.bounce_helpers import bounces, lead, seed_lead
from tests.teams_helpers import (  # noqa: F401 - fixtures
    MARKETING,
    SALES,
    WINS,
    app,
    install,
    make_teams_app,
    only_card,
    post,
    post_crm,
    teams,
    teams_server,
)

ANA_DM = "a:dm-29:ana"  # Ana's 1:1 chat, created by the bot on its first direct message


def lead_qualified(event_id: str, crm_id: str, *, score: int) -> dict:
    return {
        "id": event_id,
        "type": "lead.qualified",
        "occurred_at": "2026-11-23T15:00:00Z",
        "data": {
            "id": crm_id,
            "email": "jane@acme.example",
            "name": "Jane Doe",
            "company": "Acme",
            "score": score,
            "status": "SQL",
            "owner_email": "ana@northwind.example",
        },
    }


def action(card: dict, title: str) -> dict:
    for a in ts.actions_of(card):
        if a.get("title") == title:
            return a
    raise AssertionError(f"no {title!r} on the card: {[a.get('title') for a in ts.actions_of(card)]}")


def press(app, teams, *, email: str, card_post: dict, conversation: str, act: dict, **inputs):
    """Press an ``Action.Execute`` on a posted card (inputs are merged into its data, as Teams does)."""
    user = teams.user(email)
    conv = ts.personal(user) if conversation.startswith("a:") else ts.channel_conversation(conversation)
    conv["id"] = conversation
    resp = post(
        app,
        ts.card_action(
            teams.service_url,
            user=user,
            verb=act["verb"],
            data={**act["data"], **inputs},
            reply_to=card_post["id"],
            conversation=conv,
        ),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def breach_alert(app, teams) -> dict:
    """A warm lead handed to Ana, no follow-up for five hours: the cooling ladder's DM."""
    install(app, teams)
    assert post_crm(app, [lead_qualified("evt-q-7", "L-7", score=75)]).status_code == 200
    app.container.deps.clock.advance(timedelta(hours=5))  # past the 4 business hours of a warm lead
    assert run_job(app.container, "cooling").done >= 1
    sent = teams.wait_for(lambda: [a for a in teams.sent(ANA_DM) if a.get("summary", "").startswith("🔥 SLA breached")])
    return sent[0]


# --- wins ---------------------------------------------------------------------------------------


def test_a_won_deal_is_celebrated_with_a_card_in_the_wins_channel(app, teams):
    install(app, teams)
    deal = {
        "id": "evt-d-1",
        "type": "deal.closed_won",
        "occurred_at": "2026-11-23T14:00:00Z",
        "data": {
            "id": "D-1",
            "name": "Acme expansion",
            "amount": "12000",
            "currency": "USD",
            "owner_email": "ana@northwind.example",
        },
    }
    assert post_crm(app, [deal]).status_code == 200
    [celebration] = teams.wait_for(lambda: teams.sent(WINS))
    card = only_card(celebration)
    text = ts.card_text(card)
    assert card["version"] == "1.5"
    assert "Acme expansion" in text and "12,000" in text
    assert "<at>Ana Torres</at>" in text  # Ana is in the team: a real mention
    assert {
        "type": "mention",
        "text": "<at>Ana Torres</at>",
        "mentioned": {"id": "aad-ana", "name": "Ana Torres"},
    } in card["msteams"]["entities"]
    assert "Acme expansion" in celebration["summary"]
    # The same deal again celebrates nothing new.
    assert post_crm(app, [dict(deal, id="evt-d-1b")]).status_code == 200
    app.container.dispatcher.drain()
    assert len(teams.sent(WINS)) == 1


# --- cooling leads ------------------------------------------------------------------------------


def test_a_cooling_alert_reaches_the_owner_in_teams_with_its_buttons(app, teams):
    alert = breach_alert(app, teams)
    card = only_card(alert)
    assert "Jane Doe" in ts.card_text(card)
    titles = [a["title"] for a in ts.actions_of(card)]
    assert titles[0] == "Log follow-up" and "Bounce to marketing" in titles
    follow_up = action(card, "Log follow-up")
    assert follow_up["type"] == "Action.Execute" and follow_up["verb"] == "cooling.follow_up"
    assert follow_up["data"]["key"]  # the alert's outbox key: a press finds the message


def test_pressing_log_follow_up_on_a_cooling_alert_updates_the_card_in_place(app, teams):
    alert = breach_alert(app, teams)
    answer = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=action(only_card(alert), "Log follow-up"),
    )
    assert answer["type"] == "application/vnd.microsoft.card.adaptive"
    new_card = answer["value"]
    assert "✅ <at>Ana Torres</at> followed up at" in ts.card_text(new_card)
    assert "Log follow-up" not in [a.get("title") for a in ts.actions_of(new_card)]
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id("L-7").touch_count >= 1
    # The dispatcher updates the posted activity too (PUT), for everyone in the chat.
    teams.wait_for(lambda: teams.calls("PUT", f"/activities/{alert['id']}"))
    now = next(a for a in teams.sent(ANA_DM) if a["id"] == alert["id"])
    assert "followed up at" in ts.card_text(only_card(now))


def test_someone_else_pressing_a_button_gets_a_short_answer_and_the_card_stays(app, teams):
    alert = breach_alert(app, teams)
    answer = press(
        app,
        teams,
        email="ben@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=action(only_card(alert), "Log follow-up"),
    )
    assert answer["type"] == "application/vnd.microsoft.activity.message"
    assert "Ana Torres" in answer["value"]  # who may act on it
    assert teams.calls("PUT") == []


# --- bounce-back through the card form ----------------------------------------------------------


def test_bounce_to_marketing_opens_the_form_in_the_card(app, teams):
    alert = breach_alert(app, teams)
    answer = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=action(only_card(alert), "Bounce to marketing"),
    )
    form = answer["value"]
    inputs = {b["id"]: b for b in form["body"] if b["type"].startswith("Input.")}
    assert inputs["reason"]["type"] == "Input.ChoiceSet" and inputs["reason"]["isRequired"] is True
    assert [c["title"] for c in inputs["reason"]["choices"]][:3] == ["Not ready to buy", "No budget", "Wrong contact"]
    assert inputs["note"]["isMultiline"] is True and inputs["note"]["maxLength"] == 500
    assert "Jane Doe" in ts.card_text(form)
    submit = form["actions"][0]
    assert (submit["type"], submit["verb"]) == ("Action.Execute", "bounce.submit")


def test_submitting_the_bounce_form_bounces_the_lead_tells_marketing_and_restores_the_alert(app, teams):
    alert = breach_alert(app, teams)
    form = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=action(only_card(alert), "Bounce to marketing"),
    )["value"]
    answer = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=form["actions"][0],
        reason="wrong_contact",
        note="Their CFO decides",
    )
    text = ts.card_text(answer["value"])
    assert "Jane Doe" in text and "Wrong contact" in text  # the alert again, with the confirmation
    c = app.container
    with c.uow_factory() as uow:
        lead_id = uow.leads.by_crm_id("L-7").id
    [b] = bounces(c, lead_id)
    assert (b.reason, b.note) == ("wrong_contact", "Their CFO decides")
    assert lead(c, lead_id).status == "nurture"
    c.dispatcher.drain()
    assert teams.sent(MARKETING) == []  # 20:00 in London: held for marketing's next opening
    c.deps.clock.advance(timedelta(hours=14))  # Tuesday 10:00 in London
    c.dispatcher.drain()
    [to_marketing] = teams.wait_for(lambda: teams.sent(MARKETING))
    assert "Wrong contact" in ts.card_text(only_card(to_marketing))


def test_a_bounce_form_with_an_over_long_note_comes_back_with_the_error_inline(app, teams):
    alert = breach_alert(app, teams)
    form = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=action(only_card(alert), "Bounce to marketing"),
    )["value"]
    answer = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=alert,
        conversation=ANA_DM,
        act=form["actions"][0],
        reason="not_ready",
        note="n" * 501,
    )
    again = answer["value"]
    assert "The note is 501 characters; please keep it to 500." in ts.card_text(again)
    reason = next(b for b in again["body"] if b.get("id") == "reason")
    assert reason["value"] == "not_ready"  # what was chosen stays chosen
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id("L-7").status == "qualified"


def test_the_bounce_command_without_a_reason_sends_the_form_card(app, teams):
    install(app, teams)
    seed_lead(app.container)
    post(app, ts.message(teams.service_url, "bounce L-1", user=teams.user("ana@northwind.example")))
    [sent] = teams.sent("a:29:ana")
    form = only_card(sent)
    assert form["actions"][0]["verb"] == "bounce.submit"
    answer = press(
        app,
        teams,
        email="ana@northwind.example",
        card_post=sent,
        conversation="a:29:ana",
        act=form["actions"][0],
        reason="no_budget",
        note="",
    )
    assert "No budget" in ts.card_text(answer["value"])
    with app.container.uow_factory() as uow:
        assert uow.leads.by_crm_id("L-1").status == "nurture"


def test_the_bounce_command_with_a_reason_answers_in_the_chat(app, teams):
    install(app, teams)
    seed_lead(app.container)
    post(
        app,
        ts.message(
            teams.service_url, "bounce L-1 not_ready Circle back in Q2", user=teams.user("ana@northwind.example")
        ),
    )
    [answer] = teams.sent("a:29:ana")
    assert "back to marketing" in answer["text"] and "**Jane Doe**" in answer["text"]


# --- the weekly schedule and the bounce report --------------------------------------------------


def test_the_weekly_schedule_is_posted_to_both_teams_channels_as_cards(app, teams):
    install(app, teams)
    assert run_job(app.container, "digest").done == 2  # Monday, after 09:00 in New York and London
    for conversation in (SALES, MARKETING):
        [week] = teams.wait_for(lambda conversation=conversation: teams.sent(conversation))
        card = only_card(week)
        assert card["version"] == "1.5" and card["body"]
        assert week["summary"]


def test_the_bounce_reasons_report_is_posted_to_marketing(app, teams):
    install(app, teams)
    clock = app.container.deps.clock
    clock.advance(timedelta(days=-1))  # a bounce on Sunday, inside the week the report covers
    seed_lead(app.container)
    post(app, ts.message(teams.service_url, "bounce L-1 no_budget", user=teams.user("ana@northwind.example")))
    app.container.dispatcher.drain()
    assert teams.sent(MARKETING) == []  # Sunday is outside marketing's hours: the post waits for Monday
    clock.advance(timedelta(days=1))  # Monday 15:00 UTC: the report (due 09:30 London) is due
    app.container.dispatcher.drain()
    teams.wait_for(lambda: teams.sent(MARKETING))  # the bounce itself, at Monday's opening
    assert run_job(app.container, "bounce_report").done == 1
    posts = teams.wait_for(lambda: len(teams.sent(MARKETING)) >= 2 and teams.sent(MARKETING))
    report = only_card(posts[-1])
    assert "No budget" in ts.card_text(report)


def test_schedule_add_is_a_card_form_and_its_submission_adds_the_entry(app, teams):
    user = teams.user("kira@northwind.example")
    post(app, ts.message(teams.service_url, "schedule add", user=user))
    [sent] = teams.sent("a:29:kira")
    form = only_card(sent)
    inputs = {b["id"]: b for b in form["body"] if b["type"].startswith("Input.")}
    assert inputs["start"]["type"] == "Input.Date" and inputs["start"]["value"] == "2026-11-23"
    assert inputs["kind"]["type"] == "Input.ChoiceSet"
    submit = form["actions"][0]
    assert submit["verb"] == "schedule.add"
    bad = press(
        app,
        teams,
        email="kira@northwind.example",
        card_post=sent,
        conversation="a:29:kira",
        act=submit,
        team="marketing",
        kind="webinar",
        title="Spring webinar",
        regions="EMEA",
        start="2026-11-26",
        end="",
        link="ftp://nope",
    )
    assert "https://" in ts.card_text(bad["value"])  # the link's error, on the form
    good = press(
        app,
        teams,
        email="kira@northwind.example",
        card_post=sent,
        conversation="a:29:kira",
        act=submit,
        team="marketing",
        kind="webinar",
        title="Spring webinar",
        regions="EMEA",
        start="2026-11-26",
        end="",
        link="",
    )
    assert "Spring webinar" in ts.card_text(good["value"])
    with app.container.uow_factory() as uow:
        from sqlmodel import select

        from storage.models import ScheduleItem

        [item] = uow.session.exec(select(ScheduleItem)).all()
    assert (item.title, item.team, item.regions) == ("Spring webinar", "marketing", ["EMEA"])


# --- both at once -------------------------------------------------------------------------------


def test_one_deployment_serves_slack_and_teams_each_channel_on_its_platform(make_teams_app, teams, slack):
    from tests.conftest import BOT_TOKEN, SIGNING_SECRET
    from tests.teams_helpers import teams_config

    cfg = teams_config()
    cfg.channels["wins"].platform, cfg.channels["wins"].slack = "slack", "C_WINS"
    app = make_teams_app(
        config=cfg, slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack.base_url
    )
    install(app, teams)
    deal = {
        "id": "evt-d-2",
        "type": "deal.closed_won",
        "occurred_at": "2026-11-23T14:00:00Z",
        "data": {
            "id": "D-2",
            "name": "Globex renewal",
            "amount": "9000",
            "currency": "USD",
            "owner_email": "ana@northwind.example",
            "lead_id": None,
        },
    }
    assert post_crm(app, [deal]).status_code == 200
    slack.wait_for("chat.postMessage", 1)
    [celebration] = slack.messages("C_WINS")
    assert "Globex renewal" in celebration["text"]
    assert teams.sent(WINS) == []
    # Commands still work in Teams in the same deployment.
    post(app, ts.message(teams.service_url, "help", user=teams.user("ana@northwind.example")))
    assert len(teams.sent("a:29:ana")) == 1
