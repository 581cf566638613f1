"""The demo CSVs in ``docs/samples``: a small company's exports, written around the week of
Monday 23 November 2026 (deals closed the week before, both teams' schedule for that week and
the next).

``python -m bot import --samples`` loads them in order, each date moved on by whole weeks to
the current week (weekdays unchanged), so the wins are recent enough to celebrate and the
schedule is this week's whenever they are loaded. The files themselves stay as they are: the
shapes of HubSpot's, Salesforce's and a team's own exports, to read and copy.
"""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
ORDER = ("campaigns.csv", "leads.csv", "touches.csv", "deals.csv", "schedule.csv")  # campaigns before their uses
ANCHOR = date(2026, 11, 23)  # the Monday the samples are written around

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(.*)$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(.*)$")


def weeks_to(today: date) -> int:
    """Whole weeks from the samples' week to ``today``'s week."""
    monday = today - timedelta(days=today.weekday())
    return (monday - ANCHOR).days // 7


def _shift(cell: str, delta: timedelta) -> str:
    m = _ISO.match(cell)
    if m:
        d = date(int(m[1]), int(m[2]), int(m[3])) + delta
        return f"{d:%Y-%m-%d}{m[4]}"
    m = _US.match(cell)
    if m:
        d = date(int(m[3]), int(m[1]), int(m[2])) + delta
        return f"{d.month}/{d.day}/{d.year}{m[4]}"
    return cell


def redated(dest: Path, now: datetime) -> list[Path]:
    """Copies of the samples in ``dest``, every date moved to ``now``'s week, in import order."""
    delta = timedelta(weeks=weeks_to(now.date()))
    out = []
    for name in ORDER:
        src, target = SAMPLES / name, dest / name
        with open(src, newline="", encoding="utf-8") as f, open(target, "w", newline="", encoding="utf-8") as g:
            writer = csv.writer(g)
            for i, row in enumerate(csv.reader(f)):
                writer.writerow(row if i == 0 or not delta else [_shift(c, delta) for c in row])
        out.append(target)
    return out
