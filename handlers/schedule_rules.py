"""The weekly schedule's rules: weeks in a team's timezone, and the conflicts between items.

Pure functions over plain values (no storage, clock or rendering), so the Monday post,
``/smarketing schedule`` and the early warning on a new item all agree, and each rule is tested
on its own.

The conflicts (``find_conflicts``):

- ``promotion_launch``: a sales promotion or discount overlapping, in time, a marketing campaign
  launch or webinar in a region they share — the discount undercuts the launch;
- ``unsupported_focus``: a sales territory focus in a region where marketing has nothing at all
  that week. It is a gap rather than a collision with another item, so only the weekly views
  (which know the week) name it;
- ``same_day_events``: two events, of either team, on one local day in a region they share.

Regions compare case- and space-insensitively ("emea" is "EMEA"). An item without regions is in
no region: it takes part in no conflict and touches no one's region.

All-day items are dates rather than moments (a "Tue 24 Nov" trade fair is on Tuesday in London
and in New York alike): they are stored as UTC midnights of their dates and, wherever a
timezone is involved, read as those dates' midnights in that timezone.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
_TICK = timedelta(microseconds=1)
_INSTANT = timedelta(seconds=1)  # an item with no duration still occupies its moment

SALES, MARKETING = "sales", "marketing"
LAUNCH_KINDS = frozenset({"campaign_launch", "webinar"})  # what a sales discount undercuts
PROMOTION_KINDS = frozenset({"promotion"})
FOCUS_KINDS = frozenset({"territory_focus"})
EVENT_KINDS = frozenset({"event"})
MAX_EVENT_DAYS = 62  # a longer "event" is compared on its first two months only

PROMOTION_LAUNCH = "promotion_launch"
UNSUPPORTED_FOCUS = "unsupported_focus"
SAME_DAY_EVENTS = "same_day_events"


# --- regions --------------------------------------------------------------------------------


def region_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def clean_regions(values: Iterable[str]) -> list[str]:
    """Regions as entered, trimmed, with empty ones and repeats (ignoring case) dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        name = " ".join(str(v).split())
        if name and region_key(name) not in seen:
            seen.add(region_key(name))
            out.append(name)
    return out


# --- items ----------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Item:
    """One schedule item. ``start``/``end`` are aware UTC, ``end`` exclusive."""

    id: int
    team: str
    kind: str
    title: str
    regions: tuple[str, ...]
    start: datetime
    end: datetime
    all_day: bool = False
    owner_id: int | None = None
    owner_email: str | None = None
    link: str | None = None
    _keys: dict[str, str] | None = field(default=None, repr=False)
    # span and local days as last computed, for the timezone they were computed in: a view
    # reads every item many times in one timezone.
    _tz: ZoneInfo | None = field(default=None, repr=False)
    _span: tuple[datetime, datetime] | None = field(default=None, repr=False)
    _days: tuple[date, date] | None = field(default=None, repr=False)

    @property
    def keys(self) -> dict[str, str]:
        """Region key -> the region's name as entered."""
        if self._keys is None:
            self._keys = {}
            for r in self.regions:
                self._keys.setdefault(region_key(r), r)
        return self._keys

    def dates(self) -> tuple[date, date]:
        """An all-day item's first and last date."""
        first = self.start.astimezone(UTC).date()
        last = (self.end - _TICK).astimezone(UTC).date() if self.end > self.start else first
        return first, max(first, last)

    def span(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The moments the item occupies, as seen in ``tz``; never empty."""
        if self._tz is not tz:
            self._read(tz)
        return self._span  # type: ignore[return-value]

    def local_days(self, tz: ZoneInfo) -> tuple[date, date]:
        """First and last local date the item is on, in ``tz``."""
        if self._tz is not tz:
            self._read(tz)
        return self._days  # type: ignore[return-value]

    def _read(self, tz: ZoneInfo) -> None:
        if self.all_day:
            first, last = self.dates()
            self._span = (local_midnight(first, tz), local_midnight(last + DAY, tz))
            self._days = (first, last)
        else:
            start, end = self.start, max(self.end, self.start + _INSTANT)
            self._span = (start, end)
            self._days = (start.astimezone(tz).date(), (end - _TICK).astimezone(tz).date())
        self._tz = tz


def in_week(item: Item, monday: date, tz: ZoneInfo) -> bool:
    first, last = item.local_days(tz)
    return first <= monday + timedelta(days=6) and last >= monday


# --- weeks ----------------------------------------------------------------------------------


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of ``day`` in ``tz``, as UTC (a day with a clock change is 23 or 25 hours)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def week_window(monday: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 in ``tz``, as UTC."""
    return local_midnight(monday, tz), local_midnight(monday + WEEK, tz)


def week_label(monday: date) -> str:
    """ISO week, ``2026-W48``: part of each digest's unique key."""
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def digest_due(monday: date, tz: ZoneInfo, weekday: int, at: time) -> datetime:
    """When the digest of the week starting ``monday`` is due, as UTC.

    A digest on a weekday (Mon=0 .. Fri=4) is the week it falls in; one on a weekend previews
    the coming week, so it is due on the weekend before ``monday``."""
    day = monday + timedelta(days=weekday if weekday < 5 else weekday - 7)
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def digests_due(now: datetime, tz: ZoneInfo, weekday: int, at: time) -> list[tuple[date, datetime]]:
    """The weeks (their Monday, and when their digest was due) whose digest is due at ``now`` and
    still worth posting: its time has come and its working week is not over. A digest missed
    while the bot was down is therefore posted when it is back, until Friday night; at the
    weekend last week's plans are news to no one."""
    this = monday_of(now.astimezone(tz).date())
    out = []
    for monday in (this, this + WEEK):
        due = digest_due(monday, tz, weekday, at)
        if due <= now < local_midnight(monday + timedelta(days=5), tz):
            out.append((monday, due))
    return out


# --- conflicts ------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Conflict:
    rule: str
    first: Item  # the sales promotion / the sales focus / the earlier-created event
    second: Item | None  # the marketing launch / None / the other event
    regions: tuple[str, ...]
    start: datetime  # when it bites (UTC): the overlap, the focus's week, the shared day
    end: datetime
    day: date | None = None  # same_day_events: the first shared day

    @property
    def key(self) -> str:
        """Stable identity of the pair (early warnings are keyed on it)."""
        ids = f"{self.first.id}:{self.second.id}" if self.second is not None else f"{self.first.id}"
        return f"{self.rule}:{ids}"

    @property
    def items(self) -> list[Item]:
        return [self.first] if self.second is None else [self.first, self.second]

    @property
    def owner_ids(self) -> list[int]:
        return sorted({i.owner_id for i in self.items if i.owner_id is not None})


def _involved(involving: Collection[int] | None, *items: Item) -> bool:
    return involving is None or any(i.id in involving for i in items)


def find_conflicts(
    items: Iterable[Item], tz: ZoneInfo, *, week: date | None = None, involving: Collection[int] | None = None
) -> list[Conflict]:
    """Every conflict among ``items``, days read in ``tz``, in the order they bite.

    ``week`` (its Monday) limits the conflicts to those biting in that week and enables the
    weekly rule (``unsupported_focus``). ``involving`` keeps only conflicts with at least one
    of those item ids (an early warning about new items). Runs in about linear time: items are
    bucketed by region (and day), never compared all against all."""
    items = list(items)
    window = week_window(week, tz) if week is not None else None
    out: list[Conflict] = []
    out.extend(_promotions_vs_launches(items, tz, window, involving))
    out.extend(_events_same_day(items, tz, week, involving))
    if window is not None:
        out.extend(_unsupported_focus(items, tz, window, involving))
    order = {PROMOTION_LAUNCH: 0, UNSUPPORTED_FOCUS: 1, SAME_DAY_EVENTS: 2}
    out.sort(key=lambda c: (c.start, order[c.rule], c.first.id, c.second.id if c.second else 0))
    return out


def _promotions_vs_launches(items, tz, window, involving) -> list[Conflict]:
    # Per region, the launches sorted by start: a promotion only looks at those starting before
    # it ends (bisect), and keeps those ending after it starts.
    by_region: dict[str, list[tuple[datetime, datetime, int, Item]]] = defaultdict(list)
    promotions: list[Item] = []
    for it in items:
        if it.team == MARKETING and it.kind in LAUNCH_KINDS:
            l0, l1 = it.span(tz)
            for k in it.keys:
                by_region[k].append((l0, l1, it.id, it))
        elif it.team == SALES and it.kind in PROMOTION_KINDS and it.regions:
            promotions.append(it)
    starts: dict[str, list[datetime]] = {}
    for k, launches in by_region.items():
        launches.sort(key=lambda t: (t[0], t[2]))
        starts[k] = [t[0] for t in launches]
    out = []
    for promo in promotions:
        p0, p1 = promo.span(tz)
        shared: dict[int, tuple[Item, datetime, datetime, list[str]]] = {}
        for k, name in promo.keys.items():
            in_region = by_region.get(k)
            if not in_region:
                continue
            for l0, l1, lid, launch in in_region[: bisect_left(starts[k], p1)]:
                if l1 > p0 and (involving is None or promo.id in involving or lid in involving):
                    shared.setdefault(lid, (launch, l0, l1, []))[3].append(name)
        for launch, l0, l1, regions in shared.values():
            start, end = max(p0, l0), min(p1, l1)
            if window is not None and not (start < window[1] and window[0] < end):
                continue
            out.append(Conflict(PROMOTION_LAUNCH, promo, launch, tuple(regions), start, end))
    return out


def _events_same_day(items, tz, week, involving) -> list[Conflict]:
    buckets: dict[tuple[date, str], list[Item]] = defaultdict(list)
    for it in items:
        if it.kind not in EVENT_KINDS or not it.regions:
            continue
        d0, d1 = it.local_days(tz)
        if week is not None:
            d0, d1 = max(d0, week), min(d1, week + timedelta(days=6))
        d1 = min(d1, d0 + timedelta(days=MAX_EVENT_DAYS - 1))
        day = d0
        while day <= d1:
            for k in it.keys:
                buckets[(day, k)].append(it)
            day += DAY
    pairs: dict[tuple[int, int], list] = {}
    midnights: dict[date, datetime] = {}

    def midnight(day: date) -> datetime:
        m = midnights.get(day)
        if m is None:
            m = midnights[day] = local_midnight(day, tz)
        return m

    for day, k in sorted(buckets):  # earliest day first: a pair is reported on its first day
        group = buckets[(day, k)]
        if len(group) < 2:
            continue
        group.sort(key=lambda it: it.id)  # so that every pair below is (lower id, higher id)
        for i, lo in enumerate(group):
            lo_id, name = lo.id, lo.keys[k]
            lo_new = involving is None or lo_id in involving
            for hi in group[i + 1 :]:
                if not lo_new and hi.id not in involving:
                    continue
                entry = pairs.get((lo_id, hi.id))
                if entry is None:
                    pairs[(lo_id, hi.id)] = [lo, hi, day, [name]]
                elif entry[2] == day:
                    entry[3].append(name)
    return [
        Conflict(SAME_DAY_EVENTS, lo, hi, tuple(regions), midnight(day), midnight(day + DAY), day)
        for lo, hi, day, regions in pairs.values()
    ]


def _unsupported_focus(items, tz, window, involving) -> list[Conflict]:
    def this_week(it: Item) -> bool:
        s0, s1 = it.span(tz)
        return s0 < window[1] and window[0] < s1

    supported = {k for it in items if it.team == MARKETING and this_week(it) for k in it.keys}
    out = []
    for it in items:
        if it.team != SALES or it.kind not in FOCUS_KINDS or not it.regions or not this_week(it):
            continue
        if not _involved(involving, it):
            continue
        missing = tuple(name for k, name in it.keys.items() if k not in supported)
        if missing:
            s0, s1 = it.span(tz)
            out.append(Conflict(UNSUPPORTED_FOCUS, it, None, missing, max(s0, window[0]), min(s1, window[1])))
    return out


# --- what touches a team ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Touch:
    """Another team's item that touches ``team``: it shares a region with one of theirs
    (``mine``, in ``region``) and/or is in a conflict with them."""

    item: Item
    mine: Item | None
    region: str | None
    conflict: bool


def touching(items: Iterable[Item], team: str, conflicts: Iterable[Conflict]) -> list[Touch]:
    """The other teams' items (of ``items``, one week's) that touch ``team``, in ``items`` order."""
    items = list(items)
    ours: dict[str, Item] = {}
    for it in items:
        if it.team == team:
            for k in it.keys:
                ours.setdefault(k, it)
    conflicted = {i.id for c in conflicts for i in c.items if i.team != team}
    out = []
    for it in items:
        if it.team == team:
            continue
        hit = next(((k, ours[k]) for k in it.keys if k in ours), None)
        if hit is not None or it.id in conflicted:
            out.append(Touch(it, hit[1] if hit else None, it.keys[hit[0]] if hit else None, it.id in conflicted))
    return out
