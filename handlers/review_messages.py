"""Layouts of the joint review: the agenda, the summary, the action list, the reminder and the
*Add to review* form. Pure functions to the neutral message model; empty sections are left out."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from handlers import scoreboard_messages as sviews
from handlers.messages import Actions, Button, Context, Divider, Form, Header, Input, Message, Option, Section, mention
from handlers.money import format_money

ADD = "review.add"
MAX_ITEMS = 25


def add_to_review(about: str) -> Button:
    """The *Add to review* button for one of the bot's own messages (``about``: what it is about)."""
    return Button(label="Add to review", action=ADD, value=about[:300])


def reviewable(config, message, about: str):
    """``message`` (a ``Message`` or its JSON) with *Add to review* among its buttons when the
    config has a joint review; as it was otherwise. Returns the same kind it was given."""
    if getattr(config, "review", None) is None:
        return message
    as_json = isinstance(message, dict)
    msg = Message.from_json(message) if as_json else message
    button = add_to_review(about)
    # A new message and a new row of buttons; the blocks it shares with ``message`` are left as
    # they are (a deep copy cost more than the rest of a bounce's message put together).
    blocks = list(msg.blocks)
    for i, block in enumerate(blocks):
        if isinstance(block, Actions) and len(block.buttons) < 5:
            blocks[i] = block.model_copy(update={"buttons": [*block.buttons, button]})
            break
    else:
        blocks.append(Actions(buttons=[button]))
    msg = msg.model_copy(update={"blocks": blocks})
    return msg.to_json() if as_json else msg


def _item_line(item, *, meeting: date | None = None, tz: ZoneInfo | None = None) -> str:
    carried = " · _carried_" if meeting is not None and item.meeting_on < meeting else ""
    source = f" · from: {item.source_text}" if item.source_text else ""
    return f"• *#{item.id}* {item.text} — {mention(item.owner_id)}, due {item.due_on:%a %-d %b}{carried}{source}"


def item_list(items, now: datetime, config) -> Message:
    if not items:
        text = "No open action items. Add one with `/smarketing action <person> <text> [by <date>]`."
        return Message(text=text, blocks=[Section(text=text)])
    shown = list(items)[:MAX_ITEMS]
    # Due dates are the review's days: overdue from the next day in its timezone, not in UTC.
    today = now.astimezone(ZoneInfo(config.review.timezone)).date() if config.review else now.date()
    lines = [_item_line(i) + (" · *overdue*" if i.due_on < today else "") for i in shown]
    more = f"\n… and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return Message(
        text=f"Open action items: {len(items)}",
        blocks=[
            Header(text=f"Open action items ({len(items)})"),
            Section(text=sviews._clip("\n".join(lines) + more)),
            Context(text="Close one with `/smarketing action done <n>`; the owner, their manager or an admin can."),
        ],
    )


def add_form(people, *, about: str, due: date, state: str) -> Form:
    options = [Option(value=p.key, label=f"{p.name} ({p.team})"[:75]) for p in sorted(people, key=lambda p: p.name)]
    return Form(
        title="Add to review",
        action=ADD,
        submit_label="Add",
        state=state[:300],
        blocks=[Section(text=f"*About:* {about}")] if about else [],
        inputs=[
            Input(name="owner", label="Who owns it", kind="select", options=options[:100]),
            Input(
                name="text",
                label="What is to be done",
                kind="textarea",
                max_length=1000,
                initial=f"Follow up: {about}"[:1000] if about else None,
            ),
            Input(
                name="due",
                label="Due",
                kind="date",
                required=False,
                initial=due.isoformat(),
                hint="Default: the next review.",
            ),
            Input(name="about", label="From", kind="text", required=False, initial=about[:300] or None, max_length=300),
        ],
    )


def snapshot(board) -> dict:
    t = board.total
    return dict(
        delivered=t.delivered,
        within_sla=t.within_sla,
        acceptance=t.acceptance,
        conversion=t.conversion,
        sourced=board.sourced_minor,
    )


def _delta(now, before, key: str) -> str:
    if not before or before.get(key) is None or now.get(key) is None:
        return ""
    if key in ("within_sla", "acceptance", "conversion"):
        d = round(100 * (now[key] - before[key]))
        return f" ({d:+d} pts since the last meeting)" if d else " (unchanged)"
    d = now[key] - before[key]
    return f" ({d:+,} since the last meeting)" if d else " (unchanged)"


def agenda(data, config, tz: ZoneInfo) -> Message:
    start_local = data.start.astimezone(tz)
    cur = config.wins.currency
    board, now_snap = data.board, snapshot(data.board)
    t, tg = board.total, board.targets
    blocks: list = [Header(text=f"Joint review — {start_local:%a %-d %b, %H:%M} ({tz.key})")]
    text_parts = []
    if not board.empty:
        lines = [
            f"• Leads delivered: {sviews._target_n(t.delivered, tg['leads'], tg['pro_rata'])}"
            f"{_delta(now_snap, data.before, 'delivered')}",
            f"• Accepted: {sviews.versus(t.acceptance, tg['acceptance'])}{_delta(now_snap, data.before, 'acceptance')}",
            f"• Within SLA: {sviews.versus(t.within_sla, tg['within_sla'])}{_delta(now_snap, data.before, 'within_sla')}",
            f"• Converted: {sviews.versus(t.conversion, tg['conversion'])}{_delta(now_snap, data.before, 'conversion')}",
            f"• Revenue sourced by campaigns: {format_money(board.sourced_minor, cur, whole=True)}",
        ]
        blocks += [
            Section(text=f"*1. The scoreboard ({board.period.label})*\n" + "\n".join(lines)),
            Context(text="Detail: `/smarketing sla all`, or your Home."),
        ]
        text_parts.append(f"within SLA {sviews.pct(t.within_sla)}")
    if data.reasons:
        top = sorted(data.reasons, key=lambda r: -r.count)[:6]
        lines = [
            f"• {data.names.get(r.campaign_id, 'No campaign')}: {config.reason_label(r.reason) or r.reason} ×{r.count}"
            for r in top
        ]
        blocks += [
            Divider(),
            Section(text="*2. Why leads bounced, by campaign (since the last meeting)*\n" + "\n".join(lines)),
            Context(text="Detail: `/smarketing sla week` · marketers see theirs on their Home."),
        ]
        text_parts.append(f"{sum(r.count for r in data.reasons)} bounces")
    if data.wins:
        top = sorted(data.wins, key=lambda r: -r.sourced_minor)[:6]
        lines = [
            f"• {data.names.get(r.campaign_id, '?')}: {format_money(r.sourced_minor, r.currency, whole=True)} "
            f"sourced ({r.sourced_deals} won)"
            for r in top
        ]
        blocks += [
            Divider(),
            Section(text="*3. Wins by campaign (since the last meeting)*\n" + "\n".join(lines)),
            Context(text="Detail: `/smarketing sla` (marketers: their campaigns)."),
        ]
        text_parts.append(f"{sum(r.sourced_deals for r in data.wins)} sourced wins")
    n, leads = data.breached
    if n:
        from handlers.cooling_messages import LeadCard

        lines = [f"• {LeadCard.of(l).label} — {mention(l.owner_id)} · `{l.crm_id}`" for l in leads]
        more = f"\n… and {n - len(leads)} more" if n > len(leads) else ""
        blocks += [
            Divider(),
            Section(text=f"*4. Leads that breached the SLA since the last meeting ({n})*\n" + "\n".join(lines) + more),
            Context(text="Detail: each rep's queue on a manager's Home; `/smarketing leads` for your own."),
        ]
        text_parts.append(f"{n} SLA breaches")
    if data.conflicts:
        from handlers.schedule_messages import conflict_line

        lines = [conflict_line(c, tz) for c in data.conflicts[:8]]
        blocks += [
            Divider(),
            Section(text=sviews._clip("*5. Schedule conflicts in the coming two weeks*\n" + "\n".join(lines))),
            Context(text="Detail: `/smarketing schedule` and `/smarketing schedule next`."),
        ]
        text_parts.append(f"{len(data.conflicts)} conflicts")
    meeting = start_local.date()
    if data.open_items or data.done_items:
        lines = [_item_line(i, meeting=meeting) for i in data.open_items[:MAX_ITEMS]]
        lines += [f"• ✅ *#{i.id}* {i.text} — {mention(i.owner_id)}, done" for i in data.done_items[:MAX_ITEMS]]
        blocks += [
            Divider(),
            Section(text=sviews._clip("*6. Action items*\n" + "\n".join(lines))),
            Context(text="Detail: `/smarketing action list` · close one: `/smarketing action done <n>`."),
        ]
        text_parts.append(f"{len(data.open_items)} open actions")
    if len(blocks) == 1:
        blocks.append(
            Section(
                text="Nothing on the agenda from the bot this week: no handoffs, bounces, wins, "
                "breaches, conflicts or open actions since the last meeting."
            )
        )
    blocks.append(
        Context(
            text="Add an action: `/smarketing action <person> <text> [by <date>]`, or *Add to review* "
            "on the bot's alerts, bounce posts and conflict warnings."
        )
    )
    text = f"Joint review {start_local:%a %-d %b %H:%M}: " + (", ".join(text_parts) or "a quiet week")
    return Message(text=text, blocks=blocks)


def summary(day: date, decided, open_items, tz: ZoneInfo) -> Message:
    blocks: list = [Header(text=f"Joint review of {day:%a %-d %b} — what we decided")]
    if decided:
        blocks.append(Section(text=sviews._clip("*Decided:*\n" + "\n".join(_item_line(i) for i in decided))))
    else:
        blocks.append(Section(text="No new action items were added during the meeting."))
    owners: dict[int, list] = {}
    for i in open_items:
        owners.setdefault(i.owner_id, []).append(i)
    if owners:
        lines = [
            f"• {mention(o)}: " + ", ".join(f"#{i.id} (due {i.due_on:%-d %b})" for i in items)
            for o, items in owners.items()
        ]
        blocks.append(Section(text=sviews._clip("*Who owns what:*\n" + "\n".join(lines))))
    blocks.append(Context(text="`/smarketing action list` · owners are reminded a business day before it is due."))
    return Message(text=f"Joint review of {day:%-d %b}: {len(decided)} decided, {len(open_items)} open", blocks=blocks)


def reminder(item, tz: str) -> Message:
    text = f"Reminder: #{item.id} {item.text} is due {item.due_on:%a %-d %b}."
    source = f"\nFrom: {item.source_text}" if item.source_text else ""
    return Message(
        text=text,
        blocks=[
            Section(text=f"⏰ *Due {item.due_on:%a %-d %b}:* #{item.id} {item.text}{source}"),
            Context(text=f"Done? `/smarketing action done {item.id}`."),
        ],
    )
