"""A home for each person: what they can act on, by role, in one place.

- a **rep**: their qualified leads by urgency with the one-click buttons (*Log follow-up*,
  *Snooze*, *Bounce to marketing*), their SLA line this month, the leads they bounced lately;
- a **sales manager**: the team's queue (open and past-due leads per rep), each rep's SLA line,
  and the open escalations (leads whose ladder reached the manager);
- a **marketer** (a marketing manager: their team's campaigns): their campaigns with the leads
  delivered, bounces by reason and sourced wins this month;
- an **admin**: the company's scoreboard at a glance;
- everyone: the commands behind it (``/smarketing sla``, ``leads``, ``help``) and a *Preferences*
  button to their delivery preferences (``handlers/prefs.py``).

Slack shows it as the App Home (``views.publish`` when the Home tab is opened, and again by the
``home_refresh`` job when what it shows has changed: the home's digest is kept per person, so a
batch of changes publishes once); Teams answers ``home`` with it as a card; the local workspace
shows it on ``home`` and at ``/local/api/home``. It shows due times, not "time left", so it only
changes when something happened.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from handlers import cooling_messages as cviews
from handlers import scoreboard as sb
from handlers import scoreboard_messages as sviews
from handlers.errors import NotAllowed
from handlers.messages import Actions, Button, Context, Divider, Header, Message, Reply, Section, mention
from handlers.ports import Actor, Deps, UnitOfWork, UowFactory
from handlers.registry import Flow, JobResult

MAX_LEADS = 10  # each with its buttons: 3 blocks a lead, well inside Slack's 100 for a Home
MAX_ESCALATIONS = 8
BOUNCE_DAYS = 30
PREFS = "prefs.open"  # handlers/prefs.py: the preferences form


def build_home(uow: UnitOfWork, deps: Deps, person) -> Message:
    """The Home of ``person`` (a ``Person``), as a neutral message."""
    if person is None:
        raise NotAllowed("I don't know who you are yet: ask an admin to add your email to the Smarketing config.")
    scope = sb.scope_of(uow, person)
    tz = ZoneInfo(person.timezone or deps.config.team_timezone(person.team))
    now = deps.now()
    local = now.astimezone(tz)
    period = sb.month_period(local.year, local.month, tz, now)
    board = sb.build(uow, deps, scope, period)
    blocks: list = [Header(text=f"Hi {person.name.split()[0]} — your Smarketing home")]
    if scope.kind == "rep":
        blocks += _rep(uow, deps, person, board, str(tz))
    elif scope.kind == "manager":
        blocks += _manager(uow, deps, scope, board, str(tz))
    elif scope.kind == "marketer":
        blocks += _marketer(board)
    else:
        blocks += _admin(board, deps.config)
    if person.is_admin:
        from handlers import directory

        r = directory.review(uow)
        todo = len(r["problems"]) + len(r["unlinked"]) + len(r["loose"])
        if todo:
            blocks += [
                Section(
                    text=f"*People to check:* {len(r['problems'])} problem(s), {len(r['unlinked'])} without "
                    f"a chat account, {len(r['loose'])} chat user(s) in no team — "
                    "`/smarketing people` lists them with a button to fix each."
                )
            ]
    blocks += [
        Divider(),
        Actions(buttons=[Button(label="Preferences", action=PREFS, value="")]),
        Context(
            text="`/smarketing sla` your scoreboard · `/smarketing leads` your leads · "
            "`/smarketing prefs` your delivery preferences (digest time, warnings one by one or "
            "in your digest) · `/smarketing help` every command · Your timezone or team: ask an "
            "admin to change it in the Smarketing config."
        ),
    ]
    return Message(text=f"Smarketing home of {person.name}", blocks=blocks)


def _line(board) -> str:
    t = board.total
    med = t.first_touch(0.5)[0]
    return (
        f"*Your SLA line ({board.period.label}):* {sviews.versus(t.within_sla, board.targets['within_sla'])} "
        f"within the SLA ({t.in_time} of {t.decided}) · first touch {sviews.hours(med)} (median) · "
        f"{t.delivered} handed to you · {t.converted} won"
    )


def _rep(uow: UnitOfWork, deps: Deps, person, board, tz: str) -> list:
    rows, total = uow.leads.qualified_for_owner(person.id, limit=MAX_LEADS)
    now, snooze = deps.now(), deps.config.sla.ladder.snooze_hours
    out: list = [
        Section(text=_line(board)),
        Divider(),
        Section(
            text=f"*Your qualified leads, most urgent first* ({total})"
            if total
            else "*Your qualified leads:* none waiting on you. 🎉"
        ),
    ]
    for lead in rows:
        card = cviews.LeadCard.of(lead)
        due = lead.sla_due_at
        state = (
            ("🔥 past due since " if due and due <= now else "⏳ due ") + cviews.when(due, tz)
            if due
            else "no SLA running"
        )
        if lead.snoozed_until and lead.snoozed_until > now:
            state += f" · 💤 until {cviews.when(lead.snoozed_until, tz)}"
        out.append(Section(text=f"{card.label} — {state} · `{card.crm_id}`"))
        out.append(
            Actions(
                buttons=[
                    Button(label="Log follow-up", action=cviews.FOLLOW_UP, value=str(lead.id), style="primary"),
                    Button(
                        label=f"Snooze {snooze:g} hour" + ("" if snooze == 1 else "s"),
                        action=cviews.SNOOZE,
                        value=f"{lead.id}:{snooze:g}h",
                    ),
                    Button(label="Bounce to marketing", action=cviews.BOUNCE, value=str(lead.id)),
                ]
            )
        )
    if total > len(rows):
        out.append(Context(text=f"… and {total - len(rows)} more: `/smarketing leads 2`."))
    bounced = uow.scoreboard.bounces_by(person.id, since=now - timedelta(days=BOUNCE_DAYS), limit=8)
    if bounced:
        lines = [
            f"• {cviews.LeadCard.of(lead).label} — {deps.config.reason_label(b.reason) or b.reason}, "
            f"{cviews.day(b.at, tz)}" + (" · back in sales" if b.requalified_at else "")
            for b, lead in bounced
        ]
        out += [Divider(), Section(text=f"*Your bounces (last {BOUNCE_DAYS} days):*\n" + "\n".join(lines))]
    return out


def _manager(uow: UnitOfWork, deps: Deps, scope, board, tz: str) -> list:
    queue = uow.scoreboard.open_by_owner(scope.reps, now=deps.now())
    lines = []
    for line in board.reps:
        n, late = queue.get(line.ref_id, (0, 0))
        lines.append(f"{sviews._rep_line(line)}\n    queue: {n} open" + (f", *{late} past due*" if late else ""))
    out: list = [
        Section(
            text=f"*Your team this month ({board.period.label}):* "
            f"{sviews.versus(board.total.within_sla, board.targets['within_sla'])} within the SLA, "
            f"{board.total.delivered} handed over, {board.total.converted} won"
        ),
        Section(
            text=sviews._clip(
                "*Each rep's queue and SLA line:*\n" + "\n".join(lines)
                if lines
                else "*Your team:* nobody reports to you in the config yet."
            )
        ),
    ]
    escalated = uow.scoreboard.escalated(scope.reps, limit=MAX_ESCALATIONS)
    if escalated:
        out += [Divider(), Section(text="*Open escalations:*")]
        for lead in escalated:
            card = cviews.LeadCard.of(lead)
            out.append(
                Section(
                    text=f"{card.label} — {mention(lead.owner_id)} · past due since "
                    f"{cviews.when(lead.sla_due_at, tz) if lead.sla_due_at else '?'} · `{card.crm_id}`"
                )
            )
            out.append(
                Actions(
                    buttons=[
                        Button(label="Log follow-up", action=cviews.FOLLOW_UP, value=str(lead.id), style="primary"),
                        Button(label="Bounce to marketing", action=cviews.BOUNCE, value=str(lead.id)),
                    ]
                )
            )
    else:
        out.append(Context(text="No open escalations."))
    return out


def _marketer(board) -> list:
    cur = board.currency
    out: list = [
        Section(
            text=f"*Your campaigns this month ({board.period.label}):* "
            f"{board.total.delivered} qualified leads delivered · "
            f"{sviews.money(board.sourced_minor, cur)} of won revenue sourced"
        )
    ]
    camps = [l for l in board.campaigns if l.ref_id is not None]
    if camps:
        out.append(
            Section(text=sviews._clip("\n".join(sviews._campaign_line(l, cur) for l in camps[: sviews.MAX_LINES])))
        )
    else:
        out.append(
            Section(
                text="No campaigns of yours in the CRM yet: campaigns are yours when the CRM names you as their owner."
            )
        )
    if board.reasons:
        out.append(Section(text="*Bounced, by reason:* " + " · ".join(f"{r} {n}" for r, n in board.reasons)))
    return out


def _admin(board, config) -> list:
    if board.empty:
        return [Section(text=sviews.empty_text(board))]
    return [
        Section(
            text=sviews._clip(
                "*The company this month:*\n" + "\n".join(f"• {line}" for line in sviews.summary_lines(board, config))
            )
        ),
        Section(text=f"*Pipeline:* {sviews._pipeline(board)}"),
    ]


# --- entry points ----------------------------------------------------------------------------


def home_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    """``/smarketing home``: your Home (Teams' and the local workspace's way to open it)."""
    person = uow.people.get(actor.person_id) if actor.person_id else None
    return Reply(message=build_home(uow, deps, person))


def opened(uow_factory: UowFactory, deps: Deps, person_id: int, *, force: bool = False) -> Message | None:
    """The Home tab was opened: the Home to publish now, or None when the one published is still
    what it would show (``force``: publish anyway, e.g. the first time). Remembers what it
    returned, so the refresh job only publishes after a change."""
    with getattr(uow_factory, "read", uow_factory)() as uow:  # built without the write lock
        person = uow.people.get(person_id)
        message = build_home(uow, deps, person)
    digest = sb.digest_of(message.to_json())
    with uow_factory() as uow:
        uow.scoreboard.ensure_home(person_id)
        home = uow.scoreboard.home(person_id, for_update=True)
        assert home is not None  # ensure_home made it
        fresh = force or home.digest != digest
        home.opened_at = deps.now()
        if fresh:
            home.digest, home.version, home.published_at = digest, home.version + 1, deps.now()
        uow.scoreboard.save_home(home)
        uow.commit()
    return message if fresh else None


def refresh_job(uow_factory: UowFactory, deps: Deps) -> JobResult:
    """Publish again the Homes whose content changed since they were last published: one outbox
    message per person per pass at most (key ``home:{person}:{version}``), however many changes
    happened in between."""
    with uow_factory() as uow:
        # Nothing new since the last pass (no message, follow-up, bounce, deal or action; the
        # hour unchanged, for what time alone changes): no Home to look at.
        stamp = uow.scoreboard.change_stamp() + [int(deps.now().timestamp() // 3600)]
        if (uow.kv.get("home:stamp") or {}).get("stamp") == stamp:
            return JobResult("home_refresh", 0)
        ids = [h.person_id for h in uow.scoreboard.homes_opened()]
        uow.kv.set("home:stamp", {"stamp": stamp})
        uow.commit()
    done = 0
    for pid in ids:
        with uow_factory() as uow:
            person = uow.people.get(pid)
            if person is None:
                continue
            message = build_home(uow, deps, person)
            digest = sb.digest_of(message.to_json())
            home = uow.scoreboard.home(pid, for_update=True)
            if home is None or home.digest == digest:
                continue
            home.digest, home.version, home.published_at = digest, home.version + 1, deps.now()
            uow.scoreboard.save_home(home)
            if uow.outbox.add(
                key=f"home:{pid}:{home.version}", destination=f"home:{pid}", payload=message.to_json(), at=deps.now()
            ):
                done += 1
            uow.commit()
    return JobResult("home_refresh", done)


FLOW = Flow(
    name="home",
    commands={"home": home_command},
    read_only=frozenset({"home"}),
    jobs={"home_refresh": refresh_job},
    help=[("home", "your Home: your leads, your team's queue or your campaigns, and your scoreboard")],
)
