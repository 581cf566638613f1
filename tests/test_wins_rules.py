"""The wins flow's pure rules: attribution, reading amounts and the `won` command, thresholds."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from handlers.errors import Invalid
from handlers.wins_rules import (
    Touch,
    attribute,
    goes_wide,
    in_base,
    month_window,
    name_key,
    parse_amount,
    parse_won,
    rolled_up,
)

CLOSE = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=timezone.utc)


# --- attribution ------------------------------------------------------------------------------


def test_the_first_touch_sources_and_the_last_touch_converts():
    touches = [Touch(2, at(10)), Touch(1, at(3)), Touch(3, at(20))]
    a = attribute(touches, CLOSE)
    assert a.first.campaign_id == 1
    assert a.last.campaign_id == 3
    assert not a.by_sales


def test_days_to_close_count_whole_days_from_the_first_touch():
    assert attribute([Touch(1, at(3, 16))], CLOSE).days_to_close == 19  # 19 days 23 hours
    assert attribute([Touch(1, at(23, 9))], CLOSE).days_to_close == 0


def test_touches_after_the_close_do_not_count():
    a = attribute([Touch(1, at(10)), Touch(9, at(24))], CLOSE)
    assert a.first.campaign_id == 1 and a.last.campaign_id == 1


def test_a_touch_at_the_very_moment_of_the_close_counts():
    assert attribute([Touch(4, CLOSE)], CLOSE).first.campaign_id == 4


def test_a_deal_with_no_touches_is_sourced_by_sales():
    a = attribute([], CLOSE)
    assert a.by_sales and a.first is None and a.last is None and a.days_to_close is None
    assert attribute([Touch(1, at(24))], CLOSE).by_sales


def test_touches_at_the_same_moment_are_ordered_by_when_they_were_recorded():
    a = attribute([Touch(7, at(10), id=2), Touch(5, at(10), id=1)], CLOSE)
    assert (a.first.campaign_id, a.last.campaign_id) == (5, 7)


def test_one_touch_both_sources_and_converts():
    a = attribute([Touch(3, at(1))], CLOSE)
    assert a.first == a.last
    assert a.to_json() == {"sourced_by": 3, "converted_by": 3, "days_to_close": 22}


# --- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, value, currency",
    [
        ("48000", "48000", None),
        ("48,000", "48000", None),
        ("48000.50", "48000.50", None),
        ("$48k", "48000", "USD"),
        ("$48,000", "48000", "USD"),
        ("48K", "48000", None),
        ("€1.2m", "1200000.0", "EUR"),
        ("48000EUR", "48000", "EUR"),
        ("usd48000", "48000", "USD"),
        ("£900", "900", "GBP"),
    ],
)
def test_amounts_are_read_the_ways_people_type_them(typed, value, currency):
    amount = parse_amount(typed, "USD")
    assert amount.value == Decimal(value)
    assert amount.currency == currency


@pytest.mark.parametrize("word", ["renewal", "Q4", "cmp-7", "abc123", "48,00", "$", "1.2.3"])
def test_words_that_are_not_amounts_are_not_read_as_amounts(word):
    assert parse_amount(word, "USD") is None


def test_a_dollar_sign_means_the_configured_dollar():
    assert parse_amount("$5k", "CAD").currency == "CAD"
    assert parse_amount("$5k", "EUR").currency == "USD"


def test_an_amount_with_an_unknown_currency_code_is_refused_by_name():
    with pytest.raises(Invalid, match="XYZ"):
        parse_amount("48000XYZ", "USD")


# --- the won command --------------------------------------------------------------------------


def no_campaigns(refs: list[str]) -> set[str]:
    return set()


def known(*names: str):
    return lambda refs: {r for r in refs if r.lower() in {n.lower() for n in names}}


def test_won_reads_a_deal_of_several_words_and_its_amount():
    w = parse_won("Acme renewal 48,000", default_currency="USD", known_campaigns=no_campaigns)
    assert (w.deal, w.amount, w.currency, w.campaign) == ("Acme renewal", Decimal(48000), "USD", None)


def test_won_reads_a_campaign_after_the_amount():
    w = parse_won("Acme renewal $48k Webinar Q4", default_currency="USD", known_campaigns=known("webinar q4"))
    assert (w.deal, w.amount, w.campaign) == ("Acme renewal", Decimal(48000), "Webinar Q4")


def test_won_takes_a_currency_code_written_after_the_amount():
    w = parse_won("Globex 48000 EUR", default_currency="USD", known_campaigns=no_campaigns)
    assert (w.deal, w.amount, w.currency) == ("Globex", Decimal(48000), "EUR")


def test_won_sees_a_number_inside_the_deal_name_when_the_real_amount_ends_the_line():
    w = parse_won("Acme 2026 renewal 48000", default_currency="USD", known_campaigns=no_campaigns)
    assert (w.deal, w.amount) == ("Acme 2026 renewal", Decimal(48000))


def test_won_prefers_the_word_written_as_money():
    either = known("cmp-7", "seats $48,000 cmp-7")  # "500" could be the amount too
    w = parse_won("Acme 500 seats $48,000 cmp-7", default_currency="USD", known_campaigns=either)
    assert (w.deal, w.amount, w.campaign) == ("Acme 500 seats", Decimal(48000), "cmp-7")


def test_won_reads_quoted_names_with_straight_or_curly_quotes():
    w = parse_won(
        '"Acme 2026 renewal" 48000 “Webinar 2026”', default_currency="USD", known_campaigns=known("webinar 2026")
    )
    assert (w.deal, w.amount, w.campaign) == ("Acme 2026 renewal", Decimal(48000), "Webinar 2026")


@pytest.mark.parametrize(
    "args, says",
    [
        ("", "deal and the amount"),
        ("Acme", "deal and the amount"),
        ("Acme renewal", "couldn't find the amount"),
        ("Acme -5000", "more than zero"),
        ("Acme 0", "more than zero"),
        ("Acme 48000 nosuchcampaign", "don't know the campaign `nosuchcampaign`"),
        ("Acme 48000XYZ", "currency `XYZ`"),
        ("Acme 99999999999999", "too large"),
    ],
)
def test_won_with_bad_input_gets_a_specific_answer(args, says):
    with pytest.raises(Invalid) as err:
        parse_won(args, default_currency="USD", known_campaigns=no_campaigns)
    assert says in err.value.text


def test_won_asks_about_every_possible_campaign_at_once_and_reads_at_most_40_words():
    asked = []

    def record(refs):
        asked.append(refs)
        return set()

    w = parse_won("Acme 2026 renewal 48000", default_currency="USD", known_campaigns=record)
    assert w.amount == Decimal(48000) and asked == [["renewal 48000"]]
    with pytest.raises(Invalid, match="more than 40 words"):
        parse_won("Acme " + " ".join(str(n) for n in range(40)), default_currency="USD", known_campaigns=record)
    assert len(asked) == 1


def test_deal_names_match_whatever_their_case_and_spacing():
    assert name_key("  Acme   RENEWAL ") == name_key("acme renewal") == "acme renewal"
    assert len(name_key("x" * 5000)) == 200


# --- thresholds and months --------------------------------------------------------------------


def test_thresholds_compare_in_the_configured_currency_using_the_rates():
    rates = {"EUR": 1.1}
    assert in_base(5_000_000, "USD", "USD", rates) == Decimal(50000)
    assert in_base(5_000_000, "EUR", "USD", rates) == Decimal("55000.0")
    assert in_base(5_000_000, "GBP", "USD", rates) is None
    assert goes_wide(Decimal(50000), 50000) and not goes_wide(Decimal("49999.99"), 50000)
    assert rolled_up(Decimal("1999.99"), 2000) and not rolled_up(Decimal(2000), 2000)
    assert not goes_wide(None, 1) and not rolled_up(None, 10**9)  # no rate: posted on its own
    assert not goes_wide(Decimal(10**9), None) and not rolled_up(Decimal(0), None)


def test_the_month_is_the_calendar_month_in_the_wins_timezone():
    # 03:00 UTC on Dec 1 is still November in New York.
    start, end, label = month_window(datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc), "America/New_York")
    assert label == "November 2026"
    assert start == datetime(2026, 11, 1, 4, 0, tzinfo=timezone.utc)  # EDT until Nov 1 02:00
    assert end == datetime(2026, 12, 1, 5, 0, tzinfo=timezone.utc)
