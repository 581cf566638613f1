"""Bounce-back: a rep returns a lead to marketing with a reason, and marketing learns from it.

- ``/smarketing bounce <lead> <reason> [note]`` bounces in one step; without a known reason (and
  from the *Bounce to marketing* button on a cooling alert) a form asks for one.
- Only the lead's owner, the owner's manager or an admin may bounce it.
- A bounce sends the lead to nurture and stops its SLA ladder, records reason, note, who and when,
  posts the lead with its context to the marketing channel (*Acknowledge*, *Send back to sales*)
  and, when ``outbound_webhook`` is configured, tells the CRM (``lead.bounced``,
  ``lead.requalified``) through the outbox.
- Every week marketing gets the bounce reasons by campaign (job ``bounce_report``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from handlers import bounce_messages as views
from handlers.errors import Invalid, NotAllowed, NotFound
from handlers.messages import Reply
from handlers.ports import Actor, Deps, channel, webhook
from handlers.registry import Flow, JobResult, MessageRef
from handlers.review_messages import reviewable
from storage.models import Bounce, Lead

ALREADY_WITH_MARKETING = "nurture"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REPORT_GRACE = timedelta(days=1)  # a weekly post missed by more than this waits for next week


# --- entry points -----------------------------------------------------------------------------


def bounce_command(uow, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing bounce <lead> [reason] [note]``."""
    words = args.split(maxsplit=2)
    if not words:
        raise Invalid(views.usage_text(_reasons(deps)))
    lead = find_lead(uow, words[0])
    check_may_bounce(uow, actor, lead)
    check_bounceable(lead)
    code = _reason_code(words[1]) if len(words) > 1 else None
    if code is None or deps.config.reason_label(code) is None:
        # An unknown first word is most likely the start of a note: keep what was typed.
        return Reply(form=_form(uow, deps, lead, note=" ".join(words[1:]) or None))
    note = _checked_note(deps, words[2] if len(words) > 2 else None)
    bounce_lead(uow, deps, lead, reason=code, note=note, by_person_id=actor.person_id)
    uow.commit()
    return Reply.say(_done_text(deps, lead, code))


def open_form(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply:
    """The *Bounce to marketing* button (value: the lead id) opens the form."""
    lead = _lead_by_id(uow, value)
    check_may_bounce(uow, actor, lead)
    check_bounceable(lead)
    return Reply(form=_form(uow, deps, lead))


def submit_form(uow, deps: Deps, actor: Actor, state: str, values: dict[str, str | None]) -> Reply:
    lead = _lead_by_id(uow, state)
    check_may_bounce(uow, actor, lead)
    check_bounceable(lead)
    code = (values.get("reason") or "").strip()
    if deps.config.reason_label(code) is None:
        raise Invalid("Pick a reason from the list.", field="reason")
    note = _checked_note(deps, values.get("note"), field="note")
    bounce_lead(uow, deps, lead, reason=code, note=note, by_person_id=actor.person_id)
    uow.commit()
    return Reply.say(_done_text(deps, lead, code))


def acknowledge(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply | None:
    """*Acknowledge* on the marketing post: marketing has seen it."""
    bounce = _bounce_by_id(uow, value)
    check_marketing(uow, actor)
    if bounce.acknowledged_by_id:
        return Reply.say(f"{_name(uow, bounce.acknowledged_by_id)} acknowledged this one already.")
    bounce.acknowledged_by_id, bounce.acknowledged_at = actor.person_id, deps.now()
    uow.bounces.add(bounce)
    _update_post(uow, deps, bounce, source, "ack")
    uow.commit()
    return None


def send_back(uow, deps: Deps, actor: Actor, value: str, source: MessageRef | None) -> Reply | None:
    """*Send back to sales*: the lead is qualified again, with its bounce history in the handoff."""
    from handlers.cooling import qualify_lead

    bounce = _bounce_by_id(uow, value)
    check_marketing(uow, actor)
    lead = uow.leads.get_for_update(bounce.lead_id)
    if bounce.requalified_at or lead.status != ALREADY_WITH_MARKETING:
        uow.bounces.mark_requalified(lead_ids=[lead.id], at=deps.now())
        _update_post(uow, deps, bounce, source, "requalified")
        uow.commit()
        return Reply.say(f"{views.lead_label(lead.name or lead.crm_id, lead.company)} is not with marketing "
                         f"any more (it is {lead.status}); nothing to send back.")
    now = deps.now()
    uow.bounces.mark_requalified(lead_ids=[lead.id], at=now, by_person_id=actor.person_id)
    qualify_lead(uow, deps, lead, at=now, by_person_id=actor.person_id)
    _to_crm(uow, deps, "lead.requalified", key=f"bounce:{bounce.id}:requalified", lead=lead, at=now,
            data={"bounce_id": bounce.id, "by_email": _email(uow, actor.person_id), "status": lead.status})
    _update_post(uow, deps, bounce, source, "sent_back")
    uow.commit()
    return None


def bounce_report_job(uow_factory, deps: Deps) -> JobResult:
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
        message = views.weekly_report(_campaign_lines(deps, counts, campaigns), since=since.astimezone(tz),
                                      until=until.astimezone(tz))
        added = uow.outbox.add(key=key, destination=channel(marketing), payload=message.to_json(), at=deps.now())
        uow.commit()
    return JobResult("bounce_report", int(added), f"{sum(c.count for c in counts)} bounces")


# --- the rules --------------------------------------------------------------------------------


def find_lead(uow, ref: str) -> Lead:
    """The one lead a person means by a CRM id or an email."""
    leads = uow.leads.find(ref)
    if not leads:
        raise NotFound(views.no_lead_text(ref))
    if len(leads) > 1:
        raise NotFound(views.several_leads_text(ref, leads))
    return uow.leads.get_for_update(leads[0].id)


def check_may_bounce(uow, actor: Actor, lead: Lead) -> None:
    """The lead's owner, the owner's manager or an admin; anyone else is told who can."""
    person = _person(uow, actor)
    owner = uow.people.get(lead.owner_id) if lead.owner_id else None
    if person.is_admin or (owner and person.id in (owner.id, owner.manager_id)):
        return
    if owner is None:
        raise NotAllowed("This lead has no owner, so only an admin can bounce it back to marketing.")
    manager = uow.people.get(owner.manager_id) if owner.manager_id else None
    who = f"{owner.name} (its owner)" + (f", {manager.name} ({owner.name.split()[0]}'s manager)" if manager else "")
    raise NotAllowed(f"Only {who} or an admin can bounce this lead back to marketing.")


def check_bounceable(lead: Lead) -> None:
    label = views.lead_label(lead.name or lead.crm_id, lead.company)
    if lead.status == ALREADY_WITH_MARKETING:
        raise Invalid(f"{label} is already back with marketing.")
    if lead.status == "converted":
        raise Invalid(f"{label} has converted to a customer; there is nothing to bounce.")


def check_marketing(uow, actor: Actor) -> None:
    person = _person(uow, actor)
    if person.team != "marketing" and not person.is_admin:
        raise NotAllowed("Only marketing (or an admin) can acknowledge a bounce or send the lead back to sales.")


def bounce_lead(uow, deps: Deps, lead: Lead, *, reason: str, note: str | None, by_person_id: int | None) -> Bounce:
    """Send the lead back to marketing: nurture, SLA ladder stopped, the bounce recorded, the
    marketing channel told and (when configured) the CRM. The caller commits."""
    from handlers.cooling import stop_sla

    at = deps.now()
    repeat = uow.bounces.has_reason(lead_id=lead.id, reason=reason)
    context = _context(uow, lead, at)
    stop_sla(lead)
    lead.status = ALREADY_WITH_MARKETING
    lead.bounce_count = (lead.bounce_count or 0) + 1
    lead.updated_at = at
    uow.leads.add(lead)
    bounce = uow.bounces.add(Bounce(lead_id=lead.id, campaign_id=lead.source_campaign_id, reason=reason, note=note,
                                    by_person_id=by_person_id, at=at, repeat=repeat, context=context))
    marketing = deps.config.team_channel("marketing")
    if marketing:
        uow.outbox.add(key=_post_key(bounce), destination=channel(marketing), at=at,
                       payload=_post(deps, bounce).to_json())
    _to_crm(uow, deps, "lead.bounced", key=f"bounce:{bounce.id}:bounced", lead=lead, at=at,
            data={"bounce_id": bounce.id, "reason": reason, "reason_label": deps.config.reason_label(reason),
                  "note": note, "by_email": _email(uow, by_person_id), "repeat": repeat,
                  "bounce_count": lead.bounce_count, "status": lead.status,
                  "campaign_id": context.get("campaign_crm_id")})
    return bounce


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


def _person(uow, actor: Actor):
    person = uow.people.get(actor.person_id) if actor.person_id else None
    if person is None:
        raise NotAllowed("I don't know who you are yet: ask an admin to add you (with your work email) "
                         "to the Smarketing config.")
    return person


def _lead_by_id(uow, value: str) -> Lead:
    lead = uow.leads.get_for_update(int(value)) if value.strip().isdigit() else None
    if lead is None:
        raise NotFound("That lead is no longer in the system; it may have been removed in the CRM.")
    return lead


def _bounce_by_id(uow, value: str) -> Bounce:
    bounce = uow.bounces.get_for_update(int(value)) if value.strip().isdigit() else None
    if bounce is None:
        raise NotFound("That bounce is no longer in the system.")
    return bounce


def _name(uow, person_id: int | None) -> str:
    person = uow.people.get(person_id) if person_id else None
    return person.name if person else "Someone"


def _email(uow, person_id: int | None) -> str | None:
    person = uow.people.get(person_id) if person_id else None
    return person.email if person else None


def _context(uow, lead: Lead, at: datetime) -> dict:
    """What the marketing post and the form show about the lead, as of ``at``."""
    campaign = uow.campaigns.get(lead.source_campaign_id) if lead.source_campaign_id else None
    touches = [t for t in uow.leads.touches(lead.id) if not lead.qualified_at or t.occurred_at >= lead.qualified_at]
    return {
        "name": lead.name or lead.email or lead.crm_id,
        "crm_id": lead.crm_id,
        "email": lead.email,
        "company": lead.company,
        "title": lead.title,
        "score": lead.score,
        "owner_id": lead.owner_id,
        "campaign_name": campaign.name if campaign else None,
        "campaign_crm_id": campaign.crm_id if campaign else None,
        "campaign_owner_id": campaign.owner_id if campaign else None,
        "days_in_sales": (at - lead.qualified_at).total_seconds() / 86400 if lead.qualified_at else None,
        "follow_ups": len(touches) or lead.touch_count or 0,
        "last_follow_up_at": touches[-1].occurred_at.isoformat() if touches else None,
        "bounce_number": (lead.bounce_count or 0) + 1,
    }


def _form(uow, deps: Deps, lead: Lead, note: str | None = None):
    return views.bounce_form(_context(uow, lead, deps.now()), lead.id, _reasons(deps), deps.config.bounce.note_max,
                             note=note)


def _done_text(deps: Deps, lead: Lead, code: str) -> str:
    told = "; marketing has been told" if deps.config.team_channel("marketing") else ""
    return (f"Bounced {views.lead_label(lead.name or lead.crm_id, lead.company)} back to marketing: "
            f"_{deps.config.reason_label(code)}_. Its SLA alerts have stopped{told}.")


def _post_key(bounce: Bounce) -> str:
    return f"bounce:{bounce.id}:post"


def requalified_in_crm(uow, deps: Deps, lead_ids: list[int]) -> int:
    """The CRM handed bounced leads back to sales: close their open bounces and update each
    marketing post in place ("back in sales", no buttons left to press). The caller commits."""
    if not lead_ids:
        return 0
    still_open = uow.bounces.open_for_leads(lead_ids)
    uow.bounces.mark_requalified(lead_ids=lead_ids, at=deps.now())  # the loaded bounces see it
    for bounce in still_open:
        _update_post(uow, deps, bounce, None, "requalified")
    return len(still_open)


def _post(deps: Deps, bounce: Bounce):
    state = views.PostState(acknowledged_by_id=bounce.acknowledged_by_id, sent_back_by_id=bounce.requalified_by_id,
                            requalified=bounce.requalified_at is not None)
    label = deps.config.reason_label(bounce.reason) or bounce.reason
    post = views.marketing_post(bounce.context, bounce_id=bounce.id, reason_label=label,
                                note=bounce.note, by_id=bounce.by_person_id, repeat=bounce.repeat, state=state)
    name = (bounce.context or {}).get("name") or (bounce.context or {}).get("label") or f"lead {bounce.lead_id}"
    if state.acknowledged_by_id or state.sent_back_by_id or state.requalified:
        return post  # handled: the post's buttons go, *Add to review* too
    return reviewable(deps.config, post, f"{name}: bounced ({label})")  # *Add to review* (handlers/review.py)


def _update_post(uow, deps: Deps, bounce: Bounce, source: MessageRef | None, what: str) -> None:
    """Replace the marketing post in place with the bounce's current state."""
    original = uow.outbox.by_key((source.outbox_key if source else None) or _post_key(bounce))
    if original is None:  # nothing was posted (no marketing channel)
        return
    uow.outbox.add(key=f"{_post_key(bounce)}:{what}", op="update", target_key=original.key,
                   destination=original.destination, payload=_post(deps, bounce).to_json(), at=deps.now())


def _to_crm(uow, deps: Deps, type_: str, *, key: str, lead: Lead, at: datetime, data: dict) -> None:
    """Queue an outbound webhook event for the CRM (only when one is configured)."""
    if deps.config.outbound_webhook is None:
        return
    payload = {"id": key, "type": type_, "occurred_at": at.isoformat(),
               "data": {"lead_id": lead.crm_id, "email": lead.email, **data}}
    uow.outbox.add(key=f"webhook:{key}", destination=webhook(), op="webhook", payload=payload, at=at)


def _campaign_lines(deps: Deps, counts, campaigns) -> list[views.CampaignLine]:
    grouped: dict[int | None, list] = {}
    for c in counts:
        grouped.setdefault(c.campaign_id, []).append(c)
    lines = []
    for campaign_id, rows in grouped.items():
        camp = campaigns.get(campaign_id) if campaign_id else None
        reasons = sorted(((deps.config.reason_label(r.reason) or r.reason, r.count) for r in rows),
                         key=lambda x: (-x[1], x[0]))
        lines.append(views.CampaignLine(name=camp.name if camp else None, owner_id=camp.owner_id if camp else None,
                                        reasons=reasons,
                                        repeats=sum(r.repeats for r in rows)))
    return lines


FLOW = Flow(
    name="bounce",
    commands={"bounce": bounce_command},
    actions={"bounce.open": open_form, "bounce.ack": acknowledge, "bounce.send_back": send_back},
    forms={views.FORM_ACTION: submit_form},
    jobs={"bounce_report": bounce_report_job},
    help=[("bounce <lead> [reason] [note]",
           "send a lead back to marketing with a reason from the shared list (without one, a form opens)")],
)
