"""Money: ISO 4217 codes, integer minor units, and formatting (via Babel's CLDR data)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, is_currency as _babel_is_currency

LOCALE = "en_US"


@lru_cache(maxsize=1024)
def is_currency(code: str) -> bool:
    """True for a current ISO 4217 code that CLDR knows (USD, EUR, JPY, ...). Cached: Babel
    reads its locale data on each check (~0.25 ms), and a webhook batch checks every deal."""
    return bool(code) and len(code) == 3 and code.isalpha() and code.isupper() and _babel_is_currency(code, LOCALE)


def precision(currency: str) -> int:
    return get_currency_precision(currency)


def to_minor(amount: Decimal | str | float | int, currency: str) -> int:
    """An amount in major units (``48000.5``) to integer minor units (``4800050`` cents)."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    digits = precision(currency)
    return int((value * (Decimal(10) ** digits)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor) / (Decimal(10) ** precision(currency))


def format_money(minor: int, currency: str, *, whole: bool | None = None) -> str:
    """``4800000, "USD"`` -> ``$48,000``; cents shown only when there are any (or ``whole=False``)."""
    value = from_minor(minor, currency)
    if whole is None:
        whole = value == value.to_integral_value()
    fmt = "¤#,##0" if whole else None
    return format_currency(value, currency, format=fmt, locale=_LOCALE, currency_digits=not whole)


_LOCALE = Locale.parse(LOCALE)  # parsed once: Babel re-parses a locale name on every call
