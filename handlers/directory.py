"""People from where they already are: the CRM's owners and the chat directory.

Sources, one rule for all of them:

- **CRM owners** (``owner.upserted`` webhook events, HubSpot owners, Salesforce users): email,
  name, team, the manager's email, active. A new email makes a person (``source`` "crm"); a known
  one is updated. The manager chain comes from the manager's email, unless the config names a
  manager (``people[].manager``).
- **Chat directory** (Slack ``users.list`` and user groups, Teams rosters): accounts matched to
  people by email and linked (``handlers.identity``); an account in a team's user group (or
  channel) with no person yet becomes one (``source`` "slack" / "teams") in that team. A deleted
  account is a leaver.
- **The YAML** (``people:``) keeps what only an admin decides and overrides whatever is synced:
  name, team, role, admin, manager, backup, away, manual links. A person listed there stays
  ``source`` "yaml"; a sync may only add their CRM manager's email (used when the config names no
  manager) and deactivate them when the CRM or the directory says they left.

A leaver (``active`` false) receives nothing (``handlers.notify`` sends their messages to their
manager, the dispatcher drops anything else addressed to them), cannot act, and their open leads
go to their manager's queue; the manager is told once.

Bad input never half-applies: two owners with one email, a manager loop, a user with no email,
an unknown user group are each a line in ``/smarketing people`` (table ``directoryproblem``) and
the log, and the rest of the sync goes on.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from handlers import identity
from handlers.errors import NotAllowed
from handlers.messages import Actions, Button, Context, Form, Header, Input, Message, Reply, Section, mention
from handlers.ports import Actor, Deps, Person, UnitOfWork, dm
from handlers.registry import Flow

log = logging.getLogger(__name__)

TEAMS = ("sales", "marketing")
CRM_KINDS = ("duplicate_email", "manager_loop", "no_email")


@dataclass
class Owner:
    """One person as a CRM gives them."""

    source: str  # crm | hubspot | salesforce
    email: str | None
    name: str | None = None
    team: str | None = None  # sales | marketing | None (kept, or sales for someone new)
    manager_email: str | None = None
    active: bool = True
    owner_id: str | None = None  # the CRM's own id (HubSpot owner id, Salesforce user id)
    has_manager: bool = True  # False: the source knows nothing of managers (HubSpot): keep what is known


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    left: int = 0
    linked: int = 0
    saved: int = 0  # directory accounts written (new or changed)
    problems: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.created + self.updated + self.left + self.linked + self.saved

    def add(self, other: "Outcome") -> None:
        for f in ("created", "updated", "left", "linked", "saved"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.problems.extend(other.problems)

    def __str__(self) -> str:
        text = f"{self.created} new, {self.updated} updated, {self.left} left, {self.linked} linked"
        return text + (f", {len(self.problems)} problem(s)" if self.problems else "")


def _key_for(email: str) -> str:
    return email[:100]


def _problem(out: list[dict], outcome: Outcome, *, source: str, kind: str, subject: str, detail: str) -> None:
    log.warning("people sync (%s): %s", source, detail)
    out.append(dict(source=source, kind=kind, subject=subject[:320], detail=detail[:1000]))
    outcome.problems.append(detail)


def _configured(deps: Deps) -> dict:
    return {p.email: p for p in deps.config.people}


# --- CRM owners --------------------------------------------------------------------------------


def upsert_owners(uow: UnitOfWork, deps: Deps, owners: list[Owner]) -> Outcome:
    """Create and update people from CRM owners (in order: a later one for the same email wins).
    The caller commits."""
    now, outcome, problems = deps.now(), Outcome(), list[dict]()
    configured = _configured(deps)
    valid: dict[str, Owner] = {}
    ids_of: dict[str, set] = {}
    for o in owners:
        email = (o.email or "").strip().lower()
        if not email:
            who = o.name or o.owner_id or "(no name)"
            _problem(
                problems,
                outcome,
                source=o.source,
                kind="no_email",
                subject=f"{o.source}:{o.owner_id or who}",
                detail=f"{o.source} owner {who}"
                + (f" (id {o.owner_id})" if o.owner_id else "")
                + " has no email: not added (give them an email in the CRM, or list them under people:)",
            )
            continue
        o.email = email
        o.manager_email = (o.manager_email or "").strip().lower() or None
        ids_of.setdefault(email, set()).add(o.owner_id)
        valid[email] = o
    existing = uow.people.by_emails(valid)
    for email, o in list(valid.items()):
        ids = {i for i in ids_of[email] if i}
        person = existing.get(email)
        if person is not None and person.crm_owner_id and o.owner_id:
            ids.add(person.crm_owner_id)
        if len(ids) > 1:
            _problem(
                problems,
                outcome,
                source=o.source,
                kind="duplicate_email",
                subject=email,
                detail=f"two {o.source} owners have the email {email} (ids {', '.join(sorted(ids))}): "
                "neither is applied; give each owner their own email in the CRM, or link by hand",
            )
            del valid[email]
    uow.directory.note_problems(problems, at=now)
    touched: list = []
    leaving: list = []
    new: list = []
    for email, o in valid.items():
        person = existing.get(email)
        pc = configured.get(email)
        if person is None:
            team = o.team if o.team in TEAMS else "sales"
            person = _new_person(
                uow,
                deps,
                email=email,
                name=o.name or email,
                team=team,
                source="crm",
                manager_email=o.manager_email,
                crm_owner_id=o.owner_id,
            )
            new.append(person)
            outcome.created += 1
            existing[email] = person
            if not o.active:
                person.active = False
            touched.append(person)
            continue
        changes = {"manager_email": o.manager_email} if o.has_manager else {}
        if o.owner_id:
            changes["crm_owner_id"] = o.owner_id
        if pc is None and person.source != "yaml":
            if o.name:
                changes["name"] = o.name
            if o.team in TEAMS:
                changes["team"] = o.team
            if person.source != "crm":
                changes["source"] = "crm"
        if _apply(person, changes):
            outcome.updated += 1
        touched.append(person)
        if person.active and not o.active:
            leaving.append(person)
        elif not person.active and o.active:
            person.active = True
            outcome.updated += 1
            log.info("people sync: %s is active again", email)
    uow.people.add_many(new)
    _link_managers(uow, deps, touched, problems, outcome, source=owners[0].source if owners else "crm")
    uow.directory.note_problems(problems, at=now)
    uow.directory.clear_problems(
        [p.email for p in touched if not any(x["subject"] == p.email for x in problems)], CRM_KINDS
    )
    for person in leaving:
        if left(uow, deps, person, why="inactive in the CRM"):
            outcome.left += 1
    return outcome


def _new_person(uow: UnitOfWork, deps: Deps, *, email: str, name: str, team: str, source: str, **extra):
    return uow.people.new(
        key=_key_for(email),
        name=name[:200],
        email=email,
        team=team,
        role="rep",
        source=source,
        timezone=deps.config.team_timezone(team),
        **extra,
    )


def _apply(person, changes: dict) -> bool:
    changed = False
    for k, v in changes.items():
        if getattr(person, k) != v:
            setattr(person, k, v)
            changed = True
    return changed


def _link_managers(
    uow: UnitOfWork, deps: Deps, touched: list, problems: list[dict], outcome: Outcome, *, source: str
) -> None:
    """Each touched person's manager from their manager's email (unless the config names one),
    and anyone waiting for one of them as their manager; a link that would close a loop is not
    made (a problem line)."""
    configured = _configured(deps)
    waiting = uow.people.waiting_for_manager([p.email for p in touched])
    # Those waiting first: their manager was named earlier, so a link that closes a loop is the new one.
    candidates = {p.id: p for p in [*waiting, *touched]}
    wanted_emails = {p.manager_email for p in candidates.values() if p.manager_email}
    managers = uow.people.by_emails(wanted_emails)
    chain = uow.people.manager_map()
    for person in candidates.values():
        pc = configured.get(person.email)
        if pc is not None and pc.manager:
            continue  # the config decides
        manager = managers.get(person.manager_email) if person.manager_email else None
        new = manager.id if manager is not None else None
        if new == person.id:
            new = None
        if new == person.manager_id:
            continue
        old = chain.get(person.id)
        chain[person.id] = new
        loop = _loop(chain, person.id)
        if loop:
            chain[person.id] = old
            names = " → ".join(_email_of(candidates, managers, uow, i) for i in loop)
            _problem(
                problems,
                outcome,
                source=source,
                kind="manager_loop",
                subject=person.email,
                detail=f"manager loop: {names}: {person.email}'s manager is not changed; fix the managers "
                "in the CRM, or name one under people: in the config",
            )
            continue
        person.manager_id = new
        outcome.updated += 1
        if manager is not None and manager.role == "rep" and manager.source != "yaml":
            manager.role = "manager"


def _loop(chain: dict, start: int) -> list[int]:
    seen, path = set(), []
    at: int | None = start
    while at is not None and at not in seen:
        seen.add(at)
        path.append(at)
        at = chain.get(at)
    if at == start:
        return [*path, start]
    return []


def _email_of(candidates, managers, uow, pid: int) -> str:
    p = candidates.get(pid) or next((m for m in managers.values() if m.id == pid), None) or uow.people.get(pid)
    return p.email if p else str(pid)


# --- leavers -----------------------------------------------------------------------------------


def left(uow: UnitOfWork, deps: Deps, person, *, why: str = "left") -> bool:
    """The person left: they receive nothing from now on, their open leads go to their manager's
    queue (reassigned; the clocks run on) or, with no manager, to the sales channel to be claimed,
    and the manager is told once. False if they were inactive already (another sync got there)."""
    from handlers import lifecycle

    if not uow.people.deactivate(person.id):
        return False
    manager = active_manager(uow, person)
    leads = lifecycle.owner_left(uow, deps, person, manager)
    log.info(
        "people sync: %s %s; %d open lead(s) to %s",
        person.email,
        why,
        len(leads),
        manager.email if manager else "the sales channel",
    )
    if manager is not None:
        names = ", ".join(lead.name or lead.email or lead.crm_id for lead in leads[:20])
        more = f" and {len(leads) - 20} more" if len(leads) > 20 else ""
        text = f"{person.name} has left ({why}). " + (
            f"Their {len(leads)} open lead(s) are yours now: {names}{more}." if leads else "They had no open leads."
        )
        payload = Message(
            text=text,
            blocks=[
                Section(
                    text=f"👋 {mention(person.id)} has left ({why}). "
                    + (
                        f"Their {len(leads)} open lead(s) are in your queue now: {names}{more}."
                        if leads
                        else "They had no open leads."
                    )
                ),
                Context(text="Reassign any of them with `/smarketing reassign <lead> <person>`."),
            ],
        ).to_json()
        _tell_manager(uow, deps, manager, person, "left", payload)
    return True


def back(uow: UnitOfWork, deps: Deps, person, *, why: str) -> None:
    """Someone who had left is active again: they receive their messages from now on, and their
    manager is told. The leads handed over when they left stay where they went (the manager knows
    which, and gives any back with ``/smarketing reassign``)."""
    person.active = True
    manager = active_manager(uow, person)
    log.info("people sync: %s is back (%s)", person.email, why)
    if manager is None:
        return
    reassign = "/smarketing reassign <lead> " + (person.email or person.name)
    payload = Message(
        text=f"{person.name} is back ({why}). The leads handed to you when they left are still yours: "
        f"give any back with {reassign}.",
        blocks=[
            Section(text=f"👋 {mention(person.id)} is back ({why}) and receives their alerts again."),
            Context(text=f"The leads handed to you when they left are still yours: give any back with `{reassign}`."),
        ],
    ).to_json()
    _tell_manager(uow, deps, manager, person, "back", payload)


def _tell_manager(uow: UnitOfWork, deps: Deps, manager, person, what: str, payload: dict) -> None:
    """One DM to the manager of someone who left or came back (``what``: ``left``, ``back``),
    through the delivery policy like every message."""
    from handlers import notify

    notify.send(
        uow,
        deps,
        to=dm(manager.id),
        role="left",
        subject=None,
        payload=payload,
        key=f"people:{what}:{person.id}:{deps.now():%Y%m%dT%H%M%S}",
    )


def active_manager(uow: UnitOfWork, person):
    """The person's nearest manager up the chain who is still active (None: nobody)."""
    seen = {person.id}
    at = uow.people.get(person.manager_id) if person.manager_id else None
    while at is not None and not at.active and at.id not in seen:
        seen.add(at.id)
        at = uow.people.get(at.manager_id) if at.manager_id else None
    return at if at is not None and at.active else None


# --- the chat directory ------------------------------------------------------------------------


@dataclass
class Account:
    """One chat account as the platform's directory lists it."""

    account_id: str
    email: str | None
    name: str = ""
    deleted: bool = False
    bot: bool = False
    team: str | None = None  # from the team's user group / channel


def _row(a: Account) -> dict:
    return dict(
        account_id=a.account_id,
        email=(a.email or "").strip().lower() or None,
        name=(a.name or "")[:300],
        deleted=a.deleted,
        team=a.team,
    )


def changed_accounts(uow: UnitOfWork, platform: str, accounts: list[Account]) -> list[Account]:
    """Those of a directory page's accounts that differ from what was last synced (a read: a page
    with no change costs no write transaction at all)."""
    accounts = [a for a in accounts if not a.bot]
    before = uow.directory.accounts(platform, (a.account_id for a in accounts))
    return [a for a in accounts if before.get(a.account_id) != _row(a)]


def sync_accounts(
    uow, deps: Deps, platform: str, accounts: list[Account], *, teams_known: bool = True, why_left: str | None = None
) -> Outcome:
    """Apply one page of a platform's directory (or one ``user_change`` event): remember what
    changed, link accounts to people by email, create people for accounts in a team, deactivate
    people whose account was deleted (``why_left``: how the manager is told they left; default,
    their account was deactivated). Unchanged accounts cost no write. ``teams_known`` False
    (an event, which says nothing of user groups): each account keeps the team last synced.
    The caller commits."""
    now, outcome, problems = deps.now(), Outcome(), list[dict]()
    accounts = [a for a in accounts if not a.bot]
    before = uow.directory.accounts(platform, (a.account_id for a in accounts))
    rows = []
    for a in accounts:
        if not teams_known and a.account_id in before:
            a.team = before[a.account_id]["team"]
        a.email = (a.email or "").strip().lower() or None
        row = dict(account_id=a.account_id, email=a.email, name=(a.name or "")[:300], deleted=a.deleted, team=a.team)
        if before.get(a.account_id) != row:
            rows.append(row)
    if not rows:
        return outcome
    changed = {r["account_id"] for r in rows}
    outcome.saved = uow.directory.save_accounts(platform, rows, at=now)
    todo = [a for a in accounts if a.account_id in changed]
    for a in todo:
        if not a.email and not a.deleted:
            _problem(
                problems,
                outcome,
                source=platform,
                kind="no_email",
                subject=f"{platform}:{a.account_id}",
                detail=f"{identity.PLATFORM_NAMES[platform]} user {a.name or a.account_id} ({a.account_id}) has "
                "no email in their profile: not matched to anyone (link them by hand)",
            )
    uow.directory.clear_problems([f"{platform}:{a.account_id}" for a in todo if a.email or a.deleted], ["no_email"])
    by_email = uow.people.by_emails(a.email for a in todo if a.email)
    by_account = uow.people.by_accounts(platform, (a.account_id for a in todo))
    configured = _configured(deps)
    column = uow.people.ACCOUNT_COLUMNS[platform]
    links: list[tuple[Person, str]] = []
    new: list = []
    for a in todo:
        person = by_account.get(a.account_id) or (by_email.get(a.email) if a.email else None)
        if a.deleted:
            if person is not None and getattr(person, column) in (a.account_id, None) and person.active:
                if left(
                    uow,
                    deps,
                    person,
                    why=why_left or f"their {identity.PLATFORM_NAMES[platform]} account was deactivated",
                ):
                    outcome.left += 1
            continue
        if not a.email:
            continue
        if (
            person is not None
            and not person.active
            and (before.get(a.account_id) or {}).get("deleted")
            and getattr(person, column) in (a.account_id, None)
        ):
            # Deactivated on the platform before, active there again (back from leave, rehired):
            # they receive their messages again. Only on that change: someone the CRM marks
            # inactive is not brought back by an unrelated edit of their chat profile.
            back(uow, deps, person, why=f"their {identity.PLATFORM_NAMES[platform]} account is active again")
            outcome.updated += 1
        if person is None:
            if a.team not in TEAMS:
                continue  # in no team: listed by /smarketing people
            person = _new_person(uow, deps, email=a.email, name=a.name or a.email, team=a.team, source=platform)
            new.append(person)
            by_email[a.email] = person
            outcome.created += 1
        elif person.source == platform and person.email not in configured:
            changes = {"name": a.name[:200]} if a.name else {}
            if a.team in TEAMS:
                changes["team"] = a.team
            if _apply(person, changes):
                outcome.updated += 1
        if getattr(person, column) is None:
            links.append((person, a.account_id))
    uow.people.add_many(new)
    outcome.linked += identity.link_directory(uow, platform, links, by_account)
    uow.directory.note_problems(problems, at=now)
    return outcome


def unknown_group(
    uow: UnitOfWork, deps: Deps, platform: str, team: str, group: str, why: str, *, what: str = "user group"
) -> None:
    """A team's member list (a Slack user group, a Teams channel or team) that cannot be read:
    a line in ``/smarketing people`` and the log."""
    detail = (
        f"teams.{team}.members: the {identity.PLATFORM_NAMES[platform]} {what} {group} {why}: "
        f"nobody is added to {team} from it (check the id in the config)"
    )
    log.warning("people sync (%s): %s", platform, detail)
    uow.directory.note_problems(
        [dict(source=platform, kind="unknown_usergroup", subject=group, detail=detail)], at=deps.now()
    )


# --- the CRM webhook ---------------------------------------------------------------------------


def owners_upserted(uow: UnitOfWork, deps: Deps, events) -> None:
    """``owner.upserted`` events (``handlers.events.OwnerData``)."""
    outcome = upsert_owners(
        uow,
        deps,
        [
            Owner(
                source="crm",
                email=e.data.email,
                name=e.data.name,
                team=e.data.team,
                manager_email=e.data.manager_email,
                active=e.data.active,
                owner_id=e.data.id,
            )
            for e in events
        ],
    )
    log.info("owner.upserted: %s", outcome)


# --- /smarketing people (admins) -------------------------------------------------------------

SHOWN = 7  # per list: a Slack message has 50 blocks at most
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_TEAMS_ID = re.compile(r"^(29:|8:orgid:)[A-Za-z0-9_:.\-]{4,190}$")


def _admin(uow: UnitOfWork, actor: Actor):
    from handlers import lifecycle

    person = lifecycle.person_of(uow, actor)
    if not person.is_admin:
        raise NotAllowed("Only admins can see and fix where people come from.")
    return person


def review(uow: UnitOfWork) -> dict:
    """What ``/smarketing people`` lists: owners with no chat account, chat accounts in no team,
    problems; and counts."""
    everyone = uow.people.all()
    unlinked = [p for p in everyone if p.active and not p.slack_user_id and not p.teams_user_id]
    counts: dict[str, int] = {}
    for p in everyone:
        counts[p.source] = counts.get(p.source, 0) + 1
    return dict(
        unlinked=unlinked,
        loose=list(uow.directory.unmatched(limit=200)),
        problems=list(uow.directory.problems()),
        counts=counts,
        left=sum(1 for p in everyone if not p.active),
        total=len(everyone),
    )


def people_message(uow: UnitOfWork) -> Message:
    r = review(uow)
    names = {"yaml": "the config", "crm": "the CRM", "slack": "Slack", "teams": "Teams"}
    where = ", ".join(f"{n} from {names.get(k, k)}" for k, n in sorted(r["counts"].items()))
    blocks: list = [
        Header(text="People: where they come from"),
        Section(text=f"{r['total']} people ({where or 'none yet'}); {r['left']} left."),
    ]

    def listing(title: str, rows: list, line, buttons) -> None:
        if not rows:
            return
        blocks.append(Section(text=f"*{title}* ({len(rows)})"))
        for row in rows[:SHOWN]:
            blocks.append(Section(text=line(row)))
            blocks.append(Actions(buttons=buttons(row)))
        if len(rows) > SHOWN:
            blocks.append(Context(text=f"…and {len(rows) - SHOWN} more: fix these first, or see the log."))

    listing(
        "Problems",
        r["problems"],
        lambda p: f"⚠️ {p.detail}",
        lambda p: [Button(label="Mark fixed", action="people.dismiss", value=str(p.id))],
    )
    listing(
        "No chat account",
        r["unlinked"],
        lambda p: f"{p.name} <{p.email}> ({p.team}, from {names.get(p.source, p.source)})",
        lambda p: [Button(label="Link by hand", action="people.link", value=str(p.id))],
    )
    listing(
        "Chat users in no team",
        r["loose"],
        lambda a: (
            f"{a.name or a.account_id} <{a.email or 'no email'}> ({identity.PLATFORM_NAMES.get(a.platform, a.platform)})"
        ),
        lambda a: [Button(label=f"Add to {t}", action="people.add", value=f"{t}:{a.id}") for t in TEAMS],
    )
    if len(blocks) == 2:
        blocks.append(Section(text="Nothing to fix: everyone is linked and in a team."))
    text = (
        f"People: {len(r['problems'])} problem(s), {len(r['unlinked'])} without a chat account, "
        f"{len(r['loose'])} chat user(s) in no team"
    )
    return Message(text=text, blocks=blocks)


def people_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    _admin(uow, actor)
    return Reply(message=people_message(uow))


def dismiss_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source) -> Reply:
    admin = _admin(uow, actor)
    row = uow.directory.delete_problem(int(value)) if value.isdigit() else None
    if row is None:
        return Reply.say("That line is gone already (fixed, or a sync cleared it).")
    uow.commit()
    log.info("people: %s marked fixed by %s: %s", row.subject, admin.key, row.detail)
    return Reply.say(f"Marked fixed: {row.subject}. If the next sync still finds it, it is listed again.")


def link_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source) -> Reply:
    _admin(uow, actor)
    person = uow.people.get(int(value)) if value.isdigit() else None
    if person is None:
        return Reply.say("That person is no longer here.")
    return Reply(
        form=Form(
            title="Link a chat account",
            action="people.link",
            submit_label="Link",
            state=str(person.id),
            blocks=[Section(text=f"Link {person.name} <{person.email}> to their chat account.")],
            inputs=[Input(name="account", label="Slack user id (U…) or Teams user id (29:…)", max_length=200)],
        )
    )


def link_form(uow: UnitOfWork, deps: Deps, actor: Actor, state: str, values: dict) -> Reply:
    admin = _admin(uow, actor)
    person = uow.people.get(int(state)) if state.isdigit() else None
    if person is None:
        return Reply(errors={}, text="That person is no longer here.")
    account = (values.get("account") or "").strip()
    platform = "slack" if _SLACK_ID.fullmatch(account) else "teams" if _TEAMS_ID.fullmatch(account) else None
    if platform is None:
        return Reply(
            errors={
                "account": "Give a Slack user id like U012AB3CD (their profile → ⋮ → Copy member ID) "
                "or a Teams user id like 29:1a2b…"
            }
        )
    identity.link_by_hand(uow, platform, person, account)
    person.linked_manually = True
    uow.people.add(person)
    uow.commit()
    log.info("people: %s linked by hand to %s account %s by %s", person.key, platform, account, admin.key)
    return Reply.say(
        f"{person.name} is linked to {identity.PLATFORM_NAMES[platform]} account {account}. "
        "To keep it across restarts, add it to the config (`slack_id` / `teams_id`)."
    )


def add_button(uow: UnitOfWork, deps: Deps, actor: Actor, value: str, source) -> Reply:
    admin = _admin(uow, actor)
    team, _, account_id = value.partition(":")
    account = uow.directory.account(int(account_id)) if account_id.isdigit() else None
    if team not in TEAMS or account is None:
        return Reply.say("That chat user is no longer listed.")
    if not account.email:
        return Reply.say(
            f"{account.name or account.account_id} has no email in their profile: add it there (or "
            "list them under people: in the config with `slack_id`/`teams_id`)."
        )
    person = uow.people.by_email(account.email)
    if person is None:
        person = uow.people.add(
            _new_person(
                uow, deps, email=account.email, name=account.name or account.email, team=team, source=account.platform
            )
        )
    identity.link_person(uow, account.platform, person.id, account.account_id)
    uow.commit()
    log.info("people: %s added to %s by %s", account.email, team, admin.key)
    return Reply.say(f"{person.name} is in {person.team} now.")


FLOW = Flow(
    name="directory",
    events={"owner.upserted": owners_upserted},
    commands={"people": people_command},
    actions={"people.dismiss": dismiss_button, "people.link": link_button, "people.add": add_button},
    forms={"people.link": link_form},
    help=[("people", "admins: where people come from, who is not linked or in no team, and what to fix")],
)
