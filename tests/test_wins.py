"""The wins flow on a real database: what is celebrated where, once, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.scheduler import run_job
from bot.slack.blocks import render_message
from handlers.commands import run_command
from handlers.events import validate_events
from handlers.messages import Header, Message, mention
from handlers.ports import Actor
from tests.slack_mock import message_problem
from tests.wins_helpers import campaign, deal, ingest, messages, outbox, person_id, text_of, touch


@pytest.fixture
def c(make_container):
    return make_container()


def won(c, who: str | None, text: str):
    actor = Actor(person_id(c, who) if who else None, "local")
    return run_command(c.registry, c.uow_factory, c.deps, actor, f"won {text}")


def deals(c):
    from sqlmodel import select

    from storage.models import Deal

    with c.uow_factory() as uow:
        return uow.session.exec(select(Deal).order_by(Deal.id)).all()


def seed_campaigns(c):
    ingest(
        c,
        campaign("camp-1", "Data Summit Webinar", "webinar", "kira@northwind.example"),
        campaign("camp-2", "Pricing Guide", "ebook", "leo@northwind.example"),
    )


# --- the celebration --------------------------------------------------------------------------


def test_a_won_deal_is_celebrated_once_in_the_wins_channel_with_its_campaigns(c):
    seed_campaigns(c)
    ingest(c, touch("camp-1", at="2026-11-03T10:00:00Z"), touch("camp-2", at="2026-11-20T10:00:00Z"))
    ingest(c, deal("D-1", amount=48000))
    [post] = messages(c, "channel:wins")
    text = text_of(post)
    kira, leo, ana = (f"{mention(person_id(c, k))}" for k in ("kira", "leo", "ana"))
    assert "$48,000" in post.blocks[0].text and "Acme renewal" in post.blocks[0].text
    assert f"Owner: {ana}" in text
    assert f"Sourced by: Webinar *Data Summit Webinar* ({kira})" in text
    assert f"Converted by: E-book *Pricing Guide* ({leo})" in text
    assert "Time to close: 20 days from first touch" in text
    assert "November 2026: *$48,000* won of $250,000 target (19%)" in text
    assert post.reaction == "tada"
    assert "$48,000" in post.text and ana in post.text  # the plain-text fallback says it too


def test_the_campaign_owners_are_mentioned_in_the_wins_post_and_marketing_gets_no_second_post(c):
    seed_campaigns(c)
    ingest(c, touch("camp-1", at="2026-11-03T10:00:00Z"), touch("camp-2", at="2026-11-20T10:00:00Z"))
    ingest(c, deal("D-1", amount=48000))
    [post] = messages(c, "channel:wins")
    kira, leo = (f"{mention(person_id(c, k))}" for k in ("kira", "leo"))
    assert kira in text_of(post) and leo in text_of(post)
    assert messages(c, "channel:marketing") == []
    shown = text_of(post).split("\n", 1)[1]  # what the card shows (not the notification's fallback line)
    assert shown.count("$48,000") == 2  # the header, and the month's total line
    assert shown.count("Acme renewal") == 1


def test_the_campaign_owners_hear_it_in_the_marketing_channel_when_configured(make_container):
    from tests.conftest import demo_config_with_slack

    cfg = demo_config_with_slack()
    cfg.wins.marketing_post = True
    c = make_container(config=cfg)
    seed_campaigns(c)
    ingest(c, touch("camp-1", at="2026-11-03T10:00:00Z"), touch("camp-2", at="2026-11-20T10:00:00Z"))
    ingest(c, deal("D-1", amount=48000))
    [note] = messages(c, "channel:marketing")
    kira, leo = (f"{mention(person_id(c, k))}" for k in ("kira", "leo"))
    assert f"{kira}: your webinar *Data Summit Webinar* sourced a $48,000 win" in note.text
    assert f"{leo}: your e-book *Pricing Guide* converted a $48,000 win" in note.text


def test_a_deal_with_no_campaign_touch_is_sourced_by_sales_and_marketing_is_not_told(c):
    ingest(c, deal("D-1", lead="L-9"))
    [post] = messages(c, "channel:wins")
    assert "Sourced by: Sales (no campaign touched it before the close)" in text_of(post)
    assert "sourced by sales" in post.text
    assert messages(c, "channel:marketing") == []


def test_touches_of_the_contact_email_count_when_the_deal_has_no_lead(c):
    seed_campaigns(c)
    ingest(c, touch("camp-2", lead=None, email="Jane@Acme.example"))
    ingest(c, deal("D-1", lead=None, email="jane@acme.example"))
    assert "Sourced by: E-book *Pricing Guide*" in text_of(messages(c, "channel:wins")[0])


def test_a_touch_that_arrived_before_its_lead_still_credits_the_campaign(c):
    seed_campaigns(c)
    ingest(c, touch("camp-1", lead="L-new"))  # no lead L-new yet: a placeholder keeps the link
    ingest(c, deal("D-1", lead="L-new"))
    assert "Data Summit Webinar" in text_of(messages(c, "channel:wins")[0])


def test_a_batch_of_wins_reads_as_a_running_tally_of_the_month(c):
    ingest(c, deal("D-0", name="Earlier", amount=10000, closed="2026-11-02T14:00:00Z"))
    ingest(
        c,
        deal("D-1", name="First", amount=20000),
        deal("D-2", name="Second", amount=30000),
        deal("D-3", name="Euro deal", amount=10000, currency="EUR"),
        deal("D-4", name="Yen deal", amount=500000, currency="JPY"),
    )
    lines = {m.blocks[0].text.split(" — ")[0][2:]: m.blocks[-1].text for m in messages(c, "channel:wins")}
    assert lines["Earlier"].startswith("November 2026: *$10,000* won")
    assert lines["First"].startswith("November 2026: *$30,000* won")
    assert lines["Second"].startswith("November 2026: *$60,000* won")
    assert lines["Euro deal"].startswith("November 2026: *$70,800* won")  # EUR at 1.08 from the config
    assert lines["Yen deal"].endswith("+ ¥500,000")  # no rate for JPY: beside the total, not in it


def test_a_deal_closed_last_month_counts_toward_last_months_target(c):
    ingest(c, deal("D-1", amount=5000, closed="2026-11-01T03:00:00Z"))  # Oct 31 in New York
    assert messages(c, "channel:wins")[0].blocks[-1].text.startswith("October 2026: *$5,000* won")


# --- once ---------------------------------------------------------------------------------------


def test_the_same_event_again_is_a_duplicate_and_says_nothing(c):
    ev = deal("D-1")
    assert ingest(c, ev) == (1, 0)
    assert ingest(c, ev) == (0, 1)
    assert len(outbox(c, "channel:wins")) == 1


def test_a_new_event_for_the_same_deal_is_not_celebrated_again(c):
    ingest(c, deal("D-1", amount=48000))
    ingest(c, deal("D-1", amount=48000, name="Acme renewal (updated)"))
    ingest(c, deal("D-1"), deal("D-1"))
    assert len(outbox(c, "channel:wins")) == 1
    assert len(deals(c)) == 1


def test_a_reps_won_after_the_crms_is_answered_already_celebrated(c):
    ingest(c, deal("D-1", name="Acme Renewal"))
    reply = won(c, "ben", "acme   renewal 48000")
    assert "*Acme Renewal* was already celebrated on Nov 23 (from the CRM)" in reply.text
    assert len(outbox(c, "channel:wins")) == 1 and len(deals(c)) == 1


def test_the_crms_event_after_a_reps_won_takes_over_the_deal_without_a_second_post(c):
    won(c, "ana", "Acme renewal 45000")
    ingest(c, deal("D-1", name="ACME Renewal", amount=48000))
    [only] = deals(c)
    assert (only.crm_id, only.amount_minor, only.source, only.celebration) == ("D-1", 4_800_000, "crm", "post")
    assert len(outbox(c, "channel:wins")) == 1
    assert "already celebrated" in won(c, "ben", "Acme renewal 48000").text


def test_the_same_deal_name_weeks_later_is_a_new_win(c):
    ingest(c, deal("D-1", closed="2026-11-02T14:00:00Z"))
    reply = won(c, "ana", "Acme renewal 48000")
    assert reply.text.startswith("🎉 Recorded *Acme renewal*")
    assert len(outbox(c, "channel:wins")) == 2


# --- /smarketing won ----------------------------------------------------------------------------


def test_a_rep_announces_a_win_and_it_is_celebrated_as_theirs(c):
    seed_campaigns(c)
    reply = won(c, "ana", '"Globex 2027 expansion" $62.5k Data Summit Webinar')
    assert reply.text == (
        "🎉 Recorded *Globex 2027 expansion*: $62,500, sourced by Webinar *Data Summit Webinar* "
        f"({mention(person_id(c, 'kira'))}). The wins channel is celebrating it now."
    )
    [d] = deals(c)
    assert (d.source, d.announced_by_id, d.owner_id) == ("command", person_id(c, "ana"), person_id(c, "ana"))
    assert d.crm_id == "manual:globex 2027 expansion:2026-11-23"
    [post] = messages(c, "channel:wins")
    assert f"announced by {mention(person_id(c, 'ana'))}" in post.blocks[-1].text
    assert len(messages(c, "channel:company")) == 1  # $62,500 is at or above wide_at
    assert messages(c, "channel:marketing") == []  # Kira is mentioned in the wins post


def test_a_small_announced_win_waits_for_the_roll_up_and_the_rep_is_told(c):
    reply = won(c, "ana", "Tiny deal 500")
    assert "It will be in today's *more wins* post at 17:00." in reply.text
    assert "already in today's *more wins* post" in won(c, "ana", "tiny deal $500").text


@pytest.mark.parametrize(
    "args, says",
    [
        ("Acme", "Tell me the deal and the amount"),
        ("Acme renewal lots", "couldn't find the amount"),
        ("Acme -48000", "more than zero"),
        ("Acme 48000 no-such-campaign", "don't know the campaign `no-such-campaign`"),
        ("Acme 48000XYZ", "currency `XYZ`"),
    ],
)
def test_won_with_bad_input_answers_specifically_and_records_nothing(c, args, says):
    assert says in won(c, "ana", args).text
    assert deals(c) == [] and outbox(c) == []


def test_someone_the_bot_does_not_know_cannot_announce_a_win(c):
    assert "I don't know who you are yet" in won(c, None, "Acme 48000").text
    assert deals(c) == []


# --- less noise ---------------------------------------------------------------------------------


def test_a_big_deal_also_goes_to_the_wide_channel_and_a_smaller_one_does_not(c):
    ingest(c, deal("D-big", name="Big", amount=50000), deal("D-mid", name="Mid", amount=49999))
    [pointer] = messages(c, "channel:company")  # a one-line pointer (wins.wide: pointer), not the card again
    assert pointer.text.endswith("won *Big* — $50,000. The celebration is in #wins.")
    assert len(pointer.blocks) == 1
    assert len(messages(c, "channel:wins")) == 2


def test_the_wide_channel_can_get_the_card_again_or_nothing(make_container):
    from tests.conftest import demo_config_with_slack

    for wide, expected in (("copy", ["🎉 Big — $50,000"]), ("off", ["🎉 Big — $50,000"])):  # off: none more
        cfg = demo_config_with_slack()
        cfg.wins.wide = wide
        c = make_container(config=cfg)
        ingest(c, deal(f"D-{wide}", name="Big", amount=50000))
        assert [m.blocks[0].text for m in messages(c, "channel:company")] == expected


def test_a_euro_deal_goes_wide_by_its_value_in_the_configured_currency(c):
    ingest(c, deal("D-1", amount=47000, currency="EUR"))  # 50,760 USD at 1.08
    assert len(messages(c, "channel:company")) == 1


def test_small_deals_are_gathered_into_one_daily_post_at_the_roll_up_time(c):
    seed_campaigns(c)
    ingest(c, touch("camp-1"))
    ingest(
        c,
        deal("D-1", name="Small one", amount=1500),
        deal("D-2", name="Small two", amount=900, lead=None),
        deal("D-3", name="Normal", amount=2000, lead=None),
    )
    assert [m.blocks[0].text for m in messages(c, "channel:wins")] == ["🎉 Normal — $2,000"]

    c.deps.clock.at = c.deps.clock.at.replace(hour=21, minute=59)  # 16:59 in New York
    assert run_job(c, "wins_rollup").done == 0
    c.deps.clock.advance(timedelta(minutes=1))
    assert run_job(c, "wins_rollup").done == 2
    assert run_job(c, "wins_rollup").done == 0  # once a day

    [normal, rollup] = messages(c, "channel:wins")
    text = text_of(rollup)
    assert rollup.blocks[0].text == "🙌 More wins Monday Nov 23: 2 deals, $2,400"
    assert "• *Small one* — $1,500" in text and "Data Summit Webinar" in text
    assert "• *Small two* — $900" in text
    assert "November 2026: *$4,400* won" in text
    assert [r.key for r in outbox(c, prefix="wins:rollup")] == ["wins:rollup:2026-11-23"]  # said once


def test_a_small_deal_after_the_days_roll_up_is_in_the_next_days_and_only_there(c):
    c.deps.clock.at = c.deps.clock.at.replace(hour=22)  # 17:00 in New York
    ingest(c, deal("D-1", name="Before", amount=100))
    run_job(c, "wins_rollup")
    ingest(c, deal("D-2", name="After", amount=100))
    assert run_job(c, "wins_rollup").done == 0
    c.deps.clock.advance(timedelta(hours=12))  # Tuesday 05:00 in New York: not yet
    assert run_job(c, "wins_rollup").done == 0
    c.deps.clock.advance(timedelta(hours=12))
    assert run_job(c, "wins_rollup").done == 1
    posts = [text_of(m) for m in messages(c, "channel:wins")]
    assert len(posts) == 2
    assert "Before" in posts[0] and "After" not in posts[0]
    assert "After" in posts[1] and "Before" not in posts[1]
    assert {d.celebration_key for d in deals(c)} == {"wins:rollup:2026-11-23", "wins:rollup:2026-11-24"}


def test_a_day_with_no_small_deals_posts_no_roll_up(c):
    c.deps.clock.at = c.deps.clock.at.replace(hour=22)
    assert run_job(c, "wins_rollup").done == 0
    ingest(c, deal("D-1", amount=100))
    c.deps.clock.advance(timedelta(hours=1))
    assert run_job(c, "wins_rollup").done == 0  # today's roll-up time has passed: tomorrow's
    assert outbox(c, "channel:wins") == []


def test_a_deal_that_closed_long_ago_is_recorded_but_not_celebrated(c):
    ingest(c, deal("D-old", closed="2026-09-01T14:00:00Z"))
    assert outbox(c) == []
    assert deals(c)[0].celebration == "skipped"


# --- bad and odd input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field, problem",
    [
        ({"amount": -1}, "data.amount", "greater than or equal to 0"),
        ({"amount": None}, "data.amount", ""),
        ({"currency": "XYZ"}, "data.currency", "unknown currency code 'XYZ'"),
    ],
)
def test_a_deal_with_a_bad_amount_or_currency_is_refused_naming_the_field(data, field, problem):
    ev = deal("D-1")
    ev["data"].update(data)
    ev["data"] = {k: v for k, v in ev["data"].items() if v is not None}
    _, problems = validate_events([ev])
    assert [p.field for p in problems] == [field]
    assert problem in problems[0].problem


def test_a_deal_name_of_5000_characters_is_shortened_to_fit_slack(c):
    ingest(c, deal("D-1", name="Enterprise agreement " + "x" * 4979))
    [post] = messages(c, "channel:wins")
    header = next(b for b in post.blocks if isinstance(b, Header))
    assert len(header.text) <= 150 and "…" in header.text
    rendered = render_message(post, lambda pid: ("Someone", None))
    assert message_problem(rendered) is None
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in rendered["blocks"])
    assert len(rendered["text"]) <= 3000


def test_a_deal_name_cannot_mention_anyone(c):
    ingest(c, deal("D-1", name="<person:1> <!channel>", owner=None))
    rendered = render_message(messages(c, "channel:wins")[0], lambda pid: ("Maya", "U1MAYA"))
    parsed = [b for b in rendered["blocks"] if b["type"] != "header"]  # plain_text is never parsed by Slack
    shown = rendered["text"] + str(parsed)
    assert "<@" not in shown and "<!channel>" not in shown
    assert "&lt;!channel&gt;" in rendered["text"]


def test_an_owner_not_in_the_people_list_is_named_in_plain_text_and_listed_for_the_admins(c):
    ingest(c, deal("D-1", owner="zoe@partner.example"), deal("D-2", name="Other", owner="zoe@partner.example"))
    ingest(c, deal("D-3", name="Third", owner="zoe@partner.example"))
    post = messages(c, "channel:wins")[0]
    assert "Owner: zoe@partner.example" in text_of(post)
    with c.uow_factory() as uow:
        assert uow.kv.get("wins:unmatched_owners") == {"emails": ["zoe@partner.example"]}
        admins = sorted(f"dm:{p.id}" for p in uow.people.admins())
    notes = outbox(c, prefix="wins:unmatched:")
    assert sorted(r.destination for r in notes) == admins  # one DM per admin, once
    assert "zoe@partner.example" in Message.from_json(notes[0].payload).text


def test_two_requests_at_once_with_different_unmatched_owners_both_reach_the_list(c):
    import threading

    from handlers.wins import _unmatched_owners

    first_in = threading.Event()
    with c.uow_factory() as uow:  # the first request has read the list and is about to write it
        first = _unmatched_owners(uow, [{"owner_email": "zoe@partner.example", "owner_id": None}])
        first_in.set()
        second: list = []
        other = threading.Thread(target=lambda: second.extend(_second_request(c)))
        other.start()
        other.join(0.3)  # it waits for the first to finish rather than reading a list about to change
        uow.commit()
    other.join(10)
    assert first and second  # each told the admins about its own new owner
    with c.uow_factory() as uow:
        assert uow.kv.get("wins:unmatched_owners") == {"emails": ["yan@partner.example", "zoe@partner.example"]}


def _second_request(c) -> list:
    from handlers.wins import _unmatched_owners

    with c.uow_factory() as uow:
        out = _unmatched_owners(
            uow,
            [
                {"owner_email": "yan@partner.example", "owner_id": None},
                {"owner_email": "zoe@partner.example", "owner_id": None},
            ],
        )
        uow.commit()
    assert all("yan@partner.example" in str(m["payload"]) and "zoe@" not in str(m["payload"]) for m in out)
    return out


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "GBP", "CAD", "CHF", "INR", "KWD", "KRW"])
def test_amounts_read_exactly_as_babel_formats_them(currency):
    from handlers.money import format_money
    from handlers.wins import _money, _whole

    for minor in (0, 7, 100, 4_800_000, 4_800_050, 123_456_789_012, 99_999_999_999_999):
        assert _money(minor, currency) == format_money(minor, currency)
        assert _whole(minor, currency) == format_money(minor, currency, whole=True)
