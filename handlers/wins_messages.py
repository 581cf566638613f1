"""The wins flow's messages, as pure functions of plain values.

Every text a customer's CRM or a rep typed (deal and campaign names, emails) goes through
``user_text``: shortened here to a length that reads well (the renderers would cut it anyway,
but mid-sentence). It can form no mention: see ``handlers.messages``."""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.messages import Context, Divider, Header, Message, Section

ELLIPSIS = "…"
HEADER_NAME_MAX = 100  # header limit 150, with room for the amount
NAME_MAX = 300
LINE_NAME_MAX = 80
SECTION_MAX = 2800  # Slack's 3000, with room for mentions turning into names
MAX_SECTIONS = 40  # Slack allows 50 blocks a message


def user_text(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + ELLIPSIS
    return text


KIND_LABELS = {
    "webinar": "webinar",
    "ebook": "e-book",
    "event": "event",
    "paid": "paid campaign",
    "email": "email campaign",
    "other": "campaign",
}


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get((kind or "other").lower(), user_text(kind, 40) or "campaign")


@dataclass(frozen=True)
class CampaignView:
    name: str
    kind: str | None
    owner: str | None  # mention markup or plain text; None when nobody owns it


@dataclass(frozen=True)
class MonthView:
    label: str  # "November 2026"
    total: str  # "$120,000" in the config's currency
    target: str | None  # "$250,000"
    percent: int | None
    others: list[str] = field(default_factory=list)  # amounts in currencies without a rate

    def line(self) -> str:
        text = f"{self.label}: *{self.total}* won"
        if self.target:
            text += f" of {self.target} target ({self.percent}%)"
        if self.others:
            text += " + " + ", ".join(self.others)
        return text


@dataclass(frozen=True)
class WinView:
    deal: str
    amount: str
    owner: str  # mention markup or plain text
    sourced: CampaignView | None
    converted: CampaignView | None
    days_to_close: int | None
    month: MonthView
    announced_by: str | None = None  # mention markup when a rep announced it with `won`


def campaign_line(c: CampaignView, *, name_max: int = 150) -> str:
    text = f"{kind_label(c.kind).capitalize()} *{user_text(c.name, name_max)}*"
    return text + (f" ({c.owner})" if c.owner else "")


def _days(n: int | None) -> str | None:
    if n is None:
        return None
    return "same day as the first touch" if n == 0 else f"{n} day{'s' if n != 1 else ''} from first touch"


def win_post(v: WinView, *, reaction: str | None) -> Message:
    """The celebration in the wins channel (and, for a big deal, the wide channel)."""
    header_name = user_text(v.deal, HEADER_NAME_MAX)
    sourced = campaign_line(v.sourced) if v.sourced else "Sales (no campaign touched it before the close)"
    fields = [("Owner", v.owner), ("Sourced by", sourced)]
    if v.converted and v.sourced and v.converted != v.sourced:
        fields.append(("Converted by", campaign_line(v.converted)))
    if (days := _days(v.days_to_close)) is not None:
        fields.append(("Time to close", days))
    context = v.month.line()
    if v.announced_by:
        context += f" · announced by {v.announced_by}"
    credit = f"sourced by {campaign_line(v.sourced)}" if v.sourced else "sourced by sales"
    text = f"🎉 {v.owner} won {user_text(v.deal, 200)} — {v.amount}, {credit}. {v.month.line()}"
    return Message(
        text=text,
        blocks=[
            Header(text=f"🎉 {header_name} — {v.amount}"),
            Section(text=f"Closed won. Congratulations {v.owner}!", fields=fields),
            Context(text=context),
        ],
        reaction=reaction,
    )


def wide_pointer(v: WinView, wins_channel) -> Message:
    """The wide channel's one line about a big deal: the celebration itself is in the wins channel."""
    where = (wins_channel.title if wins_channel is not None else None) or "#wins"
    text = f"🎉 {v.owner} won *{user_text(v.deal, NAME_MAX)}* — {v.amount}. The celebration is in {where}."
    return Message(text=text, blocks=[Section(text=text)])


def marketing_note(v: WinView) -> Message | None:
    """What the marketing channel hears: "your webinar X sourced a $48,000 win"."""
    if v.sourced is None:
        return None
    lines = [_credit(v.sourced, "sourced", v)]
    if v.converted and v.converted != v.sourced:
        lines.append(_credit(v.converted, "converted", v))
    text = "\n".join(lines)
    return Message(text=text, blocks=[Section(text=text), Context(text=v.month.line())])


def _credit(c: CampaignView, verb: str, v: WinView) -> str:
    who = f"{c.owner}: your" if c.owner else "The"
    return (
        f"🎯 {who} {kind_label(c.kind)} *{user_text(c.name, 150)}* {verb} a {v.amount} win: "
        f"*{user_text(v.deal, 150)}*, closed by {v.owner}."
    )


@dataclass(frozen=True)
class RollupLine:
    deal: str
    amount: str
    owner: str
    sourced: CampaignView | None


def _page(lines: list[str]) -> list[Section]:
    """Lines gathered into sections that each fit, at most MAX_SECTIONS of them."""
    sections: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if sections[-1] and size + len(line) + 1 > SECTION_MAX:
            sections.append([])
            size = 0
        sections[-1].append(line)
        size += len(line) + 1
    shown = sections[:MAX_SECTIONS]
    hidden = sum(len(s) for s in sections[MAX_SECTIONS:])
    if hidden:
        shown[-1] = shown[-1][:-1] + [f"…and {hidden + 1} more"]
    return [Section(text="\n".join(s)) for s in shown if s]


def rollup_line(r: RollupLine) -> str:
    credit = f" · {campaign_line(r.sourced, name_max=60)}" if r.sourced else ""
    return f"• *{user_text(r.deal, LINE_NAME_MAX)}* — {r.amount} — {r.owner}{credit}"


def rollup_post(day_label: str, lines: list[RollupLine], total: str, month: MonthView) -> Message:
    """The daily "more wins" post: every smaller deal of the day in one message."""
    n = len(lines)
    title = f"More wins {day_label}: {n} deal{'s' if n != 1 else ''}, {total}"
    return Message(
        text=f"🙌 {title}. {month.line()}",
        blocks=[
            Header(text=f"🙌 {title}"),
            *_page([rollup_line(r) for r in lines]),
            Divider(),
            Context(text=month.line()),
        ],
    )


def rollup_marketing_note(day_label: str, lines: list[RollupLine]) -> Message | None:
    sourced = [r for r in lines if r.sourced]
    if not sourced:
        return None
    n = len(sourced)
    head = f"🎯 Your campaigns sourced {n} of the wins in the {day_label} roll-up:"
    sections = _page([rollup_line(r) for r in sourced])[: MAX_SECTIONS - 1]
    return Message(text=head, blocks=[Section(text=head), *sections])


def unmatched_owner_note(emails: list[str]) -> Message:
    """To an admin: deal owners the bot cannot mention (their email is not in the people list)."""
    shown = ", ".join(user_text(e, 320) for e in emails[:20])
    more = f" and {len(emails) - 20} more" if len(emails) > 20 else ""
    text = (
        f"Deals were won by {shown}{more}, who {'is' if len(emails) == 1 else 'are'} not in the people list, "
        "so the wins post names them in plain text. Add them under `people:` in the config "
        "(with `slack_id` if their Slack email differs) to have them mentioned."
    )
    return Message(text=text, blocks=[Section(text=text)])
