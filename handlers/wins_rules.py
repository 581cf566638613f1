"""The wins flow's rules as pure functions: attribution, reading a typed amount, reading the
``won`` command, thresholds and the month's window. No database, no clock: easy to test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_symbol

from handlers.errors import Invalid
from handlers.money import from_minor, is_currency

NAME_KEY_MAX = 200
MAX_WON_WORDS = 40  # words `won` reads: deal, amount and campaign need a handful (quotes make one)
MAX_CAMPAIGN_REF = 500  # a campaign's name is at most this long
MAX_AMOUNT = Decimal("1e13")  # what fits DealData's 18 digits with cents, with room to spare
USAGE = '`/smarketing won <deal> <amount> [campaign]`, e.g. `/smarketing won "Acme renewal" $48,000 webinar-q4`'


# --- attribution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Touch:
    """A campaign touch of the deal's lead or contact."""

    campaign_id: int
    at: datetime
    id: int = 0  # breaks ties between touches at the same moment (earlier recorded first)


@dataclass(frozen=True)
class Attribution:
    """Which campaigns get the credit: ``first`` sourced the deal, ``last`` converted it."""

    first: Touch | None = None
    last: Touch | None = None
    days_to_close: int | None = None

    @property
    def by_sales(self) -> bool:
        """No marketing touch before the close: "sourced by sales"."""
        return self.first is None

    def to_json(self) -> dict:
        return {
            "sourced_by": self.first.campaign_id if self.first else None,
            "converted_by": self.last.campaign_id if self.last else None,
            "days_to_close": self.days_to_close,
        }

    @classmethod
    def named(cls, campaign_id: int | None, at: datetime) -> "Attribution":
        """A rep's word for it (``won ... <campaign>``): that campaign sourced and converted."""
        if campaign_id is None:
            return cls()
        t = Touch(campaign_id, at)
        return cls(t, t, None)


def attribute(touches: Iterable[Touch], closed_at: datetime) -> Attribution:
    """First touch (sourced by), last touch (converted by) and whole days from the first touch
    to the close, counting only touches at or before the close. No touches: sourced by sales."""
    before = sorted((t for t in touches if t.at <= closed_at), key=lambda t: (t.at, t.id))
    if not before:
        return Attribution()
    first, last = before[0], before[-1]
    return Attribution(first, last, (closed_at - first.at) // timedelta(days=1))


# --- names ------------------------------------------------------------------------------------


def name_key(name: str) -> str:
    """How two mentions of one deal are recognised: case and spacing ignored."""
    return " ".join(name.split()).casefold()[:NAME_KEY_MAX]


# --- amounts ----------------------------------------------------------------------------------

_SYMBOLS = {"€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_AMOUNT_RE = re.compile(
    r"""^(?P<code1>[A-Za-z]{3})?(?P<sym>[$€£¥₹])?
        (?P<num>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?
        (?P<suf>[kKmM])?(?P<code2>[A-Za-z]{3})?$""",
    re.X,
)
_NEGATIVE_RE = re.compile(r"^-\s*[A-Za-z]{0,3}[$€£¥₹]?\d")


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None  # None: the config's currency
    marked: bool  # written with a sign, a code, a suffix or separators: surely an amount


def parse_amount(token: str, default_currency: str) -> Amount | None:
    """``48000``, ``48,000``, ``48000.50``, ``$48k``, ``€1.2m``, ``48000EUR``, ``USD48000`` -> Amount;
    None when the word is not an amount. ``$`` means the config's currency when that is a
    dollar, else US dollars. Raises Invalid for an unknown currency code."""
    m = _AMOUNT_RE.match(token.strip())
    if not m:
        return None
    code = m["code1"] or m["code2"]
    if m["code1"] and m["code2"]:
        return None
    currency = None
    if code:
        code = code.upper()
        if not is_currency(code):
            if m["code1"]:  # "abc123" is a word, not money
                return None
            raise Invalid(f"I don't know the currency `{code}`: use an ISO code like USD or EUR.", field="amount")
        currency = code
    if m["sym"]:
        sym = m["sym"]
        if sym == "$":
            by_sym = default_currency if "$" in get_currency_symbol(default_currency, locale="en_US") else "USD"
        else:
            by_sym = _SYMBOLS[sym]
        if currency and currency != by_sym:
            return None
        currency = by_sym
    try:
        value = Decimal(m["num"].replace(",", "") + (f".{m['frac']}" if m["frac"] else ""))
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        return None
    if m["suf"]:
        value *= 1000 if m["suf"].lower() == "k" else 1_000_000
    marked = bool(code or m["sym"] or m["suf"] or "," in m["num"])
    return Amount(value, currency, marked)


# --- the `won` command ------------------------------------------------------------------------

_WORD_RE = re.compile(r'"([^"]*)"|“([^”]*)”|(\S+)')


@dataclass(frozen=True)
class WonArgs:
    deal: str
    amount: Decimal
    currency: str
    campaign: str | None


def split_words(text: str) -> list[str]:
    """Words, where "double quoted text" (straight or curly quotes) is one word."""
    return [next(g for g in m.groups() if g is not None) for m in _WORD_RE.finditer(text or "")]


def parse_won(args: str, *, default_currency: str, known_campaigns: Callable[[list[str]], set[str]]) -> WonArgs:
    """Read ``<deal> <amount> [campaign]``.

    The deal's name comes first and may have several words (quote it when it has numbers in
    it); the amount is a word like ``48000``, ``48,000``, ``$48k`` or ``48000 EUR``; whatever
    follows names the campaign (its CRM id or name). When several words could be the amount,
    the one followed by nothing or by a known campaign is taken, and one written as money
    (``$``, ``k``, ``,``, a code) is preferred over a bare number.

    ``known_campaigns`` gets every phrase that could name the campaign at once and returns the
    ones that do (one look-up however many words). At most ``MAX_WON_WORDS`` words are read.
    """
    words = split_words(args)
    if len(words) < 2:
        raise Invalid(f"Tell me the deal and the amount: {USAGE}.")
    if len(words) > MAX_WON_WORDS:
        raise Invalid(f"That is more than {MAX_WON_WORDS} words: put the deal's name in quotes, {USAGE}.")
    candidates: list[tuple[int, Amount, str]] = []  # (index of the amount, amount, campaign words)
    negative = False
    for i in range(1, len(words)):
        amount = parse_amount(words[i], default_currency)
        if amount is None:
            negative = negative or bool(_NEGATIVE_RE.match(words[i]))
            continue
        rest = words[i + 1 :]
        if rest and amount.currency is None and is_currency(rest[0].upper()) and len(rest[0]) == 3:
            amount = Amount(amount.value, rest[0].upper(), True)
            rest = rest[1:]
        candidates.append((i, amount, " ".join(rest)))
    if not candidates:
        if negative:
            raise Invalid("The amount must be more than zero.", field="amount")
        raise Invalid(
            f"I couldn't find the amount: {USAGE}. The amount may be 48000, 48,000, $48k or 48000 EUR.", field="amount"
        )
    refs = sorted({c[2] for c in candidates if c[2] and len(c[2]) <= MAX_CAMPAIGN_REF})
    known = known_campaigns(refs) if refs else set()
    valid = [c for c in candidates if not c[2] or c[2] in known]
    if not valid:
        raise Invalid(
            f"I don't know the campaign `{candidates[-1][2][:100]}`: give its CRM id or its exact name, "
            "or leave it out.",
            field="campaign",
        )
    i, amount, campaign = next((c for c in valid if c[1].marked), valid[0])
    if amount.value <= 0:
        raise Invalid("The amount must be more than zero.", field="amount")
    if amount.value >= MAX_AMOUNT:
        raise Invalid("That amount is too large to be a deal: check the number.", field="amount")
    return WonArgs(" ".join(words[:i]), amount.value, amount.currency or default_currency, campaign or None)


# --- thresholds and months --------------------------------------------------------------------


def in_base(minor: int, currency: str, base: str, rates: dict[str, float]) -> Decimal | None:
    """An amount in the config's currency (None when there is no rate for its currency)."""
    if currency == base:
        return from_minor(minor, currency)
    rate = rates.get(currency)
    return None if rate is None else from_minor(minor, currency) * Decimal(str(rate))


def goes_wide(value: Decimal | None, wide_at: float | None) -> bool:
    return value is not None and wide_at is not None and value >= Decimal(str(wide_at))


def rolled_up(value: Decimal | None, rollup_below: float | None) -> bool:
    return value is not None and rollup_below is not None and value < Decimal(str(rollup_below))


def month_window(at: datetime, tz: str) -> tuple[datetime, datetime, str]:
    """The calendar month (in ``tz``) holding ``at``: its start and end in UTC and its name."""
    local = at.astimezone(ZoneInfo(tz))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.astimezone(timezone.utc), nxt.astimezone(timezone.utc), start.strftime("%B %Y")
