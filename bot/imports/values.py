"""Reading one spreadsheet cell: dates, amounts, numbers, yes/no, emails and people.

Cells come as text (CSV) or as what openpyxl reads from an XLSX file (``str``, ``int``,
``float``, ``bool``, ``datetime``). Each reader returns a Python value or raises ``BadValue``
whose text is the problem as the person will read it in the errors file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_symbol

from handlers.money import is_currency, precision

UTC = timezone.utc


class BadValue(ValueError):
    """A cell we cannot read; the message says why (and how to write it)."""


def text(value: Any) -> str:
    """A cell as text: numbers without a trailing ``.0``, dates in ISO form, surrounding spaces gone."""
    if value.__class__ is str:  # every CSV cell: the fast path
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()


def shown(value: Any, limit: int = 200) -> str:
    """A cell as the errors file shows it."""
    out = text(value)
    return out if len(out) <= limit else out[: limit - 1] + "…"


# --- yes/no and whole numbers -------------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "x", "✓", "✔", "qualified"}
_FALSE = {"false", "no", "n", "0", ""}


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    word = text(value).lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise BadValue("not a yes/no value (use yes, no, true, false, 1 or 0)")


def whole_number(value: Any) -> int:
    """``85``, ``85.0``, ``"85"``, ``"1,200"``; a fraction is rounded (scores are whole numbers)."""
    if isinstance(value, bool):
        raise BadValue("not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise BadValue("not a number")
        return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    raw = text(value).replace(",", "").replace(" ", "")
    try:
        return int(Decimal(raw).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError):
        raise BadValue("not a number") from None


# --- emails and people --------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s<>\"',;()]+@[^@\s<>\"',;()]+\.[^@\s<>\"',;()]+")
_ANGLE = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>")


def email(value: Any) -> str | None:
    """The first address in a cell (``a@b.com``, ``Ana <a@b.com>``, ``work: a@b.com; b@c.com``),
    lower-cased; None for an empty cell. Raises for text with no address in it."""
    raw = text(value)
    if not raw:
        return None
    m = _ANGLE.search(raw) or _EMAIL.search(raw)
    if not m:
        raise BadValue("not an email address")
    return (m.group(1) if m.re is _ANGLE else m.group(0)).lower().rstrip(".")


def _name_key(name: str) -> str:
    return " ".join(name.replace(",", " ").split()).casefold()


class People:
    """Owners as people: an email, or a name (``Ana Torres``, ``Torres, Ana``) matching someone in
    the config's ``people:``."""

    def __init__(self, people):  # PersonConfig-like: .name, .email
        self.by_name: dict[str, str] = {}
        for p in people:
            self.by_name[_name_key(p.name)] = p.email
            parts = p.name.split()
            if len(parts) >= 2:  # "Torres, Ana" as some CRMs write names
                self.by_name.setdefault(_name_key(f"{parts[-1]} {' '.join(parts[:-1])}"), p.email)

    def email_of(self, value: Any) -> str | None:
        raw = text(value)
        if not raw:
            return None
        if "@" in raw:
            return email(raw)
        found = self.by_name.get(_name_key(raw))
        if found is None:
            raise BadValue(
                f"{raw!r} is not an email and no one in the config's people: has that name "
                "(add them to the config, or give emails in this column)"
            )
        return found


# --- dates ----------------------------------------------------------------------------------------

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_TIME = r"""(?:[ T,]+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,]\d+)?)?\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?)?
            \s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?"""
_NUMERIC = re.compile(r"^(?P<a>\d{1,4})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})" + _TIME + "$", re.X)
_DAY_MONTH = re.compile(
    r"^(?:[A-Za-z]{3,9},?\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?[ -](?P<mon>[A-Za-z]{3,9})\.?[-, ]+(?P<y>\d{4})"
    + _TIME
    + "$",
    re.X,
)
_MONTH_DAY = re.compile(
    r"^(?:[A-Za-z]{3,9},?\s+)?(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})"
    + _TIME
    + "$",
    re.X,
)


@dataclass(frozen=True)
class When:
    """A moment read from a cell; ``date_only`` when the cell had no time of day."""

    at: datetime  # aware
    date_only: bool


def day_order_hint(value: Any) -> str | None:
    """``"dmy"`` or ``"mdy"`` when a numeric date shows which comes first (``23/11/2026``,
    ``11/23/2026``); None otherwise. Used to read a file's ambiguous dates its own way."""
    if not isinstance(value, str):
        return None
    m = _NUMERIC.match(value.strip())
    if not m or m["sep"] == "." or len(m["a"]) > 2 or len(m["c"]) not in (2, 4):
        return None
    a, b = int(m["a"]), int(m["b"])
    if a > 12 >= b:
        return "dmy"
    if b > 12 >= a:
        return "mdy"
    return None


class Dates:
    """Reads dates and times. ``order`` settles ``03/04/2026`` (``"dmy"``, ``"mdy"``, or None to
    refuse it); naive times are in ``tz``."""

    def __init__(self, tz: ZoneInfo, order: str | None = None):
        self.tz = tz
        self.order = order

    def read(self, value: Any) -> When | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            at = value if value.tzinfo else value.replace(tzinfo=self.tz)
            return When(at.astimezone(UTC), False)
        if isinstance(value, date):
            return When(datetime.combine(value, time(0), self.tz).astimezone(UTC), True)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise BadValue("a number, not a date (format the column as a date, or write 2026-11-23)")
        raw = text(value)
        if not raw:
            return None
        return self._text(raw)

    def _text(self, raw: str) -> When:
        if len(raw) >= 10 and raw[4] == "-" and raw[:4].isdigit():
            try:
                parsed = datetime.fromisoformat(raw.replace(" UTC", "Z"))
            except ValueError:
                parsed = None
            if parsed is not None:
                date_only = len(raw) == 10
                at = parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)
                return When(at.astimezone(UTC), date_only)
        m = _NUMERIC.match(raw)
        if m:
            y, mo, d = self._numeric(raw, m)
            return self._build(raw, y, mo, d, m)
        m = _DAY_MONTH.match(raw) or _MONTH_DAY.match(raw)
        if m:
            mo = _MONTHS.get(m["mon"].lower())
            if mo is None:
                raise BadValue(f"unknown month {m['mon']!r}")
            return self._build(raw, int(m["y"]), mo, int(m["d"]), m)
        raise BadValue(
            "not a date (write it as 2026-11-23 or 2026-11-23 14:30; 11/23/2026 and 23/11/2026 "
            "are read when the day is clear)"
        )

    def _numeric(self, raw: str, m) -> tuple[int, int, int]:
        a, b, c = m["a"], m["b"], m["c"]
        if len(a) == 4:  # 2026/11/23
            return int(a), int(b), int(c)
        if len(c) not in (2, 4) or len(a) > 2:
            raise BadValue("not a date")
        year = int(c) if len(c) == 4 else 2000 + int(c)
        first, second = int(a), int(b)
        if m["sep"] == ".":  # 23.11.2026: day first wherever dots are written
            return year, second, first
        if first > 12 or (first == second):
            return year, second, first
        if second > 12:
            return year, first, second
        if self.order == "dmy":
            return year, second, first
        if self.order == "mdy":
            return year, first, second
        raise BadValue(
            f"ambiguous date {raw.split()[0]!r}: is {first} the day or the month? Pass --dayfirst "
            f"(23/11/2026) or --monthfirst (11/23/2026)"
        )

    def _build(self, raw: str, y: int, mo: int, d: int, m) -> When:
        h = int(m["h"]) if m["h"] else 0
        mi = int(m["mi"]) if m["mi"] else 0
        s = int(m["s"]) if m["s"] else 0
        if m["ampm"]:
            pm = m["ampm"][0].lower() == "p"
            if not 1 <= h <= 12:
                raise BadValue(f"not a time: {h}:{mi:02d} {m['ampm']}")
            h = (h % 12) + (12 if pm else 0)
        try:
            naive = datetime(y, mo, d, h, mi, s)
        except ValueError as e:
            raise BadValue(f"not a date ({e})") from None
        zone = m["tz"]
        if zone:
            if zone in ("Z", "UTC", "GMT"):
                tzinfo = UTC
            else:
                sign = -1 if zone[0] == "-" else 1
                digits = zone[1:].replace(":", "")
                tzinfo = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
            at = naive.replace(tzinfo=tzinfo)
        else:
            at = naive.replace(tzinfo=self.tz)
        return When(at.astimezone(UTC), m["h"] is None)

    def end_of_day(self, w: When) -> datetime:
        """The last second of a date-only value's day (in this reader's timezone); a time as given."""
        if not w.date_only:
            return w.at
        local = w.at.astimezone(self.tz)
        end = datetime.combine(local.date() + timedelta(days=1), time(0), self.tz) - timedelta(seconds=1)
        return end.astimezone(UTC)

    def next_midnight(self, w: When) -> datetime:
        local = w.at.astimezone(self.tz)
        return datetime.combine(local.date() + timedelta(days=1), time(0), self.tz).astimezone(UTC)


# --- amounts --------------------------------------------------------------------------------------

_SYMBOL_CODES = {
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
    "NZ$": "NZD",
    "R$": "BRL",
    "HK$": "HKD",
    "S$": "SGD",
    "MX$": "MXN",
}
_MARK = r"(?:[A-Za-z]{3}|[A-Z]{1,2}\$|\$|€|£|¥|₹)"
_AMOUNT = re.compile(
    rf"^(?P<neg>-)?\s*(?P<pre>{_MARK})?\s*(?P<neg2>-)?\s*(?P<num>\d[\d.,'\u00a0\u202f ]*?)\s*(?P<suf>[kKmM])?\s*"
    rf"(?P<post>{_MARK})?$"
)


def _dollar(hint: str | None) -> str:
    """What a bare ``$`` means: the file's (or config's) currency when that is a dollar, else USD."""
    if hint and "$" in get_currency_symbol(hint, locale="en_US"):
        return hint
    return "USD"


def _marked_currency(mark: str | None, hint: str | None) -> str | None:
    if not mark:
        return None
    if mark == "$":
        return _dollar(hint)
    if mark in _SYMBOL_CODES:
        return _SYMBOL_CODES[mark]
    code = mark.upper()
    if not is_currency(code):
        raise BadValue(f"unknown currency {mark!r} (use an ISO code like USD or EUR)")
    return code


def _number(num: str, currency: str, suffixed: bool) -> Decimal:
    """Digits with thousands and decimal separators as people write them: ``48,000.00``,
    ``1.200,50``, ``1 200,50``, ``1'200.50``. A single separator followed by three digits
    (``1,200``, ``1.200``) is read as thousands when the currency has fewer decimals than that."""
    num = re.sub(r"[\u00a0\u202f ']", "", num)
    commas, dots = num.count(","), num.count(".")

    def grouped(s: str, sep: str) -> bool:  # 1,200,000: groups of three after the first
        return bool(re.fullmatch(r"\d{1,3}(?:" + re.escape(sep) + r"\d{3})+", s))

    if commas and dots:
        dec = "," if num.rfind(",") > num.rfind(".") else "."
        group = "." if dec == "," else ","
        whole, _, frac = num.rpartition(dec)
        if whole.count(dec) or not grouped(whole, group) and group in whole:
            raise BadValue("not an amount (mixed separators)")
        digits = whole.replace(group, "") + "." + frac
    elif commas + dots == 0:
        digits = num
    else:
        sep = "," if commas else "."
        if commas + dots > 1:  # 1,200,000 or 1.200.000
            if not grouped(num, sep):
                raise BadValue("not an amount (separators in the wrong places)")
            digits = num.replace(sep, "")
        else:
            whole, frac = num.split(sep)
            if len(frac) == 3 and len(whole) <= 3 and whole != "0":
                if suffixed or precision(currency) >= 3:
                    raise BadValue(f"ambiguous amount {num!r}: write it without a thousands separator")
                digits = whole + frac
            else:
                digits = whole + "." + frac
    try:
        return Decimal(digits)
    except InvalidOperation:
        raise BadValue("not an amount") from None


def amount(value: Any, *, currency: str | None, default: str) -> tuple[Decimal, str]:
    """(value, currency) of a cell: ``48000``, ``48,000.00``, ``$48k``, ``€1.200,50``, ``1.2m EUR``.
    ``currency`` is the row's currency column (or ``--currency``); ``default`` the config's.
    The value keeps the currency's decimals, never more."""
    hint = currency or default
    if isinstance(value, bool):
        raise BadValue("not an amount")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise BadValue("not an amount")
        found, code = Decimal(repr(value)) if isinstance(value, float) else Decimal(value), hint
    else:
        raw = text(value)
        neg = raw.startswith("(") and raw.endswith(")")
        m = _AMOUNT.match(raw[1:-1].strip() if neg else raw)
        if not m:
            raise BadValue("not an amount (write it as 48000, 48,000.00, $48k or €1.200,50)")
        if m["pre"] and m["post"]:
            raise BadValue("not an amount (two currency marks)")
        marked = _marked_currency(m["pre"] or m["post"], currency or default)
        if marked and currency and marked != currency:
            raise BadValue(f"the amount is in {marked} but the row's currency is {currency}")
        code = marked or hint
        found = _number(m["num"], code, bool(m["suf"]))
        if m["suf"]:
            found *= 1000 if m["suf"].lower() == "k" else 1_000_000
        if neg or m["neg"] or m["neg2"]:
            found = -found
    if found < 0:
        raise BadValue("the amount is negative; a won deal's amount is 0 or more")
    digits = precision(code)
    exact = found.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN)
    if isinstance(value, float):
        if abs(exact - found) > Decimal("0.000001"):
            raise BadValue(f"more decimals than {code} has ({digits})")
    elif exact != found:
        raise BadValue(f"more decimals than {code} has ({digits})")
    return exact, code
