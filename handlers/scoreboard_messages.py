"""Layouts of the scoreboard: ``/smarketing sla``, the weekly post, the monthly recognition.

Pure functions from the numbers (``handlers.scoreboard.Board``) to the neutral message model.
Every message's ``text`` carries the same key numbers as its blocks, so a notification, a screen
reader or a platform that cannot show the chart still says how the teams are doing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.messages import Context, Divider, Header, Image, Message, Section, mention
from handlers.money import format_money

if TYPE_CHECKING:  # pragma: no cover
    from handlers.scoreboard import Board, Line, Period, Week

MAX_LINES = 12  # reps or campaigns listed in one message
SECTION_MAX = 2900


def mention_of(person_id: int | None) -> str:
    return mention(person_id, "No owner yet")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)}%"


def _mark(value: float | None, target: float | None) -> str:
    if value is None or target is None:
        return ""
    return " ✅" if value >= target else " ⚠️"


def versus(value: float | None, target: float | None) -> str:
    """``86% (target 90%) ⚠️``."""
    if target is None:
        return pct(value)
    return f"{pct(value)} (target {pct(target)}){_mark(value, target)}"


def hours(h: float | None) -> str:
    if h is None:
        return "—"
    if round(h * 60) < 60:
        return f"{round(h * 60)} min"
    if h < 48:
        return f"{h:.1f} h"
    return f"{h / 24:.1f} days"


def money(minor: int, currency: str) -> str:
    return format_money(minor, currency, whole=True)


def _clip(text: str) -> str:
    return text if len(text) <= SECTION_MAX else text[: SECTION_MAX - 1] + "…"


def _first_touch(line: "Line") -> str:
    med, wait, rep = line.first_touch(0.5)
    p90, wait90, rep90 = line.first_touch(0.9)
    if med is None:
        return "no first touches yet"
    return (
        f"median {hours(med)} (waiting for an owner {hours(wait)} + rep {hours(rep)}) · "
        f"p90 {hours(p90)} ({hours(wait90)} + {hours(rep90)})"
    )


def _rep_line(line: "Line") -> str:
    if not line.delivered:
        return f"• {line.label} — no handoffs yet"
    med = line.first_touch(0.5)[0]
    return (
        f"• {line.label} — {line.delivered} leads · {pct(line.within_sla)} within SLA "
        f"({line.in_time}/{line.decided}) · first touch {hours(med)} · accepted {pct(line.acceptance)}"
        f" · {line.converted} won"
    )


def _campaign_line(line: "Line", currency: str) -> str:
    bits = [f"{line.delivered} delivered", f"{line.bounces} bounced"]
    if line.sourced_minor or line.sourced_deals:
        bits.append(f"{money(line.sourced_minor, currency)} sourced ({line.sourced_deals} won)")
    if line.influenced_minor:
        bits.append(f"{money(line.influenced_minor, currency)} influenced")
    return f"• *{line.label}* — " + " · ".join(bits)


def _target_n(n: int, target: int | None, pro_rata: bool) -> str:
    if target is None:
        return str(n)
    share = f" ({round(100 * n / target)}%)" if target else ""
    return f"{n} of {target}{' pro rata' if pro_rata else ''}{share}{_mark(n / target if target else 1.0, 1.0)}"


def _pipeline(board: "Board") -> str:
    if not board.pipeline or not sum(board.pipeline):
        return "no open qualified leads"
    a, b, c, d = board.pipeline
    oldest = ""
    if board.oldest is not None and board.now is not None:
        oldest = f" · oldest {hours((board.now - board.oldest).total_seconds() / 3600)}"
    return (
        f"{sum(board.pipeline)} open, {board.breached} past their SLA now — handed over under 1 day ago {a} · "
        f"1–7 days {b} · 7–30 days {c} · 30+ days {d}{oldest}"
    )


def empty_text(board: "Board") -> str:
    who = {"rep": "you", "manager": "your reps", "marketer": "your campaigns", "admin": "the company"}[board.scope.kind]
    return (
        f"Nothing to score for {who} in {board.period.label} yet. Once marketing hands qualified leads to "
        "sales, this shows leads delivered against the agreement, acceptance and bounces by reason, time "
        "to first touch, the share within the SLA, wins, and revenue by campaign."
    )


def summary_lines(board: "Board", config) -> list[str]:
    """The key numbers as plain lines: the text fallback of every scoreboard message."""
    t, tg, cur = board.total, board.targets, board.currency
    lines = [
        f"Leads delivered: {_target_n(t.delivered, tg['leads'], tg['pro_rata'])}",
        f"Accepted: {versus(t.acceptance, tg['acceptance'])} ({t.accepted} followed up, {t.rejected} bounced)",
        f"Within SLA: {versus(t.within_sla, tg['within_sla'])} ({t.in_time} of {t.decided})",
        f"First touch: {_first_touch(t)}",
        f"Converted to won: {versus(t.conversion, tg['conversion'])} ({t.converted})",
    ]
    if board.scope.kind in ("marketer", "admin"):
        rev = f"Revenue sourced by campaigns: {money(board.sourced_minor, cur)}"
        if tg["revenue_minor"] is not None:
            rev += f" of {money(tg['revenue_minor'], cur)}{_mark(board.sourced_minor / tg['revenue_minor'] if tg['revenue_minor'] else 1.0, 1.0)}"
        lines.append(rev + f" · influenced {money(board.influenced_minor, cur)}")
    return lines


def board(b: "Board", config) -> Message:
    """``/smarketing sla``: the scoreboard as the asker's role sees it."""
    kind = b.scope.kind
    title = {
        "rep": "Your SLA line",
        "manager": "Your team's scoreboard",
        "marketer": "Your campaigns' scoreboard",
        "admin": "The smarketing scoreboard",
    }[kind]
    scope_note = f" · {b.filter[0]} {b.filter[1]}" if b.filter else ""
    head = Header(text=f"{title} — {b.period.label}{scope_note}")
    if b.empty:
        text = empty_text(b)
        return Message(text=f"{title}: {text}", blocks=[head, Section(text=text), _foot(b)])
    t, tg = b.total, b.targets
    blocks: list = [head]
    lines = summary_lines(b, config)
    if kind in ("marketer", "admin"):
        mk = [f"*Leads delivered:* {_target_n(t.delivered, tg['leads'], tg['pro_rata'])}"]
        for name, values in (("region", b.regions), ("segment", b.segments)):
            if values:
                mk.append(
                    f"*By {name}:* "
                    + " · ".join(f"{n} {_target_n(got, tgt, tg['pro_rata'])}" for n, got, tgt in values)
                )
        if b.unknown:
            mk.append(
                "No lead has " + ", ".join(b.unknown) + " yet: check `agreement.by_region` / `by_segment` "
                "against the CRM's values."
            )
        blocks += [Section(text="*Marketing*"), Section(text=_clip("\n".join(mk)))]
        if b.campaigns:
            shown = b.campaigns[:MAX_LINES]
            more = f"\n… and {len(b.campaigns) - len(shown)} more" if len(b.campaigns) > len(shown) else ""
            blocks.append(
                Section(text=_clip("*By campaign:*\n" + "\n".join(_campaign_line(l, b.currency) for l in shown) + more))
            )
    sales = [
        f"*Accepted:* {versus(t.acceptance, tg['acceptance'])} — {t.accepted} followed up, {t.rejected} bounced",
        f"*Within SLA:* {versus(t.within_sla, tg['within_sla'])} — {t.in_time} of {t.decided} decided",
        f"*Time to first touch:* {_first_touch(t)}",
        f"*Converted to won:* {versus(t.conversion, tg['conversion'])} — {t.converted} of {t.delivered}",
    ]
    if b.reasons:
        sales.append("*Bounced by reason:* " + " · ".join(f"{label} {n}" for label, n in b.reasons[:MAX_LINES]))
    blocks += [
        Divider(),
        Section(text="*Sales*" if kind != "rep" else "*Your leads*"),
        Section(text=_clip("\n".join(sales))),
    ]
    if kind in ("manager", "admin") and b.reps:
        shown = b.reps[:MAX_LINES]
        more = f"\n… and {len(b.reps) - len(shown)} more" if len(b.reps) > len(shown) else ""
        blocks.append(Section(text=_clip("*By rep:*\n" + "\n".join(_rep_line(l) for l in shown) + more)))
    together = [f"*Pipeline:* {_pipeline(b)}"]
    if kind in ("marketer", "admin"):
        rev = f"*Revenue sourced by campaigns:* {money(b.sourced_minor, b.currency)}"
        if tg["revenue_minor"] is not None:
            rev += f" of {money(tg['revenue_minor'], b.currency)}"
        together.insert(0, rev + f" · *influenced:* {money(b.influenced_minor, b.currency)}")
        if b.unconverted:
            together.append("Not counted (no rate in `wins.rates`): " + ", ".join(b.unconverted))
    blocks += [Divider(), Section(text="*Together*"), Section(text=_clip("\n".join(together))), _foot(b)]
    return Message(text=f"{title} — {b.period.label}: " + "; ".join(lines), blocks=blocks)


def _foot(b: "Board") -> Context:
    more = {
        "rep": "Your leads: `/smarketing leads` · your Home shows them with their buttons.",
        "manager": "Each rep's queue is on your Home.",
        "marketer": "Bounces by reason: `/smarketing sla last-month` compares with last month.",
        "admin": "Targets are the agreement in the config (`agreement:`).",
    }[b.scope.kind]
    so_far = " (so far)" if b.period.current else ""
    return Context(text=f"{b.period.label}{so_far}. `/smarketing sla last-month`, `sla week`, `sla last-week`. {more}")


def weekly(b: "Board", weeks: list["Week"], config, *, chart_key: str) -> Message:
    """The weekly post in each team's channel: the chart and the month so far in text."""
    trend = " · ".join(
        f"{w.label}: {w.delivered}"
        + (f"/{w.target}" if w.target is not None else "")
        + f" ({pct(w.within_sla)} in SLA)"
        for w in weeks
    )
    alt = (
        f"Chart: leads delivered per week against the target, and the share followed up within the SLA, "
        f"over the last {len(weeks)} weeks. {trend}"
    )
    lines = summary_lines(b, config)
    blocks: list = [
        Header(text=f"The smarketing scoreboard — {b.period.label} so far"),
        Image(key=chart_key, alt=alt[:2000], title="Targets vs actual, week by week"),
    ]
    if b.empty:
        blocks.append(Section(text=empty_text(b)))
    else:
        blocks.append(Section(text=_clip("\n".join(f"• {line}" for line in lines))))
        if b.campaigns:
            top = [l for l in b.campaigns if l.ref_id is not None][:5]
            if top:
                blocks.append(
                    Section(text=_clip("*Top campaigns:*\n" + "\n".join(_campaign_line(l, b.currency) for l in top)))
                )
    blocks.append(Context(text=f"Weekly: {trend}. Your own line: `/smarketing sla`."[:1900]))
    text = f"The smarketing scoreboard — {b.period.label} so far: " + "; ".join(lines) + f". Weeks: {trend}"
    return Message(text=text, blocks=blocks)


def recognition(
    period: "Period", campaign: "Line | None", marketer_id: int | None, rep: "Line | None", config
) -> Message:
    """End of the month: the campaign that sourced the most won revenue, and the best SLA line."""
    cur = config.wins.currency
    parts, lines = [], []
    if campaign is not None:
        who = f", run by {mention(marketer_id)}" if marketer_id else ""
        lines.append(
            f"🏆 *{campaign.label}*{who} sourced {money(campaign.sourced_minor, cur)} of won revenue "
            f"({campaign.sourced_deals} deal{'s' if campaign.sourced_deals != 1 else ''})."
        )
        parts.append(f"{campaign.label} sourced {money(campaign.sourced_minor, cur)}")
    if rep is not None:
        med = rep.first_touch(0.5)[0]
        lines.append(
            f"⚡ {rep.label} had the best SLA line: {pct(rep.within_sla)} of {rep.decided} leads "
            f"followed up within the SLA, first touch in {hours(med)} (median)."
        )
        parts.append(f"best SLA line {pct(rep.within_sla)}")
    lines.append("A sales win is a marketing win too. 🎉")
    text = f"{period.label}: " + "; ".join(parts) + ". A sales win is a marketing win too."
    return Message(
        text=text, blocks=[Header(text=f"Smarketing stars of {period.label}"), Section(text="\n".join(lines))]
    )
