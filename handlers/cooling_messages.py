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
from typing import Any, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

from handlers.messages import Context, Header, Message, Section, mention, moment

Payload = dict  # a Message as JSON, ready for the outbox

FOLLOW_UP, SNOOZE, CLAIM, BOUNCE = "cooling.follow_up", "cooling.snooze", "cooling.claim", "bounce.open"
# The first characters of a lead's status line (the last transition): the live part of a
# message about a lead, with its buttons; everything else in it is what it said when posted.
MARKS = {
    "handoff": "🆕",
    "claim": "🙋",
    "reassign": "➡️",
    "follow_up": "✅",
    "snooze": "💤",
    "bounce": "↩️",
    "send_back": "↪️",
    "requalify": "↪️",
    "convert": "🏆",
}
STATUS_MARKS = tuple(set(MARKS.values()))
# What a lead's status means to a person (never the raw status).
STATUS_WORDS = {
    "new": "not handed to sales yet",
    "qualified": "with sales",
    "nurture": "back with marketing",
    "converted": "won",
    "disqualified": "disqualified",
}
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
    version: int = 0  # the lead's state version: buttons carry it

    @property
    def ref(self) -> str:
        """What a button's value names: the lead and the state it was shown in (``12@3``)."""
        return f"{self.id}@{self.version}"

    @classmethod
    def of(cls, lead: Any) -> "LeadCard":
        """From a ``Lead`` or a dict of its columns."""
        g: Callable[[str], Any] = lead.get if isinstance(lead, dict) else lambda name: getattr(lead, name)
        return cls(g("id"), g("crm_id"), g("name"), g("company"), g("email"), g("title"), g("score"), g("version") or 0)

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
    """A moment shown in the reader's timezone (``handlers.messages.moment``): a Slack date token,
    Teams' card date/time functions, the viewer's zone in the local workspace; where none of
    them can, ``Mon 23 Nov, 09:30 EST`` in ``tz``. A channel never shows one rep's zone."""
    return moment(at, tz, "datetime")


def clock(at: datetime, tz: str) -> str:
    """The time of day of ``at`` in the reader's timezone (fallback: ``10:42 EST`` in ``tz``)."""
    return moment(at, tz, "time")


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
    section: dict[str, Any] = {"type": "section", "text": text}
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


def _follow_up(ref: str) -> dict:
    return _button("Log follow-up", FOLLOW_UP, ref, "primary")


def _snoozes(ref: str, snooze_hours: float) -> list[dict]:
    short = f"{snooze_hours:g} hour" + ("" if snooze_hours == 1 else "s")
    return [
        _button(f"Snooze {short}", SNOOZE, f"{ref}:{snooze_hours:g}h"),
        _button("Snooze until tomorrow", SNOOZE, f"{ref}:morning"),
    ]


def _bounce(ref: str) -> dict:
    return _button("Bounce to marketing", BOUNCE, ref)


def _claim(ref: str) -> dict:
    return _button("Claim", CLAIM, ref, "primary")


# Which buttons each kind of message about a lead offers while the lead is with sales.
ROLE_BUTTONS = {
    "handoff": ("follow_up", "bounce"),
    "warn": ("follow_up",),
    "breach": ("follow_up", "snooze", "bounce"),
    "reminder": ("follow_up", "snooze", "bounce"),
    "manager": ("follow_up", "snooze", "bounce"),
    "channel": (),
    "claim": ("claim",),
}


def buttons_for(role: str, lead: "LeadCard", *, snooze_hours: float, snoozed: bool, owned: bool) -> list[dict]:
    out: list[dict] = []
    for kind in ROLE_BUTTONS.get(role, ()):
        if kind == "claim" and not owned:
            out.append(_claim(lead.ref))
        elif kind == "follow_up" and owned:
            out.append(_follow_up(lead.ref))
        elif kind == "snooze" and owned and not snoozed:
            out.extend(_snoozes(lead.ref, snooze_hours))
        elif kind == "bounce" and owned:
            out.append(_bounce(lead.ref))
    return out


def _details(lead: LeadCard, extra: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    fields = [(k, v) for k, v in extra if v]
    if lead.title:
        fields.append(("Title", lead.title))
    if lead.email:
        fields.append(("Email", lead.email))
    if lead.score is not None:
        fields.append(("Score", str(lead.score)))
    if not lead.email:  # the only way to name it in a command
        fields.append(("CRM id", lead.crm_id))
    return fields[:10]


# --- the handoff ----------------------------------------------------------------------------


def handoff(
    lead: LeadCard,
    *,
    owner_id: int | None,
    tier: str,
    hours: float,
    due: str,
    campaign: str | None = None,
    bounces: Sequence[BounceLine] = (),
    tz: str = "UTC",
    requalified_by: int | None = None,
    note: str | None = None,
    reassigned: bool = False,
) -> Payload:
    """The lead handed to sales: to its owner, or to the sales channel to be claimed."""
    if owner_id:
        intro = f"New qualified lead for {mention(owner_id)}: {lead.label}. Follow up by *{due}*."
        if reassigned:
            intro = f"{lead.label} is reassigned to {mention(owner_id)}. Its clock runs on: follow up by *{due}*."
        buttons = [_follow_up(lead.ref), _bounce(lead.ref)]
    else:
        intro = f"New qualified lead with no owner: {lead.label}. Claim it and follow up by *{due}*."
        buttons = [_claim(lead.ref)]
    blocks = [
        _header(f"{'Lead reassigned' if reassigned and owner_id else 'New qualified lead'}: {lead.plain}"),
        _section(
            intro,
            _details(
                lead, [("SLA", f"{tier}: {hours_text(hours)} (business hours)"), ("Source campaign", campaign or "")]
            ),
        ),
    ]
    if requalified_by or note:
        by = f" by {mention(requalified_by)}" if requalified_by else ""
        blocks.append(_context(f"Sent back to sales{by}" + (f": {note}" if note else ".")))
    if bounces:
        blocks.append(_section(bounce_history(bounces, tz)))
    blocks.append(_actions(*buttons))
    text = f"New qualified lead: {lead.plain} — follow up by {due}"
    if bounces:
        text += f" (bounced {_times(len(bounces))} before)"
    return _payload(text, *blocks)


def bounce_history(bounces: Sequence[BounceLine], tz: str) -> str:
    """``Bounced before: 12 Nov 2026 — No budget by @Ben: call in Q3`` lines, newest last."""
    shown = bounces[-MAX_BOUNCES_SHOWN:]
    lines = []
    for b in shown:
        by = f" by {mention(b.by_person_id)}" if b.by_person_id else ""
        note = f": {b.note}" if b.note else ""
        lines.append(f"Bounced before: {day(b.at, tz)} — {b.reason}{by}{note}")
    if len(bounces) > len(shown):
        lines.insert(0, f"_{len(bounces) - len(shown)} earlier bounces not shown_")
    return "\n".join(lines)


# --- the ladder -----------------------------------------------------------------------------
# Each alert says what was true when it was sent ("was due by ..."), so it stays true; what
# happened since is the status line under it, kept up to date in place.


def warning(lead: LeadCard, *, left: str, due: str, cadence: str | None = None) -> Payload:
    """Before the breach. ``cadence``: the cadence clock runs (e.g. ``3 business days``)."""
    if cadence:
        text = f"⏳ {{}} has had no sales activity for a while: follow up by {due} to keep it warm ({left})."
    else:
        text = f"⏳ {{}} needs a first follow-up: {left} (due {due})."
    return _payload(text.format(lead.plain), _section(text.format(lead.label)), _actions(_follow_up(lead.ref)))


def breach(
    lead: LeadCard, *, due: str, snooze_hours: float, reminder: bool = False, cadence: str | None = None
) -> Payload:
    """At breach (or when a snooze ends): the owner's DM with every way out."""
    if reminder:
        text = "💤 Snooze over: {} was due for a follow-up by " + f"{due}."
    elif cadence:
        text = "🧊 Going cold: {} had no sales activity for " + f"{cadence} (due {due})."
    else:
        text = "🔥 SLA breached: {} was due for a first follow-up by " + f"{due}."
    return _payload(
        text.format(lead.plain),
        _section(text.format(lead.label), _details(lead)),
        _actions(_follow_up(lead.ref), *_snoozes(lead.ref, snooze_hours), _bounce(lead.ref)),
    )


def to_manager(
    lead: LeadCard, *, owner_id: int, due: str, snooze_count: int, snooze_hours: float, cadence: str | None = None
) -> Payload:
    """The escalation to the owner's manager."""
    if cadence:
        text = f"{lead.label} ({mention(owner_id)}'s) went cold: no sales activity for {cadence} (due {due})."
    else:
        text = f"{lead.label} ({mention(owner_id)}'s) passed its SLA (due {due}) without a first follow-up."
    blocks = [_section(f"🚩 {text}", _details(lead))]
    if snooze_count:
        blocks.append(_context(f"Snoozed {_times(snooze_count)} before this."))
    return _payload(
        f"Escalation: {lead.plain} needs a follow-up",
        *blocks,
        _actions(_follow_up(lead.ref), *_snoozes(lead.ref, snooze_hours), _bounce(lead.ref)),
    )


def to_channel(lead: LeadCard, *, owner_id: int, due: str, snooze_count: int, cadence: str | None = None) -> Payload:
    """The last step: the sales channel hears about it."""
    if cadence:
        text = f"🚨 {mention(owner_id)}'s lead {lead.label} went cold: no sales activity for {cadence} (due {due})."
    else:
        text = f"🚨 {mention(owner_id)}'s lead {lead.label} passed its SLA (due {due}) without a first follow-up."
    if snooze_count:
        text += f" Snoozed {_times(snooze_count)} before this."
    return _payload(f"SLA breach: {lead.plain} needs a follow-up", _section(text))


def unclaimed(lead: LeadCard, *, due: str) -> Payload:
    """The Claim post of a lead nobody owns once its SLA has run out (the same post as the
    handoff, updated in place)."""
    return _payload(
        f"🚨 {lead.plain} has no owner and passed its SLA (due {due}). Who takes it?",
        _header(f"Unclaimed lead: {lead.plain}"),
        _section(f"🚨 {lead.label} has no owner and passed its SLA (due {due}). Who takes it?", _details(lead)),
        _actions(_claim(lead.ref)),
    )


# --- what happened since: the status line and the buttons left -------------------------------


def event_phrase(kind: str, *, by: str | None, at: str, detail: dict, to: str | None = None) -> str:
    """What a transition did, in plain words: ``Ana Torres bounced this lead to marketing at 10:05``.
    ``by`` and ``to`` are names or mentions (None: nobody, i.e. the CRM)."""
    who = by or "The CRM"
    if kind == "handoff":
        return f"{who} handed this lead to sales at {at}" if by else f"Handed to sales at {at}"
    if kind == "claim":
        return f"{who} claimed this lead at {at}"
    if kind == "reassign":
        return f"{who} reassigned this lead to {to or 'nobody'} at {at}"
    if kind == "follow_up":
        return f"{by} followed up at {at}" if by else f"A follow-up was logged in the CRM at {at}"
    if kind == "snooze":
        return f"{who} snoozed this lead until {detail.get('until_text') or at}"
    if kind == "bounce":
        reason = f" ({detail['reason_label']})" if detail.get("reason_label") else ""
        return f"{who} bounced this lead to marketing at {at}{reason}"
    if kind == "send_back":
        return f"{who} sent this lead back to sales at {at}"
    if kind == "requalify":
        return f"The CRM qualified this lead again at {at}"
    if kind == "convert":
        deal = f": {detail['deal']}" if detail.get("deal") else ""
        return f"Won at {at}{deal}"
    return f"{who} changed this lead at {at}"


def status_line(kind: str, phrase: str) -> str:
    return f"{MARKS.get(kind, '•')} {phrase}"


def live(payload: Payload, *, line: str | None, buttons: list[dict]) -> Payload:
    """A message about a lead as it should read now: what it said when posted, then the
    lead's status line (the last transition) and the buttons that still apply."""
    blocks = [
        b
        for b in payload.get("blocks", [])
        if b.get("type") != "actions"
        and not (b.get("type") == "context" and str(b.get("text", "")).startswith(STATUS_MARKS))
    ]
    if line:
        blocks.append(_context(line))
    if buttons:
        blocks.append(_actions(*buttons))
    return {**payload, "blocks": blocks}


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
        blocks.append(
            Section(text=f"{mark} {ln.lead.label} — {ln.left}{due}{snooze}\n`{ln.lead.email or ln.lead.crm_id}`")
        )
    foot = "Most urgent first; times are business hours."
    if pages > 1:
        foot += f" Page {page} of {pages}" + (f" — `/smarketing leads {page + 1}` for more." if page < pages else ".")
    blocks.append(Context(text=foot))
    return Message(text=f"Your qualified leads: {total}", blocks=blocks)
