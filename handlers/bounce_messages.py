"""Layouts of the bounce-back flow: pure functions from plain data to messages and forms.

A bounce's *context* is a dict captured when the lead is bounced (see ``handlers.bounce``) and
kept on the bounce row, so the marketing post reads the same when a button updates it later:
``name, crm_id, email, company, title, score, owner_id, campaign_name, campaign_owner_id,
days_in_sales, follow_ups, last_follow_up_at, bounce_number``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from handlers.messages import (
    Actions,
    Button,
    Context,
    Divider,
    Form,
    Header,
    Input,
    Message,
    Option,
    Section,
    mention,
)

FORM_ACTION = "bounce.submit"
MAX_CAMPAIGNS = 40  # campaign sections in the weekly post; the rest are summed in one line
MAX_NAME = 120  # a campaign or lead name as shown in a line of text


def user_text(text: str | None) -> str:
    """Text a person typed (it can form no mention: see ``handlers.messages``)."""
    return text or ""


def _short(text: str | None, limit: int = MAX_NAME) -> str:
    text = user_text(text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quote(note: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in user_text(note).splitlines())


def days_text(days: float | None) -> str:
    if days is None:
        return "—"
    if days < 1:
        return "less than a day"
    n = int(days)
    return f"{n} day" + ("" if n == 1 else "s")


def _date(at: datetime | str | None) -> str:
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return f"{at:%b} {at.day}" if at else "—"


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# --- finding the lead -------------------------------------------------------------------------


def lead_label(name: str | None, company: str | None) -> str:
    """``*Jane Doe* (Acme)`` — how a lead is named in answers and posts."""
    who = f"*{_short(name)}*"
    return f"{who} ({_short(company)})" if company else who


def no_lead_text(ref: str) -> str:
    return f"No lead matches '{_short(ref, 80)}' — use its CRM id or email."


def several_leads_text(ref: str, leads: Sequence) -> str:
    lines = [
        f"• `{_short(l.crm_id, 80)}` {_short(l.name or l.email or l.crm_id)}"
        + (f", {_short(l.company)}" if l.company else "")
        + (f" ({l.email})" if l.email else "")
        for l in leads
    ]
    return f"Several leads match '{_short(ref, 80)}' — use the CRM id of the one you mean:\n" + "\n".join(lines)


def usage_text(reasons: Iterable[tuple[str, str]]) -> str:
    codes = ", ".join(f"`{code}`" for code, _ in reasons)
    return (
        "Usage: `/smarketing bounce <lead> [reason] [note]` — the lead's CRM id or email, then a reason: "
        f"{codes}. Without a reason a form opens."
    )


# --- the form ---------------------------------------------------------------------------------


def _fields(ctx: dict) -> list[tuple[str, str]]:
    campaign = "none recorded"
    if ctx.get("campaign_name"):
        campaign = _short(ctx["campaign_name"])
        if ctx.get("campaign_owner_id"):
            campaign += f" · {mention(ctx['campaign_owner_id'])}"
    follow_ups = str(ctx.get("follow_ups") or 0)
    if ctx.get("last_follow_up_at"):
        follow_ups += f" (last {_date(ctx['last_follow_up_at'])})"
    return [
        ("Company", _short(ctx.get("company")) or "—"),
        ("Source campaign", campaign),
        ("Score", "—" if ctx.get("score") is None else str(ctx["score"])),
        ("Days in sales", days_text(ctx.get("days_in_sales"))),
        ("Follow-ups logged", follow_ups),
        ("Owner", mention(ctx.get("owner_id"), "nobody")),
    ]


def lead_summary(ctx: dict) -> Section:
    title = f" — {_short(ctx['title'])}" if ctx.get("title") else ""
    return Section(text=f"{lead_label(ctx.get('name'), ctx.get('company'))}{title}", fields=_fields(ctx))


def bounce_form(
    ctx: dict,
    lead_id: int | str,  # or the form's state: "<id>@<version>"
    reasons: Sequence[tuple[str, str]],
    note_max: int,
    *,
    reason: str | None = None,
    note: str | None = None,
) -> Form:
    """The form behind ``/smarketing bounce <lead>`` and the *Bounce to marketing* button."""
    return Form(
        title="Bounce to marketing",
        action=FORM_ACTION,
        submit_label="Bounce",
        state=str(lead_id),
        blocks=[lead_summary(ctx), Context(text="The lead goes back to marketing nurture; its SLA alerts stop.")],
        inputs=[
            Input(
                name="reason",
                label="Reason",
                kind="select",
                required=True,
                initial=reason,
                options=[Option(value=code, label=label) for code, label in reasons],
                placeholder="Why is it not ready for sales?",
            ),
            Input(
                name="note",
                label="Note for marketing",
                kind="textarea",
                required=False,
                max_length=note_max,
                initial=(note or "")[:note_max] or None,
                placeholder="What did you learn? What would help?",
            ),
        ],
    )


# --- the marketing post -----------------------------------------------------------------------


@dataclass(frozen=True)
class PostState:
    """What has happened to a bounce since it was posted."""

    acknowledged_by_id: int | None = None
    sent_back_by_id: int | None = None
    requalified: bool = False  # back in sales (by the button or by the CRM)


def marketing_post(
    ctx: dict,
    *,
    bounce_id: int,
    reason_label: str,
    note: str | None,
    by_id: int | None,
    repeat: bool,
    state: PostState = PostState(),
) -> Message:
    """The post in the marketing channel: the lead, its context, the reason; buttons while open."""
    name = _short(ctx.get("name"))
    blocks: list = [Header(text=f"Bounced back: {name}")]
    blocks.append(
        Section(
            text=f"{mention(by_id)} sent {lead_label(ctx.get('name'), ctx.get('company'))} "
            f"back to marketing: *{reason_label}*"
        )
    )
    if note:
        blocks.append(Section(text=_quote(note)))
    if repeat:
        blocks.append(
            Section(
                text=f":repeat: *Bounced again for the same reason* — this is the lead's "
                f"{_ordinal(ctx.get('bounce_number') or 2)} bounce."
            )
        )
    blocks.append(Section(fields=_fields(ctx)))
    # How to name it in a command: its email, else its CRM id.
    blocks.append(
        Context(text=_short(ctx["email"], 80) if ctx.get("email") else f"CRM id {_short(ctx.get('crm_id'), 80)}")
    )
    status = []
    if state.acknowledged_by_id:
        status.append(f":white_check_mark: Acknowledged by {mention(state.acknowledged_by_id)}")
    if state.sent_back_by_id:
        status.append(f":leftwards_arrow_with_hook: Sent back to sales by {mention(state.sent_back_by_id)}")
    elif state.requalified:
        status.append(":leftwards_arrow_with_hook: Back in sales (re-qualified in the CRM)")
    if status:
        blocks.append(Context(text="  ·  ".join(status)))
    buttons = []
    if not state.requalified:
        if not state.acknowledged_by_id:
            buttons.append(Button(label="Acknowledge", action="bounce.ack", value=str(bounce_id), style="primary"))
        buttons.append(Button(label="Send back to sales", action="bounce.send_back", value=str(bounce_id)))
    if buttons:
        blocks.append(Actions(buttons=buttons))
    fallback = f"{name} bounced back to marketing: {reason_label}"
    if repeat:
        fallback += " (bounced again for the same reason)"
    return Message(text=fallback, blocks=blocks)


def post_for(bounce, reason_label: str, config=None) -> Message:
    """The marketing post of a ``Bounce`` row as it reads in the bounce's current state; while it
    is open, with *Add to review* when the config has a joint review (``handlers/review.py``)."""
    state = PostState(
        acknowledged_by_id=bounce.acknowledged_by_id,
        sent_back_by_id=bounce.requalified_by_id,
        requalified=bounce.requalified_at is not None,
    )
    post = marketing_post(
        bounce.context,
        bounce_id=bounce.id,
        reason_label=reason_label,
        note=bounce.note,
        by_id=bounce.by_person_id,
        repeat=bounce.repeat,
        state=state,
    )
    if config is None or state.acknowledged_by_id or state.sent_back_by_id or state.requalified:
        return post  # handled: the post's buttons go, *Add to review* too
    from handlers.review_messages import reviewable

    context = bounce.context or {}
    name = context.get("name") or context.get("label") or f"lead {bounce.lead_id}"
    return reviewable(config, post, f"{name}: bounced ({reason_label})")


# --- the weekly post --------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignLine:
    """One campaign in the weekly post (``name`` None: leads with no source campaign)."""

    name: str | None
    owner_id: int | None
    reasons: list[tuple[str, int]]  # (reason label, count), most first
    repeats: int = 0

    @property
    def total(self) -> int:
        return sum(n for _, n in self.reasons)


def weekly_report(lines: Sequence[CampaignLine], *, since: datetime, until: datetime) -> Message:
    """Bounce reasons by campaign over [since, until) (local times), counts and shares.

    At most ``MAX_CAMPAIGNS`` campaigns get a section of their own (the busiest); the rest are
    summed in one line, so the post stays inside Block Kit's 50 blocks."""
    span = f"{_date(since)} – {_date(until)}"
    total = sum(l.total for l in lines)
    header = Header(text="Bounce-backs by campaign")
    if total == 0:
        text = f"No leads bounced back to marketing in the last 7 days ({span})."
        return Message(text=text, blocks=[header, Section(text=text)])
    by_reason: dict[str, int] = {}
    for line in lines:
        for label, n in line.reasons:
            by_reason[label] = by_reason.get(label, 0) + n
    ranked = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    campaigns = sorted(lines, key=lambda l: (-l.total, l.name is None, (l.name or "").lower()))
    n_campaigns = sum(1 for l in lines if l.name is not None)
    summary = (
        f"*{total}* lead{'s' if total != 1 else ''} bounced back in the last 7 days ({span}), "
        f"from *{n_campaigns}* campaign{'s' if n_campaigns != 1 else ''}.\n"
        + "By reason: "
        + " · ".join(f"{label} *{n}* ({_pct(n, total)})" for label, n in ranked)
    )
    blocks: list = [header, Section(text=summary)]
    repeats = sum(l.repeats for l in lines)
    if repeats:
        blocks.append(Context(text=f":repeat: {repeats} bounced again for the same reason as before."))
    blocks.append(Divider())
    for line in campaigns[:MAX_CAMPAIGNS]:
        title = f"*{_short(line.name)}*" if line.name else "*No source campaign*"
        if line.owner_id:
            title += f" · {mention(line.owner_id)}"
        body = "\n".join(f"• {label}: {n} ({_pct(n, line.total)})" for label, n in line.reasons)
        blocks.append(Section(text=f"{title} — *{line.total}* ({_pct(line.total, total)} of all)\n{body}"))
    rest = campaigns[MAX_CAMPAIGNS:]
    if rest:
        blocks.append(Context(text=f"…and {len(rest)} more campaigns with {sum(l.total for l in rest)} bounces."))
    top_label, top_n = ranked[0]
    fallback = (
        f"{total} lead{'s' if total != 1 else ''} bounced back in the last 7 days; "
        f"top reason: {top_label} ({_pct(top_n, total)})"
    )
    return Message(text=fallback, blocks=blocks)
