"""Preferences: how the delivery policy reaches one person (``/smarketing prefs``).

The config's ``delivery:`` sets the company's defaults; each person may choose, over them:
their digest time (within business hours), ``warn`` and ``manager`` one by one (``realtime``) or
in their morning digest (``digest``), and kinds muted. What they may not silence is decided in
``handlers/policy.py`` (``MUST_GET``, and anything urgent): such a choice is refused with the
reason, and a refused or unreadable choice changes nothing.

- ``prefs``: the form (a Slack modal, a Teams card, a local form), showing what applies now;
- ``prefs show``: what applies and where each comes from, with a button to the form;
- ``prefs digest 08:30 | default``, ``prefs warn realtime | digest | default``,
  ``prefs manager …``, ``prefs mute <kind>``, ``prefs unmute <kind>``, ``prefs reset``.
"""

from __future__ import annotations

import re
from datetime import time as Time

from handlers import policy
from handlers.errors import Invalid
from handlers.lifecycle import person_of
from handlers.messages import Actions, Button, Context, Form, Header, Input, Message, Option, Reply, Section
from handlers.ports import Actor, Deps, UnitOfWork
from handlers.registry import Flow
from handlers.sla import timezone_of
from handlers.ports import DeliveryPref

FORM = "prefs.save"
OPEN = "prefs.open"
DEFAULT = "default"
MUTE = "mute"
USAGE = (
    "`/smarketing prefs` opens the form; `prefs show` shows yours; `prefs digest 08:30` (or `default`), "
    "`prefs warn realtime|digest|default`, `prefs manager realtime|digest|default`, `prefs mute <kind>`, "
    "`prefs unmute <kind>`, `prefs reset`."
)
NAMES = {"warn": "Warnings (a lead of yours about to breach)", "manager": "Escalations (a breached lead of your team)"}
SHORT = {"warn": "warnings", "manager": "escalations"}
WAYS = {"digest": "in your morning digest", "realtime": "one message each, as they happen"}
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


# --- reading what someone typed ------------------------------------------------------------


def parse_time(word: str, config) -> Time:
    m = _TIME.fullmatch(word.strip())
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        start = config.business_hours.start  # the example is a time that would be accepted
        example = (
            Time(start.hour, 30) if start.minute < 30 and Time(start.hour, 30) < config.business_hours.end else start
        )
        raise Invalid(
            f"'{word.strip()[:20]}' is not a time; use HH:MM, e.g. {_hhmm(example)}. Nothing changed.",
            field="digest_time",
        )
    return Time(int(m[1]), int(m[2]))


def _hhmm(t: Time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def check_digest_time(deps: Deps, person, at: Time) -> Time:
    """A digest time within the person's business hours: outside them nothing reaches them (quiet
    hours) and the digest would not go out at that time, so such a time is refused."""
    bh = deps.config.business_hours
    if bh.start <= at < bh.end:
        return at
    tz = timezone_of(person, deps.config)
    raise Invalid(
        f"{_hhmm(at)} is outside your business hours ({_hhmm(bh.start)}–{_hhmm(bh.end)}, {tz}): "
        f"nothing reaches you outside them, so your digest would not come then. Pick a time from "
        f"{_hhmm(bh.start)} to before {_hhmm(bh.end)}. Nothing changed.",
        field="digest_time",
    )


def check_kind(word: str) -> str:
    kind = word.strip().lower()
    if kind not in policy.KINDS:
        raise Invalid(f"unknown kind '{word.strip()[:40]}'; kinds: {', '.join(policy.KINDS)}. Nothing changed.")
    return kind


def check_mute(kind: str, person) -> str:
    """``kind`` when ``person`` may mute it; otherwise the refusal, with the reason."""
    if kind not in policy.PERSONAL:
        raise Invalid(
            f"'{kind}' ({policy.KINDS[kind]}) is posted in a team channel, not sent to you: there is "
            "nothing of yours to mute. Nothing changed."
        )
    why = policy.must_get(kind, person.role)
    if why is not None:
        raise Invalid(f"You can't mute '{kind}': {why}. Nothing changed.", field=kind)
    return kind


def check_choice(kind: str, word: str) -> str | None:
    """``realtime`` / ``digest``, or None for ``default`` (the config's)."""
    way = word.strip().lower()
    if way == DEFAULT:
        return None
    if way not in policy.CHOICES:
        raise Invalid(
            f"'{word.strip()[:40]}' is not a way to get {SHORT[kind]}; use realtime, digest or default. "
            "Nothing changed.",
            field=kind,
        )
    return way


# --- what applies --------------------------------------------------------------------------


def _stored(uow: UnitOfWork, person) -> DeliveryPref:
    return uow.prefs.get_or_blank(person.id)


def _save(uow: UnitOfWork, deps: Deps, pref: DeliveryPref) -> None:
    empty = pref.digest_time is None and pref.warn is None and pref.manager is None and not pref.muted
    if empty:  # nothing of their own: no row, the config's defaults
        uow.prefs.remove(pref.person_id)
    else:
        pref.updated_at = deps.now()
        uow.prefs.save(pref)
    uow.commit()


def lines(deps: Deps, person, stored) -> list[str]:
    """What applies to ``person``, one line a setting, saying where it comes from."""
    config, d = deps.config, deps.config.delivery
    mine = policy.prefs_of(config, stored)
    company = policy.prefs_of(config, None)
    tz = timezone_of(person, config)

    def whose(name: str, default: str) -> str:
        return f"yours (company default: {default})" if name in mine.own else "company default"

    out = [f"• Morning digest at {_hhmm(mine.digest_time)} {tz} — {whose('digest_time', _hhmm(company.digest_time))}"]
    for kind in policy.FOLDABLE:
        if kind not in _kinds_for(person) and kind not in mine.own and kind not in mine.muted:
            continue  # not something that reaches them, and nothing of theirs to show
        if kind in mine.muted:
            reason = policy.must_get(kind, person.role)
            state = "muted" + (f" — but {reason}, so they still come" if reason else "")
            out.append(f"• {NAMES[kind]}: {state} — yours (company default: {WAYS[getattr(d, kind)]})")
            continue
        way = mine.choice(kind)
        own = kind in mine.own
        out.append(
            f"• {NAMES[kind]}: {WAYS[way]} — "
            + (f"yours (company default: {WAYS[getattr(d, kind)]})" if own else "company default")
        )
    urgent = ", ".join(d.urgent_tiers) or "none"
    out.append(
        f"• Always, whatever you choose: a handoff to you, a breach of your own lead and your snooze reminders "
        f"in real time; a manager, their team's escalations; escalations of {urgent} leads at once"
        + (" (quiet hours hold the rest until your business hours)." if d.quiet_hours else ".")
    )
    return out


def summary(deps: Deps, person, stored, said: str | None = None) -> Message:
    """``said`` (what just changed), then what applies now, and the button to the form."""
    body = "\n".join(lines(deps, person, stored))
    blocks: list = [Header(text="Your delivery preferences")]
    if said:
        blocks.append(Section(text=said))
    blocks += [
        Section(text=body),
        Actions(buttons=[Button(label="Change preferences", action=OPEN, value="", style="primary")]),
        Context(text=USAGE),
    ]
    return Message(text=(f"{said}\n" if said else "") + "Your delivery preferences:\n" + body, blocks=blocks)


# --- the form ------------------------------------------------------------------------------


def _select(kind: str, person, stored, config) -> Input:
    company = WAYS[getattr(config.delivery, kind)]
    options = [
        Option(value=DEFAULT, label=f"Company default ({company})"),
        Option(value="digest", label="In my morning digest"),
        Option(value="realtime", label="One message each, as they happen"),
    ]
    if policy.must_get(kind, person.role) is None:
        options.append(Option(value=MUTE, label="Not at all (muted)"))
    current = (
        MUTE
        if stored is not None and kind in (stored.muted or [])
        else (getattr(stored, kind) if stored is not None else None) or DEFAULT
    )
    return Input(name=kind, label=NAMES[kind], kind="select", required=True, options=options, initial=current)


def prefs_form(uow: UnitOfWork, deps: Deps, person) -> Form:
    stored = uow.prefs.get(person.id)
    config = deps.config
    company = policy.prefs_of(config, None)
    bh = config.business_hours
    inputs = [
        Input(
            name="digest_time",
            label="Morning digest at (HH:MM, your time)",
            required=False,
            max_length=5,
            initial=_hhmm(stored.digest_time) if stored is not None and stored.digest_time else None,
            placeholder=f"Company default: {_hhmm(company.digest_time)}",
            hint=f"Within business hours, {_hhmm(bh.start)}–{_hhmm(bh.end)}; empty: the company default.",
        )
    ]
    inputs += [_select(kind, person, stored, config) for kind in _kinds_for(person)]
    return Form(
        title="Preferences",
        action=FORM,
        submit_label="Save",
        blocks=[Section(text="*What applies now:*\n" + "\n".join(lines(deps, person, stored)))],
        inputs=inputs,
    )


def _kinds_for(person) -> list[str]:
    """The foldable kinds that reach this person: a rep's warnings (anyone in sales may own
    leads), a manager's escalations."""
    kinds = ["warn"] if person.team == "sales" else []
    if person.role == "manager":
        kinds.append("manager")
    return kinds


def save_form(uow: UnitOfWork, deps: Deps, actor: Actor, state: str, values: dict) -> Reply:
    """The form's submission: every field checked first; one bad field changes nothing."""
    person = person_of(uow, actor)
    pref = _stored(uow, person)
    errors: dict[str, str] = {}
    changes: dict = {}
    text = (values.get("digest_time") or "").strip()
    try:
        changes["digest_time"] = check_digest_time(deps, person, parse_time(text, deps.config)) if text else None
    except Invalid as e:
        errors["digest_time"] = e.text
    muted = set(pref.muted or [])
    for kind in _kinds_for(person):
        word = (values.get(kind) or DEFAULT).strip().lower()
        try:
            if word == MUTE:
                check_mute(kind, person)
                muted.add(kind)
                changes[kind] = getattr(pref, kind)
            else:
                changes[kind] = check_choice(kind, word)
                muted.discard(kind)
        except Invalid as e:
            errors[kind] = e.text
    if errors:
        return Reply(errors=errors)
    for name, value in changes.items():
        setattr(pref, name, value)
    pref.muted = sorted(muted)
    _save(uow, deps, pref)
    return Reply(message=summary(deps, person, uow.prefs.get(person.id), "Saved."))


# --- the command ---------------------------------------------------------------------------


def prefs_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing prefs [show | digest <HH:MM|default> | warn|manager <realtime|digest|default> |
    mute|unmute <kind> | reset]``."""
    person = person_of(uow, actor)
    words = args.split()
    if not words:
        return Reply(form=prefs_form(uow, deps, person))
    sub, rest = words[0].lower(), words[1:]
    if sub in ("show", "list"):
        return Reply(message=summary(deps, person, uow.prefs.get(person.id)))
    if sub == "reset":
        if rest:
            raise Invalid(f"`prefs reset` takes nothing more. {USAGE}")
        had = uow.prefs.remove(person.id)
        uow.commit()
        said = "Back to the company defaults." if had else "You had no preferences of your own: nothing changed."
        return Reply(message=summary(deps, person, None, said))
    settings = ("show", "digest", *policy.FOLDABLE, "mute", "unmute", "reset")
    if sub not in settings:
        raise Invalid(f"unknown setting '{sub[:40]}'; settings: {', '.join(settings)}. {USAGE}")
    if len(rest) != 1:
        raise Invalid(f"`prefs {sub}` takes one word. {USAGE}")
    word = rest[0]
    pref = _stored(uow, person)
    if sub == "digest":
        if word.lower() == DEFAULT:
            pref.digest_time, said = None, "Your digest comes at the company's time again."
        else:
            at = check_digest_time(deps, person, parse_time(word, deps.config))
            pref.digest_time = at
            said = f"Your morning digest comes at {_hhmm(at)} your time from now on."
    elif sub in policy.FOLDABLE:
        way = check_choice(sub, word)
        setattr(pref, sub, way)
        if sub in (pref.muted or []):
            pref.muted = [k for k in pref.muted if k != sub]
        said = (
            f"Your {SHORT[sub]} come as the company sets it again."
            if way is None
            else f"Your {SHORT[sub]} come {WAYS[way]} from now on."
        )
    elif sub == "mute":
        kind = check_mute(check_kind(word), person)
        pref.muted = sorted({*(pref.muted or []), kind})
        said = f"Muted: {kind} ({policy.KINDS[kind]}) is not sent to you any more. `prefs unmute {kind}` undoes it."
    else:  # unmute
        kind = check_kind(word)
        if kind not in (pref.muted or []):
            raise Invalid(f"'{kind}' is not muted for you. Nothing changed.")
        pref.muted = [k for k in pref.muted if k != kind]
        said = f"Unmuted: {kind} ({policy.KINDS[kind]}) reaches you again."
    _save(uow, deps, pref)
    return Reply(message=summary(deps, person, uow.prefs.get(person.id), said))


def open_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source) -> Reply:
    """*Preferences* (on the Home, on ``prefs show``): the form."""
    return Reply(form=prefs_form(uow, deps, person_of(uow, actor)))


FLOW = Flow(
    name="prefs",
    commands={"prefs": prefs_command},
    actions={OPEN: open_button},
    forms={FORM: save_form},
    help=[
        (
            "prefs",
            "your delivery preferences: digest time, warnings and escalations one by one or in your "
            "digest, muting what your role need not get (`prefs show`, `prefs digest 08:30`, "
            "`prefs warn realtime`, `prefs mute warn`, `prefs reset`)",
        )
    ],
)
