"""Wins end to end: signed CRM webhooks and slash commands to the real HTTP server, Slack's Web API
stood in for by the local mock (which enforces Block Kit's limits), the live outbox dispatcher."""

from __future__ import annotations

import json

from freezegun import freeze_time

from bot.dispatch import wait_until_delivered
from bot.scheduler import run_job
from bot.signing import HEADER, sign
from handlers.ports import OffsetClock
from tests import slack_requests as sr
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, demo_config_with_slack
from tests.wins_helpers import campaign, deal, touch


def send(http, *events: dict):
    body = json.dumps(list(events)).encode()
    return http.post(
        "/webhooks/crm", content=body, headers={"Content-Type": "application/json", HEADER: sign(WEBHOOK_SECRET, body)}
    )


def slash(http, text: str, user_id: str = "U_ANA"):
    body, ctype = sr.slash_command(text, user_id=user_id)
    return http.post("/slack/events", content=body, headers=sr.signed_headers(SIGNING_SECRET, body, ctype))


def settle(c) -> None:
    """Wait until everything enqueued so far is delivered (or dead)."""
    with c.uow_factory() as uow:
        from sqlmodel import select

        from storage.models import Outbox

        keys = list(uow.session.exec(select(Outbox.key)))
    assert wait_until_delivered(c.uow_factory, keys, timeout=10)


def shown(message: dict) -> str:
    """Everything a person reads in a posted message: fallback, header, sections, fields, contexts."""
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        text = block.get("text") or {}
        parts.append(text.get("text", "") if isinstance(text, dict) else text)
        parts.extend(f["text"] for f in block.get("fields") or [])
        parts.extend(e.get("text", "") for e in block.get("elements") or [] if isinstance(e, dict))
    return "\n".join(parts)


def test_a_signed_won_deal_yields_exactly_one_wins_post_with_amount_owner_and_sourcing_campaign(app, slack):
    with app.client() as http:
        assert send(http, campaign("camp-1", "Data Summit Webinar"), touch("camp-1")).status_code == 200
        resp = send(http, deal("D-1", name="Acme renewal", amount=48000))
    assert resp.json() == {"accepted": 1, "duplicates": 0}
    settle(app.container)
    slack.wait_for("reactions.add")  # the reaction follows the post (no marketing post to wait for now)
    [post] = slack.messages("C_WINS")
    text = shown(post)
    assert "Acme renewal" in text and "$48,000" in text
    assert "Ana Torres" in text  # the owner (the mock's ids are not real Slack ids, so by name)
    assert "Data Summit Webinar" in text and "Kira Novak" in text
    assert "$48,000" in post["text"] and "Acme renewal" in post["text"]  # the plain-text fallback
    assert [r["name"] for r in post.get("reactions", [])] == ["tada"]
    # Said once: the campaign's owner is mentioned in the wins post, so marketing gets no second post
    # (``wins.marketing_post``), and the card names the deal and its amount once (the header).
    assert slack.messages("C_MARKETING") == []
    card = text.split("\n", 1)[1]  # the blocks, not the notification's fallback
    assert card.count("$48,000") == 2 and card.count("Acme renewal") == 1  # the header; the month's total
    assert slack.messages("C_COMPANY") == []  # below wide_at


def test_repeats_of_a_celebrated_deal_yield_no_post(app, slack):
    first = deal("D-1", name="Acme renewal", amount=48000)
    with app.client() as http:
        send(http, first)
        settle(app.container)
        assert send(http, first).json() == {"accepted": 0, "duplicates": 1}  # the same event
        assert send(http, deal("D-1", name="Acme renewal", amount=48000)).json()["accepted"] == 1  # a new event id
        answer = slash(http, "won ACME Renewal $48,000", user_id="U_BEN")  # a rep, after the CRM
    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert "already celebrated" in answer.json()["text"]
    settle(app.container)
    assert len(slack.messages("C_WINS")) == 1
    assert len(slack.successful_calls("chat.postMessage")) == 1 + 0  # no marketing note: no campaign touched it


def test_a_rep_announces_a_win_with_the_slash_command(app, slack):
    with app.client() as http:
        send(http, campaign("camp-1", "Data Summit Webinar"))
        answer = slash(http, "won Globex expansion 62,500 camp-1", user_id="U_ANA")
    assert answer.json()["response_type"] == "ephemeral"
    assert "Recorded *Globex expansion*: $62,500" in answer.json()["text"]
    settle(app.container)
    [post] = slack.messages("C_WINS")
    assert "Globex expansion" in shown(post) and "Data Summit Webinar" in shown(post)
    assert len(slack.messages("C_COMPANY")) == 1  # $62,500 >= wide_at


def test_a_slash_command_with_a_bad_amount_gets_an_ephemeral_answer_and_nothing_is_posted(app, slack):
    with app.client() as http:
        answer = slash(http, "won Globex -500")
    assert answer.json() == {**answer.json(), "response_type": "ephemeral"}
    assert "more than zero" in answer.json()["text"]
    settle(app.container)
    assert slack.calls("chat.postMessage") == []


def test_a_big_deal_also_goes_to_the_wide_channel(app, slack):
    with app.client() as http:
        send(http, deal("D-big", name="Initech platform", amount=120000), deal("D-ok", name="Hooli", amount=3000))
    settle(app.container)
    assert len(slack.messages("C_WINS")) == 2
    [wide] = slack.messages("C_COMPANY")
    assert "Initech platform" in shown(wide) and "$120,000" in shown(wide)


def test_small_deals_are_posted_once_in_the_daily_roll_up(make_container, slack, live_server):
    config = demo_config_with_slack()
    config.wins.celebrate_within_days = None  # the deals' dates are fixed; the wall clock is not
    config.delivery.quiet_hours = False  # on the wall clock; the roll-up is what this is about
    c = make_container(slack_mock=slack, config=config, clock=OffsetClock())
    app = live_server(c)
    with app.client() as http:
        send(
            http,
            deal("D-1", name="Small one", amount=1500),
            deal("D-2", name="Small two", amount=700),
            deal("D-3", name="Regular", amount=2500),
        )
    settle(c)
    assert len(slack.messages("C_WINS")) == 1  # only the regular one, so far
    with freeze_time("2026-11-23 21:59:00"):  # 16:59 in New York
        assert run_job(c, "wins_rollup").done == 0
    with freeze_time("2026-11-23 22:00:00"):
        assert run_job(c, "wins_rollup").done == 2
    with freeze_time("2026-11-23 23:30:00"):
        assert run_job(c, "wins_rollup").done == 0
        c.dispatcher.drain()  # its time has come in the frozen clock, whatever the wall clock says
    settle(c)
    regular, rollup = slack.messages("C_WINS")
    assert "More wins Monday Nov 23: 2 deals, $2,200" in rollup["text"]
    assert "Small one" in shown(rollup) and "Small two" in shown(rollup) and "Regular" not in shown(rollup)


def test_bad_deals_are_refused_with_400_naming_the_field_and_nothing_is_stored(app, slack):
    negative = deal("D-1", amount=-5)
    missing = deal("D-2")
    del missing["data"]["amount"]
    odd_currency = deal("D-3", currency="ABC")
    with app.client() as http:
        resp = send(http, negative, missing, odd_currency)
    assert resp.status_code == 400
    problems = {(p["index"], p["field"]) for p in resp.json()["problems"]}
    assert problems == {(0, "data.amount"), (1, "data.amount"), (2, "data.currency")}
    with app.container.uow_factory() as uow:
        assert uow.deals.by_crm_id("D-1") is None
    assert slack.calls("chat.postMessage") == []


def test_a_5000_character_deal_name_and_owners_outside_slack_never_fail_the_post(app, slack):
    with app.client() as http:
        send(
            http,
            deal("D-long", name="Enterprise agreement " + "x" * 4979, owner="erin@northwind.example"),  # not in Slack
            deal("D-ext", name="Partner deal", owner="zoe@partner.example"),
        )  # not in the people list
    settle(app.container)
    long, partner = slack.messages("C_WINS")  # the mock accepted both: within Block Kit's limits
    assert len(long["blocks"][0]["text"]["text"]) <= 150
    assert "Erin Walsh" in shown(long)
    assert "zoe@partner.example" in shown(partner)
    assert any("zoe@partner.example" in m["text"] for m in slack.messages("U_MAYA"))  # the admin hears of it
    with app.container.uow_factory() as uow:
        assert uow.outbox.counts().get("dead", 0) == 0


def test_the_webhook_answers_a_batch_of_wins_without_waiting_for_slack(app, slack):
    """Ack first: the CRM has its answer while Slack is still holding the first post, and the
    wins go out after it (a timed assertion is a benchmark's job: bench/bench_webhook.py)."""
    arrived, release = slack.hold_next("chat.postMessage")
    events = [deal(f"D-{i}", name=f"Deal {i}", amount=3000 + i) for i in range(200)]
    try:
        with app.client() as http:
            resp = send(http, *events)
        assert resp.json() == {"accepted": 200, "duplicates": 0}
        assert arrived.wait(10)  # the first win is being posted: Slack holds it
        assert slack.messages("C_WINS") == []  # the answer above did not wait for it
    finally:
        release.set()
    settle(app.container)
    assert any("Deal" in m["text"] for m in slack.messages("C_WINS"))
