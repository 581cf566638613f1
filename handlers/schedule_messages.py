"""Layouts of the weekly schedule: the Monday post, the on-demand view, warnings, the add form.

Pure functions from schedule values (``handlers/schedule_rules.py``) to the message model. A long
week is paged here, inside Slack's limits, rather than left to a renderer to cut: every page has
at most ``PAGE_BLOCKS`` blocks, every section's text stays under ``SECTION_BUDGET`` characters
and a page's text under ``PAGE_BUDGET`` in all, even after the renderer has escaped ``&<>`` and
turned mentions into names. (Besides the documented 50 blocks and 3000 characters a section,
``chat.postMessage`` refuses blocks of about 12-13k characters in total: ``msg_blocks_too_long``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.events import SCHEDULE_KINDS
from handlers.messages import (
    Block,
    Context,
    Divider,
    Form,
    Header,
    Input,
    Message,
    Option,
    Section,
    MENTION_OPEN,
    mention,
)
from handlers.schedule_rules import (
    PROMOTION_LAUNCH,
    SAME_DAY_EVENTS,
    UNSUPPORTED_FOCUS,
    Conflict,
    Item,
    Touch,
)

ADD_HINT = "add with `/smarketing schedule add`"
EMPTY_TEXT = f"Nothing scheduled — {ADD_HINT}"

PAGE_BLOCKS = 48  # Slack allows 50; two spare for a note under an on-demand page
SECTION_BUDGET = 2800  # Slack allows 3000 characters a section, after escaping and mentions
PAGE_BUDGET = 9000  # all of a page's text; Slack answers msg_blocks_too_long from about 12k
MENTION_COST = 80  # what a mention may grow to when rendered (a Slack id, or a person's name)
TITLE_MAX = 150
LINK_MAX = 300
MAX_CONFLICT_LINES = 50  # a week with more collisions than this needs a meeting, not a longer post
MAX_TOUCH_LINES = 30

KIND_LABELS = {
    "campaign_launch": "Campaign launch",
    "webinar": "Webinar",
    "event": "Event",
    "promotion": "Promotion / discount",
    "territory_focus": "Territory focus",
    "account_focus": "Account focus",
    "call_blitz": "Call blitz",
    "other": "Other",
}
KIND_EMOJI = {
    "campaign_launch": ":rocket:",
    "webinar": ":tv:",
    "event": ":calendar:",
    "promotion": ":label:",
    "territory_focus": ":round_pushpin:",
    "account_focus": ":dart:",
    "call_blitz": ":telephone_receiver:",
    "other": ":small_blue_diamond:",
}
assert set(KIND_LABELS) == set(SCHEDULE_KINDS)


# --- small pieces -----------------------------------------------------------------------------


def safe(text: str, limit: int = TITLE_MAX) -> str:
    """User text on one line, shortened (it can form no mention: see ``handlers.messages``)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_LONG_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def day_label(day: date) -> str:
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month]}"


def day_range(first: date, last: date, first_time: str = "", last_time: str = "") -> str:
    """``Tue 24 Nov → Thu 26 Nov``; each day with its year when the two years differ
    (``Thu 31 Dec 2026 → Fri 1 Jan 2027``): a day alone would not say which year it is."""
    year = first.year != last.year
    a, b = (day_label(d) + (f" {d.year}" if year else "") for d in (first, last))
    return f"{a}{' ' + first_time if first_time else ''} → {b}{' ' + last_time if last_time else ''}"


def long_day_label(day: date) -> str:
    return f"{_LONG_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month]}"


def _hm(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def week_title(monday: date) -> str:
    return f"Week of {monday.day} {monday:%b %Y}"


def owner(item: Item, names: dict[int, str] | None = None) -> str:
    """The item's owner: a mention (in a conflict, where they must act), or by name (``names``
    given: everywhere else in the week's post, so a listing pings nobody)."""
    if item.owner_id and names is not None:
        return safe(names.get(item.owner_id) or item.owner_email or "someone", 80)
    return mention(item.owner_id) if item.owner_id else (item.owner_email or "no owner")


def when(item: Item, tz: ZoneInfo) -> str:
    """When an item happens, read in ``tz``: ``10:00–11:00``, ``all day``, ``Tue 24 Nov → Thu 26 Nov``."""
    first, last = item.local_days(tz)
    if item.all_day:
        return "all day" if first == last else day_range(first, last)
    start, end = item.span(tz)
    s, e = start.astimezone(tz), item.end.astimezone(tz)
    if first == last:
        return _hm(s) if item.end <= item.start else f"{_hm(s)}–{_hm(e)}"
    return day_range(s.date(), e.date(), _hm(s), _hm(e))


def item_text(item: Item) -> str:
    """``*Title* (Webinar, marketing, EMEA, @owner)``: an item named inside a sentence."""
    regions = ", ".join(safe(r, 40) for r in item.regions[:6]) + (" …" if len(item.regions) > 6 else "")
    bits = [KIND_LABELS.get(item.kind, item.kind), item.team] + ([regions] if regions else []) + [owner(item)]
    return f"*{safe(item.title)}* ({', '.join(bits)})"


def item_line(
    item: Item, tz: ZoneInfo, *, with_day: bool = False, names: dict[int, str] | None = None, note: str = ""
) -> str:
    """One item as a bullet line; ``with_day`` names the day too (outside the by-day list);
    ``names``: owners by name (no mention); ``note``: what it touches, after it."""
    regions = ", ".join(safe(r, 40) for r in item.regions[:6]) + (" …" if len(item.regions) > 6 else "")
    parts = (
        [KIND_LABELS.get(item.kind, item.kind), f"_{item.team}_"]
        + ([regions] if regions else [])
        + [owner(item, names)]
    )
    if item.link and len(item.link) <= LINK_MAX:
        parts.append(item.link)
    moment = when(item, tz)
    if with_day and "→" not in moment:
        moment = f"{day_label(item.local_days(tz)[0])} {moment}"
    return f"• {moment}  {KIND_EMOJI.get(item.kind, '')} *{safe(item.title)}* — {' · '.join(parts)}{note}"


def _span_label(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    first, last = start.astimezone(tz).date(), (end - timedelta(microseconds=1)).astimezone(tz).date()
    return day_label(first) if first == last else day_range(first, last)


def conflict_line(c: Conflict, tz: ZoneInfo, contacts: dict[str, list[int]] | None = None) -> str:
    """One conflict, naming both items and both owners."""
    regions = ", ".join(safe(r, 40) for r in c.regions)
    if c.rule == PROMOTION_LAUNCH and c.second is not None:
        return (
            f"• :warning: Sales promotion {item_text(c.first)} overlaps marketing's "
            f"{KIND_LABELS.get(c.second.kind, c.second.kind).lower()} {item_text(c.second)} in {regions} — "
            f"{_span_label(c.start, c.end, tz)}"
        )
    if c.rule == SAME_DAY_EVENTS and c.second is not None:
        day = day_label(c.day) if c.day else _span_label(c.start, c.end, tz)
        return f"• :warning: Two events on {day} in {regions}: {item_text(c.first)} and {item_text(c.second)}"
    if c.rule == UNSUPPORTED_FOCUS:
        who = [mention(p) for p in (contacts or {}).get("marketing", [])[:2]]
        ask = f" — {' / '.join(who)} (marketing), can you support it?" if who else ""
        return (
            f"• :warning: Sales territory focus {item_text(c.first)} is in {regions}, where marketing has "
            f"nothing this week{ask}"
        )
    return f"• :warning: {item_text(c.first)}"  # pragma: no cover - every rule is handled above


def touch_line(t: Touch, tz: ZoneInfo) -> str:
    line = item_line(t.item, tz, with_day=True)
    if t.mine is not None:
        line += f"  ↔ your *{safe(t.mine.title, 80)}* in {safe(t.region or '', 40)}"
    elif t.conflict:
        line += "  ↔ see the conflicts"
    return line


def cost(text: str) -> int:
    """An upper bound of ``text``'s length once rendered for Slack (UTF-16 units, ``&<>``
    escaped, mentions replaced)."""
    # Mention tokens are counted on top of their own characters: a little over, never under.
    units = len(text.encode("utf-16-le")) // 2
    return (
        units + 4 * text.count("&") + 3 * (text.count("<") + text.count(">")) + MENTION_COST * text.count(MENTION_OPEN)
    )


def pack(title: str | None, lines: list[str], budget: int = SECTION_BUDGET) -> list[Section]:
    """Lines into as few sections as fit the budget; ``title`` (bold) heads the first, and the
    others as "(continued)", as a page may start with any of them."""
    sections: list[Section] = []
    current: list[str] = [f"*{title}*"] if title else []
    used = cost(current[0]) + 1 if current else 0
    for line in lines:
        c = cost(line) + 1
        if current and used + c > budget:
            sections.append(Section(text="\n".join(current)))
            current = [f"*{title} (continued)*"] if title else []
            used = cost(current[0]) + 1 if current else 0
        current.append(line)
        used += c
    if current:
        sections.append(Section(text="\n".join(current)))
    return sections


# --- the week ---------------------------------------------------------------------------------


@dataclass
class WeekView:
    """One team's (or anyone's) view of a week: what the Monday post and the command show."""

    monday: date
    tz: ZoneInfo
    items: list[Item]  # those in the week
    conflicts: list[Conflict]
    team: str | None = None  # whose view: they get "what <other> is doing that touches you"
    other: str | None = None
    touches: list[Touch] = field(default_factory=list)
    contacts: dict[str, list[int]] = field(default_factory=dict)  # team -> people to ask (gaps)
    late: str | None = None  # "(posted late — …)"
    # The Monday post (``digest``): each item listed once (by day, owners by name, what touches this
    # team noted on its line), each conflict once with its owners mentioned; the command's answer
    # keeps its "what <other> is doing that touches you" section.
    digest: bool = False
    names: dict[int, str] = field(default_factory=dict)  # owners' names


@dataclass
class Page:
    message: Message
    items: int  # how many of the week's items it lists by day


def _day_lines(view: WeekView) -> list[tuple[date, list[str]]]:
    by_day: dict[date, list[tuple[datetime, str, str, int, Item]]] = {}
    last_day = view.monday + timedelta(days=6)
    for it in view.items:
        first, _ = it.local_days(view.tz)
        day = min(max(first, view.monday), last_day)
        start = it.span(view.tz)[0]
        by_day.setdefault(day, []).append((start, it.team, it.title.casefold(), it.id, it))
    out = []
    for day in sorted(by_day):
        rows = sorted(by_day[day], key=lambda r: r[:4])
        if view.digest:
            notes = {
                t.item.id: (
                    f"  ↔ your *{safe(t.mine.title, 80)}* in {safe(t.region or '', 40)}"
                    if t.mine
                    else "  ↔ see the conflicts"
                )
                for t in view.touches
            }
            out.append((day, [item_line(r[4], view.tz, names=view.names, note=notes.get(r[4].id, "")) for r in rows]))
        else:
            out.append((day, [item_line(r[4], view.tz) for r in rows]))
    return out


def _summary(view: WeekView) -> str:
    n, m = len(view.items), len(view.conflicts)
    teams = "Sales and marketing" if view.team is None else f"{view.team.capitalize()} and {view.other or 'others'}"
    return f"{teams} · times in {view.tz.key} · {n} item{'s' * (n != 1)} · {m} conflict{'s' * (m != 1)}"


def week_pages(view: WeekView) -> list[Page]:
    """The week as one or more messages, each inside Block Kit's limits.

    Order: conflicts first (what needs acting on), then what the other team is doing that
    touches this one, then every item of both teams by day."""
    title = week_title(view.monday)
    if not view.items:
        text = f"{title}: {EMPTY_TEXT}" + (f" {view.late}" if view.late else "")
        blocks: list[Block] = [Header(text=title)]
        if view.late:
            blocks.append(Context(text=f"_{view.late}_"))
        blocks.append(Section(text=EMPTY_TEXT))
        return [Page(Message(text=text, blocks=blocks), 0)]

    units: list[tuple[Block, int]] = []  # (block, how many items it lists by day)
    if view.conflicts:
        lines = [conflict_line(c, view.tz, view.contacts) for c in view.conflicts[:MAX_CONFLICT_LINES]]
        extra = len(view.conflicts) - len(lines)
        if extra > 0:
            lines.append(f"…and {extra} more conflicts")
        units += [(s, 0) for s in pack(f":warning: Conflicts ({len(view.conflicts)})", lines)]
    if view.team is not None and view.other is not None and not view.digest:
        heading = f"What {view.other} is doing that touches you"
        if view.touches:
            lines = [touch_line(t, view.tz) for t in view.touches[:MAX_TOUCH_LINES]]
            if len(view.touches) > MAX_TOUCH_LINES:
                lines.append(f"…and {len(view.touches) - MAX_TOUCH_LINES} more — see the days below")
        else:
            lines = [f"Nothing {view.other} has this week shares a region with yours."]
        units += [(s, 0) for s in pack(heading, lines)]
    units.append((Divider(), 0))
    for day, lines in _day_lines(view):
        head = f"*{long_day_label(day)}*"
        # Like ``pack``, counting the items each section lists (for "…and N more").
        current, used, count = [head], cost(head) + 1, 0
        for line in lines:
            c = cost(line) + 1
            if used + c > SECTION_BUDGET and count:
                units.append((Section(text="\n".join(current)), count))
                current, count = [f"*{long_day_label(day)} (continued)*"], 0
                used = cost(current[0]) + 1
            current.append(line)
            used += c
            count += 1
        units.append((Section(text="\n".join(current)), count))

    intro: list[Block] = [Context(text=_summary(view))]
    if view.late:
        intro.insert(0, Context(text=f"_{view.late}_"))
    pages_units: list[list[tuple[Block, int]]] = [[]]
    room = PAGE_BLOCKS - 1 - len(intro)  # the header is the one
    chars = 200 + sum(cost(b.text) for b in intro if isinstance(b, Context))  # header and intro
    for unit in units:
        c = cost(unit[0].text) if isinstance(unit[0], Section) else 0
        if pages_units[-1] and (len(pages_units[-1]) >= room or chars + c > PAGE_BUDGET):
            pages_units.append([])
            room, chars = PAGE_BLOCKS - 1, 200
        pages_units[-1].append(unit)
        chars += c
    total = len(pages_units)
    pages = []
    for n, page_units in enumerate(pages_units, 1):
        suffix = f" ({n}/{total})" if total > 1 else ""
        blocks = [Header(text=title + suffix)] + (intro if n == 1 else []) + [b for b, _ in page_units]
        text = f"{title}{suffix}: {len(view.items)} items, {len(view.conflicts)} conflicts"
        if view.late:
            text += f" {view.late}"
        pages.append(Page(Message(text=text, blocks=blocks), sum(k for _, k in page_units)))
    return pages


def on_demand(view: WeekView, *, upcoming: bool) -> Message:
    """The ephemeral answer to ``/smarketing schedule [next]``: the week's first page, and a
    note of how many items did not fit."""
    pages = week_pages(view)
    first = pages[0].message
    more = len(view.items) - pages[0].items
    if more > 0:
        where = "they will all be in Monday's post" if upcoming else "see the Monday post in your team's channel"
        note = f"…and {more} more item{'s' * (more != 1)} — {where}"
        first = Message(text=first.text, blocks=[*first.blocks, Context(text=note)])
    return first


# --- warnings and answers ---------------------------------------------------------------------


def warning_message(c: Conflict, tz: ZoneInfo) -> Message:
    """The early warning to each owner of a new conflict."""
    line = conflict_line(c, tz).removeprefix("• :warning: ")
    text = f"Heads-up: {line}"
    return Message(
        text=text,
        blocks=[
            Section(text=f":warning: *Schedule conflict*\n{line}"),
            Context(text="Both owners got this message. Talk it over, then change one of them if needed."),
        ],
    )


def added_reply(item: Item, tz: ZoneInfo, conflicts: list[Conflict]) -> Message:
    line = f"Added {item_text(item)} to the schedule: {when(item, tz)}"
    if item.all_day and item.local_days(tz)[0] == item.local_days(tz)[1]:
        line += f" on {day_label(item.local_days(tz)[0])}"
    blocks: list[Block] = [Section(text=line + ".")]
    if conflicts:
        lines = [conflict_line(c, tz) for c in conflicts[:10]]
        blocks += pack(
            f":warning: It conflicts with {len(conflicts)} item{'s' * (len(conflicts) != 1)} "
            "— both owners have been told",
            lines,
        )
    return Message(text=line + "." + (f" It has {len(conflicts)} conflict(s)." if conflicts else ""), blocks=blocks)


def add_form(teams: list[str], team: str | None, today: date) -> Form:
    return Form(
        title="Add to the schedule",
        action="schedule.add",
        submit_label="Add",
        inputs=[
            Input(
                name="team",
                label="Team",
                kind="select",
                initial=team,
                options=[Option(value=t, label=t.capitalize()) for t in teams],
            ),
            Input(
                name="kind",
                label="Kind",
                kind="select",
                options=[Option(value=k, label=KIND_LABELS[k]) for k in SCHEDULE_KINDS],
            ),
            Input(name="title", label="Title", max_length=200, placeholder="Spring launch webinar"),
            Input(
                name="regions",
                label="Regions",
                required=False,
                max_length=500,
                placeholder="EMEA, UK",
                hint="Comma-separated. Conflicts are found by region.",
            ),
            Input(name="start", label="Start date", kind="date", initial=today.isoformat()),
            Input(name="end", label="End date", kind="date", required=False, hint="Leave empty for a one-day item."),
            Input(name="link", label="Link", required=False, max_length=3000, placeholder="https://…"),
        ],
    )
