"""The wins flow: every closed deal celebrated once, with the campaigns that made it.

Inputs: ``deal.closed_won`` from the CRM (a batch at a time, set-based) and
``/smarketing won <deal> <amount> [campaign]`` from a rep. Each new deal is credited to the
campaigns that touched its lead or contact before the close (``wins_rules.attribute``) and then:

- at or above ``wins.rollup_below`` (or with no roll-up configured): one post in the wins channel
  (``wins:<deal>:post``), the wide channel too from ``wins.wide_at`` (``wins:<deal>:wide``), and a
  note to the marketing channel for the campaigns' owners (``wins:<deal>:marketing``);
- below it: kept for the daily "more wins" post (job ``wins_rollup``, ``wins:rollup:<date>``);
- closed more than ``wins.celebrate_within_days`` ago (a CRM back-fill): recorded, not posted.

Once: a deal's CRM id is unique (a repeated or re-sent event finds it stored); a rep's ``won``
for a deal of the same name (case and spacing ignored) closed within ``wins.match_days`` is
answered "already celebrated", and a CRM event for a deal a rep announced first takes over that
deal's record instead of celebrating it again. A CRM amount of 0 is accepted (a free pilot can
close won) and goes by the same thresholds; a rep's ``won`` needs an amount above 0.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from handlers import lifecycle, notify
from handlers.errors import Invalid, NotAllowed
from handlers.events import Event
from handlers.messages import Reply, mention
from handlers.money import format_money, precision, to_minor
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory, channel, dm
from handlers.registry import Flow, JobResult
from handlers.wins_messages import (
    CampaignView,
    MonthView,
    RollupLine,
    WinView,
    campaign_line,
    marketing_note,
    wide_pointer,
    rollup_marketing_note,
    rollup_post,
    unmatched_owner_note,
    user_text,
    win_post,
)
from handlers.wins_rules import (
    Attribution,
    Touch,
    attribute,
    goes_wide,
    in_base,
    month_window,
    name_key,
    parse_won,
    rolled_up,
)

UNMATCHED_KEY = "wins:unmatched_owners"
ROLLUP_STATE_KEY = "wins:rollup"
ADOPTED_COLUMNS = (
    "crm_id",
    "name",
    "amount_minor",
    "currency",
    "owner_id",
    "owner_email",
    "lead_id",
    "contact_email",
    "closed_at",
    "source",
    "attrs",
)


@dataclass
class _Win:
    row: dict  # the deal row to insert
    attribution: Attribution


# --- inputs -----------------------------------------------------------------------------------


def deals_closed_won(uow: UnitOfWork, deps: Deps, events: list[Event]) -> None:
    """``deal.closed_won``: record each deal not seen before and celebrate it (set-based)."""
    first: dict[str, Event] = {}
    for e in events:  # a deal sent twice in one batch counts once
        first.setdefault(e.data.id, e)
    match = timedelta(days=deps.config.wins.match_days)
    closes = {e.data.id: e.data.closed_at or e.occurred_at for e in first.values()}
    stored, announced = uow.deals.seen(
        crm_ids=first,
        name_keys={name_key(e.data.name) for e in first.values()},
        announced_since=min(closes.values()) - match,
    )
    events = [e for crm_id, e in first.items() if crm_id not in stored]
    if not events:
        return
    owners = uow.people.ids_by_email(e.data.owner_email for e in events if e.data.owner_email)
    leads, credit = _credit(uow, deps, events, closes)
    wins: list[_Win] = []
    adopt: list[dict] = []
    for e in events:
        d, closed = e.data, closes[e.data.id]
        row = dict(
            crm_id=d.id,
            name=d.name,
            name_key=name_key(d.name),
            amount_minor=to_minor(d.amount, d.currency),
            currency=d.currency,
            owner_id=owners.get(d.owner_email or ""),
            owner_email=d.owner_email,
            lead_id=leads.get(d.lead_id or ""),
            contact_email=(d.contact_email or "").lower() or None,
            closed_at=closed,
            source="crm",
            announced_by_id=None,
            attrs=credit[d.id].to_json(),
        )
        rep = announced.get(row["name_key"])
        if rep is not None and abs(rep.closed_at - closed) <= match:
            # A rep announced it first: the CRM's record takes over; no second celebration.
            adopt.append({"_id": rep.id, **{k: row[k] for k in ADOPTED_COLUMNS}})
            del announced[row["name_key"]]
            continue
        wins.append(_Win(row, credit[d.id]))
    uow.deals.adopt(adopt)
    _record_and_celebrate(uow, deps, wins)
    # The lead closed won: it is a customer, no longer sales' to follow up (the ladder stops).
    lifecycle.convert(
        uow, deps, {row["lead_id"]: row["name"] for row in [*adopt, *(w.row for w in wins)] if row["lead_id"]}
    )


def _credit(
    uow, deps: Deps, events: list[Event], closes: dict[str, datetime]
) -> tuple[dict[str, int], dict[str, Attribution]]:
    """The deals' lead ids (by lead CRM id) and their attributions (by deal CRM id), from the
    touches of their leads and contact emails, else the campaign the CRM credits
    (``campaign_id``): a few queries for the whole batch."""
    refs = uow.leads.ensure_with_emails((e.data.lead_id for e in events if e.data.lead_id), at=deps.now())
    leads = {c: i for c, (i, _) in refs.items()}
    lead_emails = {i: e for i, e in refs.values() if e}
    rows = uow.campaigns.touches_for(
        lead_ids=leads.values(),
        until=max(closes.values()),
        emails=[e.data.contact_email for e in events if e.data.contact_email] + list(lead_emails.values()),
    )
    by_lead: dict[int, list[Touch]] = defaultdict(list)
    by_email: dict[str, list[Touch]] = defaultdict(list)
    for t in rows:
        touch = Touch(t.campaign_id, t.occurred_at, t.id)
        if t.lead_id is not None:
            by_lead[t.lead_id].append(touch)
        if t.contact_email:
            by_email[t.contact_email.lower()].append(touch)
    named = uow.campaigns.ensure(e.data.campaign_id for e in events if e.data.campaign_id)
    credit = {}
    for e in events:
        lead_id = leads.get(e.data.lead_id or "")
        emails = {x.lower() for x in (e.data.contact_email, lead_emails.get(lead_id or 0)) if x}
        touches = set(by_lead.get(lead_id or 0, ())) | {t for x in emails for t in by_email.get(x, ())}
        credit[e.data.id] = attribute(touches, closes[e.data.id])
        if credit[e.data.id].by_sales and e.data.campaign_id:  # no touch: the CRM's primary campaign
            credit[e.data.id] = Attribution.named(named[e.data.campaign_id], closes[e.data.id])
    return leads, credit


def won_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing won <deal> <amount> [campaign]``: a rep announces a win (no CRM needed)."""
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise NotAllowed(
            "I don't know who you are yet, so I can't record a win for you: ask an admin to add "
            "your email under `people:` in the config."
        )
    cfg, now = deps.config.wins, deps.now()
    campaigns: dict[str, object] = {}

    def known_campaigns(refs: list[str]) -> set[str]:
        campaigns.update(uow.campaigns.find_many(refs))
        return set(campaigns)

    won = parse_won(args, default_currency=cfg.currency, known_campaigns=known_campaigns)
    if len(won.deal) > 10_000:
        raise Invalid("That deal name is too long (10,000 characters at most).", field="deal")
    key = name_key(won.deal)
    earlier = uow.deals.recent_by_name_key([key], since=now - timedelta(days=cfg.match_days)).get(key)
    if earlier is not None:
        return Reply.say(_already(earlier))
    campaign = campaigns.get(won.campaign) if won.campaign else None
    attribution = Attribution.named(campaign.id if campaign else None, now)  # type: ignore[attr-defined]
    row: dict[str, Any] = dict(
        crm_id=f"manual:{key[:170]}:{now:%Y-%m-%d}",
        name=won.deal,
        name_key=key,
        amount_minor=to_minor(won.amount, won.currency),
        currency=won.currency,
        owner_id=person.id,
        owner_email=person.email,
        lead_id=None,
        contact_email=None,
        closed_at=now,
        source="command",
        announced_by_id=person.id,
        attrs=attribution.to_json(),
    )
    win = _Win(row, attribution)
    if not _record_and_celebrate(uow, deps, [win]):  # a colleague announced it a moment ago
        return Reply.say(_already(uow.deals.by_crm_id(row["crm_id"])))
    uow.commit()
    amount = _money(row["amount_minor"], row["currency"])
    view = _campaign_view(campaign)
    credit = f", sourced by {campaign_line(view)}" if view else ""
    then = {
        "post": "The wins channel is celebrating it now.",
        "rollup": f"It will be in today's *more wins* post at {cfg.rollup_time:%H:%M}.",
    }.get(row["celebration"], "")
    return Reply.say(f"🎉 Recorded *{user_text(won.deal, 200)}*: {amount}{credit}. {then}")


def _already(deal) -> str:
    name = user_text(deal.name, 200)
    who = f"announced by {mention(deal.announced_by_id)}" if deal.source == "command" else "from the CRM"
    if deal.celebration == "rollup":
        return f"*{name}* is already in today's *more wins* post ({who}): one celebration per deal."
    day = f"{deal.closed_at:%b} {deal.closed_at.day}"
    return f"*{name}* was already celebrated on {day} ({who}): one celebration per deal."


# --- the celebration --------------------------------------------------------------------------


def _record_and_celebrate(uow: UnitOfWork, deps: Deps, wins: list[_Win]) -> set[str]:
    """Insert the deals (skipping any stored meanwhile), enqueue their posts; the CRM ids inserted."""
    if not wins:
        return set()
    cfg, now = deps.config.wins, deps.now()
    oldest = now - timedelta(days=cfg.celebrate_within_days) if cfg.celebrate_within_days is not None else None
    for w in wins:
        r = w.row
        if oldest is not None and r["closed_at"] < oldest:
            r.update(celebration="skipped", celebration_key=None, celebrated_at=None)
        elif rolled_up(in_base(r["amount_minor"], r["currency"], cfg.currency, cfg.rates), cfg.rollup_below):
            r.update(celebration="rollup", celebration_key=None, celebrated_at=None)
        else:
            r.update(celebration="post", celebration_key=f"wins:{r['crm_id']}:post", celebrated_at=now)
    ids = uow.deals.insert_new([w.row for w in wins])
    wins = [w for w in wins if w.row["crm_id"] in ids]
    months = _months_as_of_each(uow, deps, wins)
    posted = [w for w in wins if w.row["celebration"] == "post"]
    credited = {t.campaign_id for w in posted for t in (w.attribution.first, w.attribution.last) if t}
    campaigns = uow.campaigns.briefs(credited)
    messages = [m for w in posted for m in _celebration(deps, w, months[w.row["crm_id"]], campaigns)]
    messages += _unmatched_owners(uow, [w.row for w in wins])
    notify.send_many(uow, deps, messages)  # the delivery policy: quiet hours, someone away
    return ids


def _celebration(deps: Deps, w: _Win, month: MonthView, campaigns: dict) -> list[dict]:
    """The outbox messages celebrating one deal: the wins post, the wide channel's copy for a
    big deal, and the note to the marketing channel when campaigns get the credit."""
    cfg, r = deps.config.wins, w.row
    first, last = w.attribution.first, w.attribution.last
    view = WinView(
        deal=r["name"],
        amount=_money(r["amount_minor"], r["currency"]),
        owner=_owner(r),
        sourced=_campaign_view(campaigns.get(first.campaign_id)) if first else None,
        converted=_campaign_view(campaigns.get(last.campaign_id)) if last else None,
        days_to_close=w.attribution.days_to_close,
        month=month,
        announced_by=mention(r["announced_by_id"]) if r["announced_by_id"] else None,
    )
    post = win_post(view, reaction=cfg.reaction).to_json()
    out = [dict(key=r["celebration_key"], destination=channel("wins"), payload=post)]
    if (
        cfg.wide_channel
        and cfg.wide != "off"
        and goes_wide(in_base(r["amount_minor"], r["currency"], cfg.currency, cfg.rates), cfg.wide_at)
    ):
        wide = post if cfg.wide == "copy" else wide_pointer(view, deps.config.channels["wins"]).to_json()
        out.append(dict(key=f"wins:{r['crm_id']}:wide", destination=channel(cfg.wide_channel), payload=wide))
    marketing = deps.config.team_channel("marketing") if cfg.marketing_post else None
    note = marketing_note(view) if marketing else None
    if note is not None and marketing:
        out.append(dict(key=f"wins:{r['crm_id']}:marketing", destination=channel(marketing), payload=note.to_json()))
    return out


def _owner(row: dict) -> str:
    if row.get("owner_id"):
        return mention(row["owner_id"])
    if row.get("owner_email"):
        return user_text(row["owner_email"], 320)  # not in the people list: plain text, never a failure
    return "someone in sales"


def _campaign_view(c) -> CampaignView | None:
    if c is None:
        return None
    owner = mention(c.owner_id) if c.owner_id else (user_text(c.owner_email, 320) if c.owner_email else None)
    return CampaignView(name=c.name, kind=c.kind, owner=owner)


def _month_view(totals: dict[str, int], label: str, deps: Deps) -> MonthView:
    cfg = deps.config.wins
    base = sum(
        (v for cur, minor in totals.items() if (v := in_base(minor, cur, cfg.currency, cfg.rates)) is not None),
        Decimal(0),
    )
    others = [
        _money(minor, cur)
        for cur, minor in sorted(totals.items())
        if minor and in_base(minor, cur, cfg.currency, cfg.rates) is None
    ]
    target = percent = None
    if cfg.monthly_target:
        target = _whole(to_minor(cfg.monthly_target, cfg.currency), cfg.currency)
        percent = int(base * 100 / Decimal(str(cfg.monthly_target)))
    total = _whole(to_minor(base, cfg.currency), cfg.currency)
    return MonthView(label=label, total=total, target=target, percent=percent, others=others)


def _money(minor: int, currency: str) -> str:
    """``format_money`` (cents only when there are any), fast: Babel takes ~0.1 ms a call, and a
    batch of deals formats thousands of amounts. Falls back to Babel for anything unusual."""
    digits = precision(currency)
    scale = 10**digits
    whole = minor % scale == 0
    shape = _shape(currency, whole)
    if shape is None or minor < 0:
        return format_money(minor, currency)
    number = f"{minor // scale:,}" if whole else f"{Decimal(minor).scaleb(-digits):,.{digits}f}"
    return shape[0] + number + shape[1]


def _whole(minor: int, currency: str) -> str:
    """``format_money(..., whole=True)``: rounded to whole units (totals and targets)."""
    digits = precision(currency)
    shape = _shape(currency, True)
    if shape is None or minor < 0:
        return format_money(minor, currency, whole=True)
    units = int(Decimal(minor).scaleb(-digits).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return shape[0] + f"{units:,}" + shape[1]


@lru_cache(maxsize=256)
def _shape(currency: str, whole: bool) -> tuple[str, str] | None:
    """What Babel puts before and after the grouped number for this currency, learned from one
    amount and checked on two others; None when its output is not of that shape."""
    digits = precision(currency)
    probes = [123456789, 1000, 7] if whole else [12345678901, 100005, 7]
    outputs = [format_money(p * (10**digits if whole else 1), currency, whole=whole) for p in probes]
    number = [f"{p:,}" if whole else f"{Decimal(p).scaleb(-digits):,.{digits}f}" for p in probes]
    at = outputs[0].find(number[0])
    if at < 0 or not digits and not whole:
        return None
    shape = (outputs[0][:at], outputs[0][at + len(number[0]) :])
    if any(out != shape[0] + n + shape[1] for out, n in zip(outputs, number)):
        return None
    return shape


def _months_as_of_each(uow: UnitOfWork, deps: Deps, wins: list[_Win]) -> dict[str, MonthView]:
    """Each deal's month total as it stood with that deal counted and the batch's later ones
    not yet: a batch of wins reads as a running tally. One query per month in the batch."""
    tz = deps.config.wins.timezone
    windows = {w.row["crm_id"]: month_window(w.row["closed_at"], tz) for w in wins}
    running: dict[tuple, dict[str, int]] = {}
    for win in dict.fromkeys(windows.values()):
        running[win] = dict(uow.deals.totals(start=win[0], end=win[1]))
    out: dict[str, MonthView] = {}
    for w in reversed(wins):
        r, win = w.row, windows[w.row["crm_id"]]
        if r["celebration"] == "post":
            out[r["crm_id"]] = _month_view(running[win], win[2], deps)
        running[win][r["currency"]] = running[win].get(r["currency"], 0) - r["amount_minor"]
    return out


def _unmatched_owners(uow: UnitOfWork, rows: list[dict]) -> list[dict]:
    """Owners whose email is not in the people list: listed (KeyValue ``wins:unmatched_owners``)
    and told to the admins once per email."""
    emails = {r["owner_email"].lower() for r in rows if r.get("owner_email") and not r.get("owner_id")}
    if not emails:
        return []
    known = uow.kv.get_for_update(UNMATCHED_KEY, {"emails": []})  # two requests at once: both kept
    new = sorted(emails - set(known.get("emails", [])))
    if not new:
        return []
    uow.kv.set(UNMATCHED_KEY, {"emails": sorted(set(known.get("emails", [])) | set(new))})
    digest = hashlib.sha1(",".join(new).encode()).hexdigest()[:16]
    note = unmatched_owner_note(new).to_json()
    return [
        dict(key=f"wins:unmatched:{digest}:{a.id}", destination=dm(a.id), payload=note) for a in uow.people.admins()
    ]


# --- the daily roll-up ------------------------------------------------------------------------


def rollup_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """At ``wins.rollup_time`` (in ``wins.timezone``) post every deal waiting for the roll-up in
    one "more wins" message. Once a day (``wins:rollup:<date>``); a deal in exactly one."""
    cfg, now = deps.config.wins, deps.now()
    local = now.astimezone(ZoneInfo(cfg.timezone))
    if local.time() < cfg.rollup_time:
        return JobResult("wins_rollup", 0, f"not before {cfg.rollup_time:%H:%M} {cfg.timezone}")
    day = local.date().isoformat()
    key = f"wins:rollup:{day}"
    with uow_factory() as uow:
        if (uow.kv.get(ROLLUP_STATE_KEY) or {}).get("last_day", "") >= day:
            return JobResult("wins_rollup", 0, f"{day} done")
        uow.kv.set(ROLLUP_STATE_KEY, {"last_day": day})
        deals = uow.deals.claim_rollup(key=key, at=now)
        if deals:
            _post_rollup(uow, deps, key, local, deals)
        uow.commit()
    return JobResult("wins_rollup", len(deals), key)


def _post_rollup(uow: UnitOfWork, deps: Deps, key: str, local: datetime, deals) -> None:
    cfg = deps.config.wins
    campaigns = uow.campaigns.briefs(d.attrs.get("sourced_by") for d in deals if (d.attrs or {}).get("sourced_by"))
    lines = [
        RollupLine(
            deal=d.name,
            amount=_money(d.amount_minor, d.currency),
            owner=_owner(dict(owner_id=d.owner_id, owner_email=d.owner_email)),
            sourced=_campaign_view(campaigns.get(sourced) if (sourced := (d.attrs or {}).get("sourced_by")) else None),
        )
        for d in deals
    ]
    sums: dict[str, int] = defaultdict(int)
    for d in deals:
        sums[d.currency] += d.amount_minor
    start, end, label = month_window(local, cfg.timezone)
    day_label = f"{local:%A %b} {local.day}"
    total = _month_view(dict(sums), "", deps)
    total_text = total.total + (" + " + ", ".join(total.others) if total.others else "")
    month = _month_view(uow.deals.totals(start=start, end=end), label, deps)
    post = rollup_post(day_label, lines, total_text, month)
    messages = [dict(key=key, destination=channel("wins"), payload=post.to_json())]
    marketing = deps.config.team_channel("marketing") if cfg.marketing_post else None
    note = rollup_marketing_note(day_label, lines) if marketing else None
    if note is not None and marketing:
        messages.append(dict(key=f"{key}:marketing", destination=channel(marketing), payload=note.to_json()))
    # Not held for quiet hours: the day's roll-up goes out at the time the admin set for it
    # (``wins.rollup_time``, the close of business by default), as each deal's answer promised.
    uow.outbox.add_many(messages, at=deps.now())


FLOW = Flow(
    name="wins",
    commands={"won": won_command},
    events={"deal.closed_won": deals_closed_won},
    jobs={"wins_rollup": rollup_job},
    help=[
        (
            "won <deal> <amount> [campaign]",
            'announce a win, e.g. `won "Acme renewal" $48,000 webinar-q4` (amount: 48000, 48,000, $48k or '
            "48000 EUR; campaign: its CRM id or name; quote names with numbers or spaces)",
        )
    ],
)
