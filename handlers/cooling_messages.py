"""Message layouts of the cooling flow: pure functions from plain values to messages.

Times arrive as aware UTC datetimes with the timezone to show them in. Nothing here reads the
database or the clock.

The handoff and the ladder alerts are built in bulk (a webhook batch, a job chunk of 1,000), so
they are built directly as the JSON payload the outbox stores (``Message.from_json`` reads
it; defaults are left out; the tests check both agree) through the small block builders below:
building and dumping the pydantic models cost ~130 µs a message on this machine class, most of
a chunk's time budget.
Replies to one person (commands, button results) use the ``Message`` model as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from handlers.messages import Actions, Context, Header, Message, Section, defuse_mentions, mention

Payload = dict  # a Message as JSON, ready for the outbox

FOLLOW_UP, SNOOZE, CLAIM, BOUNCE = "cooling.follow_up", "cooling.snooze", "cooling.claim", "bounce.open"
STATUS_MARKS = ("✅", "💤", "🙋")  # the first characters of the status lines buttons add
MAX_BOUNCES_SHOWN = 5
# Names by hand: strftime's %a/%b cost ~40 µs a call here (glibc re-reads the timezone each time).
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadCard:
    """What a message shows of a lead."""

    id: int
    crm_id: str
    name: str | None = None
    company: str | None = None
    email: str | None = None
    title: str | None = None
    score: int | None = None

    @classmethod
    def of(cls, lead: Any) -> "LeadCard":
        """From a ``Lead`` or a dict of its columns; the CRM's text can mention no one."""
        g = lead.get if isinstance(lead, dict) else lambda name: getattr(lead, name)
        text = [defuse_mentions(v) if v else v for v in (g("crm_id"), g("name"), g("company"), g("email"), g("title"))]
        return cls(g("id"), *text, g("score"))

    @property
    def label(self) -> str:
        """``*Jane Doe* (Acme)``, or the email, or the CRM id."""
        who = self.name or self.email or self.crm_id
        return f"*{who}*" + (f" ({self.company})" if self.company else "")

    @property
    def plain(self) -> str:
        who = self.name or self.email or self.crm_id
        return who + (f" ({self.company})" if self.company else "")


@dataclass(frozen=True)
class BounceLine:
    at: datetime
    reason: str  # the reason's label
    by_person_id: int | None
    note: str | None


# --- formatting -----------------------------------------------------------------------------


def when(at: datetime, tz: str) -> str:
    """``Mon 23 Nov, 09:30 EST`` in ``tz``."""
    t = at.astimezone(ZoneInfo(tz))
    return f"{DAYS[t.weekday()]} {t.day} {MONTHS[t.month - 1]}, {t.hour:02d}:{t.minute:02d} {t.tzname()}"


def clock(at: datetime, tz: str) -> str:
    """``10:42`` in ``tz``."""
    t = at.astimezone(ZoneInfo(tz))
    return f"{t.hour:02d}:{t.minute:02d}"


def day(at: datetime, tz: str) -> str:
    """``12 Nov 2026`` in ``tz``."""
    t = at.astimezone(ZoneInfo(tz))
    return f"{t.day} {MONTHS[t.month - 1]} {t.year}"


def hours_text(hours: float) -> str:
    """Business hours, readably: ``45 min``, ``1 h``, ``3 h 20 min``."""
    minutes = max(0, round(hours * 60))
    h, m = divmod(minutes, 60)
    if h == 0:
        return f"{m} min"
    return f"{h} h" + (f" {m} min" if m else "")


def time_left_text(hours_left: float) -> str:
    """``2 h left`` or ``overdue by 1 h 30 min`` (negative: past due)."""
    return f"{hours_text(hours_left)} left" if hours_left >= 0 else f"overdue by {hours_text(-hours_left)}"


def _times(n: int) -> str:
    return f"{n} time" + ("" if n == 1 else "s")


# --- payload builders (the JSON of handlers.messages blocks) --------------------------------


def _payload(text: str, *blocks: dict) -> Payload:
    return {"text": text, "blocks": list(blocks)}


def _header(text: str) -> dict:
    return {"type": "header", "text": text}


def _section(text: str, fields: Iterable[tuple[str, str]] = ()) -> dict:
    section = {"type": "section", "text": text}
    if fields:
        section["fields"] = [[k, v] for k, v in fields]
    return section


def _context(text: str) -> dict:
    return {"type": "context", "text": text}


def _actions(*buttons: dict) -> dict:
    return {"type": "actions", "buttons": list(buttons)}


def _button(label: str, action: str, value: str, style: str | None = None) -> dict:
    button = {"label": label, "action": action, "value": value}
    if style:
        button["style"] = style
    return button


def _follow_up(lead_id: int) -> dict:
    return _button("Log follow-up", FOLLOW_UP, str(lead_id), "primary")


def _snoozes(lead_id: int, snooze_hours: float) -> list[dict]:
    short = f"{snooze_hours:g} hour" + ("" if snooze_hours == 1 else "s")
    return [_button(f"Snooze {short}", SNOOZE, f"{lead_id}:{snooze_hours:g}h"),
            _button("Snooze until tomorrow", SNOOZE, f"{lead_id}:morning")]


def _bounce(lead_id: int) -> dict:
    return _button("Bounce to marketing", BOUNCE, str(lead_id))


def _claim(lead_id: int) -> dict:
    return _button("Claim", CLAIM, str(lead_id), "primary")


def _details(lead: LeadCard, extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    fields = [(k, v) for k, v in extra if v]
    if lead.title:
        fields.append(("Title", lead.title))
    if lead.email:
        fields.append(("Email", lead.email))
    if lead.score is not None:
        fields.append(("Score", str(lead.score)))
    fields.append(("CRM id", lead.crm_id))
    return fields[:10]


# --- the handoff ----------------------------------------------------------------------------


def handoff(lead: LeadCard, *, owner_id: int | None, tier: str, hours: float, due: str,
            campaign: str | None = None, bounces: list[BounceLine] = (), tz: str = "UTC",
            requalified_by: int | None = None, note: str | None = None) -> Payload:
    """The lead handed to sales: to its owner, or to the sales channel to be claimed."""
    if owner_id:
        intro = f"New qualified lead for {mention(owner_id)}: {lead.label}. Follow up by *{due}*."
        buttons = [_follow_up(lead.id), _bounce(lead.id)]
    else:
        intro = f"New qualified lead with no owner: {lead.label}. Claim it and follow up by *{due}*."
        buttons = [_claim(lead.id)]
    blocks = [
        _header(f"New qualified lead: {lead.plain}"),
        _section(intro, _details(lead, [("SLA", f"{tier}: {hours_text(hours)} (business hours)"),
                                        ("Source campaign", campaign or "")])),
    ]
    if requalified_by or note:
        by = f" by {mention(requalified_by)}" if requalified_by else ""
        blocks.append(_context(f"Sent back to sales{by}" + (f": {defuse_mentions(note)}" if note else ".")))
    if bounces:
        blocks.append(_section(bounce_history(bounces, tz)))
    blocks.append(_actions(*buttons))
    text = f"New qualified lead: {lead.plain} — follow up by {due}"
    if bounces:
        text += f" (bounced {_times(len(bounces))} before)"
    return _payload(text, *blocks)


def bounce_history(bounces: list[BounceLine], tz: str) -> str:
    """``Bounced before: 12 Nov 2026 — No budget by @Ben: call in Q3`` lines, newest last."""
    shown = bounces[-MAX_BOUNCES_SHOWN:]
    lines = []
    for b in shown:
        by = f" by {mention(b.by_person_id)}" if b.by_person_id else ""
        note = f": {defuse_mentions(b.note)}" if b.note else ""
        lines.append(f"Bounced before: {day(b.at, tz)} — {defuse_mentions(b.reason)}{by}{note}")
    if len(bounces) > len(shown):
        lines.insert(0, f"_{len(bounces) - len(shown)} earlier bounces not shown_")
    return "\n".join(lines)


# --- the ladder -----------------------------------------------------------------------------


def warning(lead: LeadCard, *, left: str, due: str) -> Payload:
    text = f"⏳ {lead.label} still needs a follow-up: {left} (due {due})."
    return _payload(f"⏳ {lead.plain} still needs a follow-up: {left} (due {due}).",
                    _section(text), _actions(_follow_up(lead.id)))


def breach(lead: LeadCard, *, due: str, snooze_hours: float, reminder: bool = False) -> Payload:
    """At breach (or when a snooze ends): the owner's DM with every way out."""
    if reminder:
        text = f"💤 Snooze over: {lead.label} still has no follow-up (it was due {due})."
        plain = f"💤 Snooze over: {lead.plain} still has no follow-up (it was due {due})."
    else:
        text = f"🔥 SLA breached: {lead.label} was due for a follow-up {due} and has none yet."
        plain = f"🔥 SLA breached: {lead.plain} was due for a follow-up {due} and has none yet."
    return _payload(plain, _section(text, _details(lead)),
                    _actions(_follow_up(lead.id), *_snoozes(lead.id, snooze_hours), _bounce(lead.id)))


def to_manager(lead: LeadCard, *, owner_id: int, due: str, snooze_count: int, snooze_hours: float,
               away_until: str | None = None) -> Payload:
    """The escalation to the owner's manager (straight away when the owner is out of office)."""
    if away_until:
        text = (f"{mention(owner_id)} is out of office until {away_until}, so this comes to you: "
                f"{lead.label} needs a follow-up (due {due}).")
    else:
        text = f"{lead.label} ({mention(owner_id)}'s) is past its SLA (due {due}) with no follow-up."
    snoozed = f"Snoozed {_times(snooze_count)}." if snooze_count else "Not snoozed."
    return _payload(f"Escalation: {lead.plain} has no follow-up", _section(f"🚩 {text}", _details(lead)),
                    _context(snoozed),
                    _actions(_follow_up(lead.id), *_snoozes(lead.id, snooze_hours), _bounce(lead.id)))


def to_channel(lead: LeadCard, *, owner_id: int, due: str, snooze_count: int,
               away_until: str | None = None) -> Payload:
    """The last step: the sales channel hears about it."""
    if away_until:
        text = f"🚨 {mention(owner_id)}'s lead {lead.label} has no follow-up and its owner is out of office until {away_until}."
    else:
        text = f"🚨 {mention(owner_id)}'s lead {lead.label} is past its SLA (due {due}) with no follow-up."
    if snooze_count:
        text += f" Snoozed {_times(snooze_count)}."
    return _payload(f"SLA breach: {lead.plain} has no follow-up", _section(text))


def unclaimed(lead: LeadCard, *, due: str) -> Payload:
    """A past-due lead nobody owns, in the sales channel."""
    return _payload(f"🚨 {lead.plain} has no owner and is past its SLA (due {due}). Who takes it?",
                    _section(f"🚨 {lead.label} has no owner and is past its SLA (due {due}). Who takes it?",
                             _details(lead)),
                    _actions(_claim(lead.id)))


# --- button results -------------------------------------------------------------------------


def with_status(message: Message, line: str, *, keep: Iterable[str] = ()) -> Message:
    """The message as a button press leaves it: buttons whose action is not in ``keep`` gone,
    the previous status line replaced by ``line``."""
    keep = set(keep)
    blocks: list = []
    for block in message.blocks:
        if isinstance(block, Actions):
            buttons = [b for b in block.buttons if b.action in keep]
            if buttons:
                blocks.append(Actions(buttons=buttons))
        elif isinstance(block, Context) and block.text.startswith(STATUS_MARKS):
            continue
        else:
            blocks.append(block)
    # The status goes above the remaining buttons, where the pressed one was.
    at = next((i for i, b in enumerate(blocks) if isinstance(b, Actions)), len(blocks))
    blocks.insert(at, Context(text=line))
    return Message(text=message.text, blocks=blocks, reaction=message.reaction)


# --- commands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadLine:
    lead: LeadCard
    left: str  # "2 h left", "overdue by 1 h"
    due: str | None
    overdue: bool
    snoozed_until: str | None = None


def my_leads(lines: list[LeadLine], *, page: int, pages: int, total: int) -> Message:
    if not total:
        text = "You have no qualified leads waiting on you. 🎉"
        return Message(text=text, blocks=[Section(text=text)])
    blocks: list = [Header(text=f"Your qualified leads ({total})")]
    for ln in lines:
        mark = "🔥" if ln.overdue else "⏳"
        due = f" (due {ln.due})" if ln.due else ""
        snooze = f" · 💤 snoozed until {ln.snoozed_until}" if ln.snoozed_until else ""
        blocks.append(Section(text=f"{mark} {ln.lead.label} — {ln.left}{due}{snooze}\n`{ln.lead.crm_id}`"))
    foot = "Most urgent first; times are business hours."
    if pages > 1:
        foot += f" Page {page} of {pages}" + (f" — `/smarketing leads {page + 1}` for more." if page < pages else ".")
    blocks.append(Context(text=foot))
    return Message(text=f"Your qualified leads: {total}", blocks=blocks)
