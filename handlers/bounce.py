"""Bounce-back: a rep returns a lead to marketing with a reason, and marketing learns from it.

- ``/smarketing bounce <lead> <reason> [note]`` bounces in one step; without a known reason (and
  from the *Bounce to marketing* button on a cooling alert) a form asks for one.
- Who may bounce, and what a bounce does (back with marketing, the SLA stopped, every message about
  the lead updated, the marketing post with *Acknowledge* / *Send back to sales*, the CRM told
  with ``lead.bounced`` / ``lead.requalified``), is the lifecycle's (``handlers.lifecycle``).
- Every week marketing gets the bounce reasons by campaign (job ``bounce_report``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from handlers import bounce_messages as views
from handlers import lifecycle
from handlers.errors import Invalid, NotFound
from handlers.messages import Reply
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory, channel, row_id
from handlers.registry import Flow, JobResult, MessageRef
from handlers.ports import Bounce, Lead

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REPORT_GRACE = timedelta(days=1)  # a weekly post missed by more than this waits for next week


# --- entry points -----------------------------------------------------------------------------


def bounce_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing bounce <lead> [reason] [note]``."""
    words = args.split(maxsplit=2)
    if not words:
        raise Invalid(views.usage_text(_reasons(deps)))
    lead = lifecycle.find_lead(uow, words[0])
    person = check_may_bounce(uow, deps, actor, lead)
    code = _reason_code(words[1]) if len(words) > 1 else None
    if code is None or deps.config.reason_label(code) is None:
        # An unknown first word is most likely the start of a note: keep what was typed.
        return Reply(form=_form(uow, deps, lead, note=" ".join(words[1:]) or None))
    note = _checked_note(deps, words[2] if len(words) > 2 else None)
    lifecycle.bounce(uow, deps, person, lead, reason=code, note=note)
    uow.commit()
    return Reply.say(_done_text(deps, lead, code))


def open_form(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """The *Bounce to marketing* button (value: the lead and its version) opens the form."""
    got = lifecycle.pressed(uow, deps, actor, value)
    check_may_bounce(uow, deps, actor, got.lead)
    return Reply(form=_form(uow, deps, got.lead, state=value))


def submit_form(uow: UnitOfWork, deps: Deps, actor: Actor, state: str, values: dict[str, str | None]) -> Reply:
    got = lifecycle.pressed(uow, deps, actor, state)  # the form's lead as it was when opened
    person = check_may_bounce(uow, deps, actor, got.lead)
    code = (values.get("reason") or "").strip()
    if deps.config.reason_label(code) is None:
        raise Invalid("Pick a reason from the list.", field="reason")
    note = _checked_note(deps, values.get("note"), field="note")
    lead = got.lead
    lifecycle.bounce(uow, deps, person, lead, reason=code, note=note)
    uow.commit()
    return Reply.say(_done_text(deps, lead, code))


def acknowledge(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply | None:
    """*Acknowledge* on the marketing post: marketing has seen it."""
    bounce = _bounce_by_id(uow, value)
    lifecycle.check(uow, "acknowledge", lifecycle.person_of(uow, actor), None, None)
    if bounce.acknowledged_by_id:
        return Reply.say(f"{_name(uow, bounce.acknowledged_by_id)} acknowledged this one already.")
    bounce.acknowledged_by_id, bounce.acknowledged_at = actor.person_id, deps.now()
    uow.bounces.add(bounce)
    _update_post(uow, deps, bounce, source, "ack")
    uow.commit()
    return None


def send_back(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply | None:
    """*Send back to sales*: the lead is qualified again, with its bounce history in the handoff."""
    bounce = _bounce_by_id(uow, value)
    return lifecycle.send_back(uow, deps, lifecycle.person_of(uow, actor), bounce)


def bounce_report_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """The weekly post to marketing: bounce reasons by campaign over the last 7 days."""
    due = report_window(deps)
    marketing = deps.config.team_channel("marketing")
    if due is None or marketing is None:
        return JobResult("bounce_report", 0, "not due" if marketing else "no marketing channel")
    key, since, until = due
    with uow_factory() as uow:
        if uow.outbox.exists(key):
            return JobResult("bounce_report", 0, "already posted this week")
        counts = uow.bounces.reasons_by_campaign(since=since, until=until)
        campaigns = uow.campaigns.many(c.campaign_id for c in counts if c.campaign_id)
        tz = ZoneInfo(deps.config.team_timezone("marketing"))
        message = views.weekly_report(
            _campaign_lines(deps, counts, campaigns), since=since.astimezone(tz), until=until.astimezone(tz)
        )
        added = uow.outbox.add(key=key, destination=channel(marketing), payload=message.to_json(), at=deps.now())
        uow.commit()
    return JobResult("bounce_report", int(added), f"{sum(c.count for c in counts)} bounces")


# --- the rules --------------------------------------------------------------------------------


def check_may_bounce(uow: UnitOfWork, deps: Deps, actor: Actor, lead: Lead):
    """The lifecycle's rule for bouncing, and the lead is sales' to bounce; the person."""
    person = lifecycle.person_of(uow, actor)
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    lifecycle.check(uow, "bounce", person, lead, owner)
    if lead.status == "nurture":
        raise Invalid(f"{views.lead_label(lead.name or lead.crm_id, lead.company)} is already back with marketing.")
    if lead.status == "converted":
        raise Invalid(
            f"{views.lead_label(lead.name or lead.crm_id, lead.company)} was won: it is a customer now, "
            "so there is nothing to bounce."
        )
    return person


def report_window(deps: Deps) -> tuple[str, datetime, datetime] | None:
    """(outbox key, since, until) when this week's report is due now, else None.

    Due from ``bounce.report`` (day and time in the marketing team's timezone) for a day; the
    key names the ISO week, so replicas and restarts post it once."""
    tz = ZoneInfo(deps.config.team_timezone("marketing"))
    now = deps.now()
    local = now.astimezone(tz)
    cfg = deps.config.bounce.report
    day = local.date() + timedelta(days=WEEKDAYS.index(cfg.day) - local.weekday())  # in this week
    at_local = datetime.combine(day, cfg.time, tzinfo=tz)
    if not (at_local <= local < at_local + REPORT_GRACE):
        return None
    year, week, _ = day.isocalendar()
    since = datetime.combine(day - timedelta(days=7), cfg.time, tzinfo=tz)
    return f"bounce_report:{year}-W{week:02d}", since.astimezone(timezone.utc), at_local.astimezone(timezone.utc)


# --- helpers ----------------------------------------------------------------------------------


def _reasons(deps: Deps) -> list[tuple[str, str]]:
    return [(r.code, r.label) for r in deps.config.bounce.reasons]


def _reason_code(word: str) -> str:
    return word.strip().lower().replace("-", "_")


def _checked_note(deps: Deps, note: str | None, field: str | None = None) -> str | None:
    note = (note or "").strip() or None
    limit = deps.config.bounce.note_max
    if note and len(note) > limit:
        raise Invalid(f"The note is {len(note)} characters; please keep it to {limit}.", field=field)
    return note


def _bounce_by_id(uow: UnitOfWork, value: str) -> Bounce:
    bounce_id = row_id(value)
    bounce = uow.bounces.get_for_update(bounce_id) if bounce_id else None
    if bounce is None:
        raise NotFound("That bounce is no longer in the system.")
    return bounce


def _name(uow: UnitOfWork, person_id: int | None) -> str:
    person = uow.people.get(person_id) if person_id else None
    return person.name if person else "Someone"


def _form(uow: UnitOfWork, deps: Deps, lead: Lead, note: str | None = None, state: str | None = None):
    return views.bounce_form(
        lifecycle.bounce_context(uow, lead, deps.now()),
        state or f"{lead.id}@{lead.version}",
        _reasons(deps),
        deps.config.bounce.note_max,
        note=note,
    )


def _done_text(deps: Deps, lead: Lead, code: str) -> str:
    told = "; marketing has been told" if deps.config.team_channel("marketing") else ""
    return (
        f"Bounced {views.lead_label(lead.name or lead.crm_id, lead.company)} back to marketing: "
        f"_{deps.config.reason_label(code)}_. Its SLA alerts have stopped{told}."
    )


def _post_key(bounce: Bounce) -> str:
    return f"bounce:{bounce.id}:post"


def _post(deps: Deps, bounce: Bounce):
    return views.post_for(bounce, deps.config.reason_label(bounce.reason) or bounce.reason, deps.config)


def _update_post(uow: UnitOfWork, deps: Deps, bounce: Bounce, source: MessageRef | None, what: str) -> None:
    """Replace the marketing post in place with the bounce's current state."""
    original = uow.outbox.by_key((source.outbox_key if source else None) or _post_key(bounce))
    if original is None:  # nothing was posted (no marketing channel)
        return
    uow.outbox.add(
        key=f"{_post_key(bounce)}:{what}",
        op="update",
        target_key=original.key,
        destination=original.destination,
        payload=_post(deps, bounce).to_json(),
        at=deps.now(),
    )


def _campaign_lines(deps: Deps, counts, campaigns) -> list[views.CampaignLine]:
    grouped: dict[int | None, list] = {}
    for c in counts:
        grouped.setdefault(c.campaign_id, []).append(c)
    lines = []
    for campaign_id, rows in grouped.items():
        camp = campaigns.get(campaign_id) if campaign_id else None
        reasons = sorted(
            ((deps.config.reason_label(r.reason) or r.reason, r.count) for r in rows), key=lambda x: (-x[1], x[0])
        )
        lines.append(
            views.CampaignLine(
                name=camp.name if camp else None,
                owner_id=camp.owner_id if camp else None,
                reasons=reasons,
                repeats=sum(r.repeats for r in rows),
            )
        )
    return lines


FLOW = Flow(
    name="bounce",
    commands={"bounce": bounce_command},
    actions={"bounce.open": open_form, "bounce.ack": acknowledge, "bounce.send_back": send_back},
    forms={views.FORM_ACTION: submit_form},
    jobs={"bounce_report": bounce_report_job},
    help=[
        (
            "bounce <lead> [reason] [note]",
            "send a lead back to marketing with a reason from the shared list (without one, a form opens)",
        )
    ],
)
