"""The local workspace's adapter: what the page reads and the acts it turns into handler calls.

Like the Slack adapter it only translates: it reads delivered messages (outbox rows, see
``bot/local/deliver.py``), resolves the demo person chosen on the page into an ``Actor``, calls
``handlers.commands.run_command/run_action/run_form`` and renders the ``Reply``. ``web.py`` puts
HTTP around it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.local import clock, demo_data
from bot.local.render import plain, render_ephemeral, render_form, render_post
from handlers.commands import COMMAND, run_action, run_command, run_form
from handlers.messages import Actions, Message, Reply
from handlers.ports import Actor
from handlers.registry import MessageRef
from storage.db import read_uow
from storage.models import Outbox, Person

log = logging.getLogger(__name__)

PAGE = 50
MAX_PAGE = 200
FEED_LIMIT = 500
IMPORT_ERRORS = 500  # problems a dropped file's answer lists (all are counted)
ROLE_LABELS = {"rep": "Sales rep", "sdr": "SDR", "manager": "Manager", "marketer": "Marketer", "admin": "Admin"}
CHANNEL_ABOUT = {
    "wins": "Deals won, and the campaigns that sourced them",
    "company": "Company-wide news; big wins land here too",
    "sales": "The sales team: escalations, the week ahead",
    "marketing": "The marketing team: bounce-backs, the week ahead",
}
_DATETIME_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


class BadInput(Exception):
    """The page (or whoever posted) sent something we cannot act on; ``text`` says what."""

    def __init__(self, text: str, status: int = 400):
        super().__init__(text)
        self.text = text
        self.status = status


@dataclass
class Conversation:
    id: str  # the outbox destination: channel:<name> or dm:<person id>
    kind: str  # channel | dm
    name: str
    about: str = ""
    person_id: int | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "name": self.name, "about": self.about, "person_id": self.person_id}


def initials(name: str) -> str:
    parts = [p for p in re.split(r"\s+", name.strip()) if p]
    return ("".join(p[0] for p in parts[:2]) or "?").upper()


class LocalWorkspace:
    def __init__(self, container):
        self.c = container

    # -- who and where -----------------------------------------------------------------------
    def _people(self) -> list[Person]:
        with read_uow(self.c.uow_factory) as uow:
            people = list(uow.people.all())
        order = {"manager": 0, "admin": 2}
        return sorted(people, key=lambda p: (p.team != "sales", order.get(p.role, 1), p.name))

    def people(self) -> list[dict]:
        return [
            {
                "id": p.id,
                "name": p.name,
                "team": p.team,
                "role": p.role,
                "role_label": ROLE_LABELS.get(p.role, p.role.title()),
                "timezone": p.timezone,
                "initials": initials(p.name),
                "manager_id": p.manager_id,
            }
            for p in self._people()
        ]

    def conversations(self, people: list[Person] | None = None) -> list[Conversation]:
        out = [
            Conversation(
                f"channel:{name}", "channel", (ch.title or f"#{name}").lstrip("#"), CHANNEL_ABOUT.get(name, "")
            )
            for name, ch in self.c.config.channels.items()
        ]
        for p in people if people is not None else self._people():
            out.append(
                Conversation(f"dm:{p.id}", "dm", p.name, f"Smarketing Bot's messages to {p.name}", person_id=p.id)
            )
        return out

    def conversation(self, conv_id: str) -> Conversation:
        kind, _, name = (conv_id or "").partition(":")
        if kind == "channel" and name in self.c.config.channels:
            return next(c for c in self.conversations([]) if c.id == conv_id)
        if kind == "dm" and name.isdigit():
            with read_uow(self.c.uow_factory) as uow:
                person = uow.people.get(int(name))
            if person is not None:
                return self.conversations([person])[-1]
        raise BadInput(f"No conversation {conv_id[:80]!r}: pick a channel or a person from the sidebar.", 404)

    def _names(self) -> dict[int, str]:
        with read_uow(self.c.uow_factory) as uow:
            return {p.id: p.name for p in uow.people.all()}

    def actor(self, person_id: int) -> tuple[Actor, Person]:
        with read_uow(self.c.uow_factory) as uow:
            person = uow.people.get(person_id)
        if person is None:
            raise BadInput(f"No person with id {person_id}: choose who you are from the list.", 400)
        return Actor(person.id, "local", None, person.name), person

    def initial_state(self) -> dict:
        people = self._people()
        reps = [p for p in people if p.team == "sales" and p.role in ("rep", "sdr")]
        with read_uow(self.c.uow_factory) as uow:
            cursor = uow.outbox.feed_cursor()
        first_channel = (
            "channel:wins" if "wins" in self.c.config.channels else f"channel:{next(iter(self.c.config.channels))}"
        )
        return {
            "company": self.c.config.company,
            "command": COMMAND,
            "people": self.people(),
            "conversations": [c.as_dict() for c in self.conversations(people)],
            "default_person": (reps or people)[0].id if people else None,
            "default_conversation": first_channel,
            "clock": clock.describe(self.c),
            "cursor": cursor,
            "flows": self.flows(),
        }

    def flows(self) -> dict:
        r = self.c.registry
        return {"commands": sorted(r.commands), "events": sorted(r.events), "jobs": sorted(r.jobs)}

    # -- reading -----------------------------------------------------------------------------
    def _render(self, row: Outbox, names: dict[int, str]) -> dict:
        return render_post(row_id=row.id, key=row.key, payload=row.payload, at=row.created_at, names=names)

    def history(self, conv_id: str, *, before: int | None = None, limit: int = PAGE) -> dict:
        """A page of a conversation's messages, oldest first, ending before message ``before``."""
        conv = self.conversation(conv_id)
        limit = max(1, min(limit, MAX_PAGE))
        with read_uow(self.c.uow_factory) as uow:
            # The cursor is read first: whatever is delivered after it is in the page's next poll.
            cursor = uow.outbox.feed_cursor()
            rows = list(uow.outbox.for_destination(conv.id, limit=limit + 1, before_id=before))
        names = self._names()
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "conversation": conv.as_dict(),
            "messages": [self._render(r, names) for r in reversed(rows)],
            "has_more": more,
            "cursor": cursor,
        }

    def changes(self, after: int, conv_id: str | None) -> dict:
        """What happened since cursor ``after``: new and updated messages of the open
        conversation, the ids of new posts elsewhere (for unread counts), the new cursor.

        The cursor stops before the first message still on its way, so a message delivered
        out of order is never skipped; the page ignores what it already shows."""
        clock.sync(self.c)
        conv = self.conversation(conv_id) if conv_id else None
        with read_uow(self.c.uow_factory) as uow:
            rows = list(uow.outbox.since(after, limit=FEED_LIMIT))
            cursor, blocked = after, False
            shown: dict[int, Outbox] = {}
            elsewhere: list[dict] = []
            targets: set[str] = set()
            for r in rows:
                if r.status not in ("sent", "dead"):
                    blocked = True
                if not blocked:
                    cursor = r.id
                if r.status != "sent":
                    continue
                if r.op == "post":
                    if conv is not None and r.destination == conv.id:
                        shown[r.id] = r
                    else:
                        elsewhere.append({"id": r.id, "conversation": r.destination})
                elif r.target_key:
                    targets.add(r.target_key)
            for t in uow.outbox.many_by_key(targets).values():
                if conv is not None and t.destination == conv.id and t.op == "post" and t.status == "sent":
                    shown[t.id] = t
        names = self._names() if shown else {}
        return {
            "cursor": cursor,
            "more": len(rows) == FEED_LIMIT and not blocked,
            "messages": [self._render(shown[i], names) for i in sorted(shown)],
            "elsewhere": elsewhere,
            "clock": clock.describe(self.c),
        }

    # -- acting ------------------------------------------------------------------------------
    def _answer(self, reply: Reply | None, person: Person, note: str = "") -> dict:
        out: dict = {"ephemeral": None, "form": None}
        if reply is None:
            return out
        names = self._names()
        if reply.form is not None:
            out["form"] = render_form(reply.form, names, tz=person.timezone)
        if not reply.errors:
            out["ephemeral"] = render_ephemeral(reply, names, note=note)
        return out

    def command(self, person_id: int, text: str) -> dict:
        actor, person = self.actor(person_id)
        words = (text or "").strip()
        if re.match(r"^/smarketing\b", words, re.I):
            words = words[len("/smarketing") :].strip()
        elif words.startswith("/"):
            raise BadInput(f"Only {COMMAND} commands run here (try {COMMAND} help).")
        reply = run_command(self.c.registry, self.c.uow_factory, self.c.deps, actor, words)
        self.c.wake()
        return self._answer(reply, person, note=f"{COMMAND} {words}".strip())

    def home(self, person_id: int) -> dict:
        """The person's Home (what Slack shows in its Home tab), rendered: its buttons act with
        no message behind them, as on Slack's Home."""
        from handlers.home import build_home

        _actor, person = self.actor(person_id)
        with read_uow(self.c.uow_factory) as uow:
            message = build_home(uow, self.c.deps, uow.people.get(person.id))
        return {
            "person_id": person.id,
            "message": message.to_json(),
            "html": render_ephemeral(Reply(message=message), self._names(), note="Your Home"),
        }

    def action(self, person_id: int, key: str | None, action: str, value: str) -> dict:
        """A button pressed on message ``key``, or on an answer only this person sees (no key)."""
        actor, person = self.actor(person_id)
        if key is None:
            reply = run_action(self.c.registry, self.c.uow_factory, self.c.deps, actor, action, value, None)
            self.c.wake()
            return self._answer(reply, person)
        with read_uow(self.c.uow_factory) as uow:
            row = uow.outbox.by_key(key)
            # Its newest content, counting updates still on their way: a button an update has
            # already taken away does nothing.
            current = uow.outbox.current_payload(key) if row is not None else None
        if row is None or row.op != "post" or row.status != "sent":
            raise BadInput("That message no longer exists.", 404)
        buttons = [
            b
            for block in Message.from_json(current or row.payload).blocks
            if isinstance(block, Actions)
            for b in block.buttons
        ]
        # A button whose value names the state it was shown in (``<lead>@<version>``) goes to its
        # handler even when an update has taken it away: the handler does nothing and says what
        # happened, in words ("Ana Torres bounced this lead to marketing at 10:05").
        if not any(b.action == action and b.value == value for b in buttons) and "@" not in value:
            raise BadInput("That button is no longer on this message: it has changed since the page showed it.", 409)
        ref = MessageRef(outbox_key=row.key, platform="local", channel=row.destination, ts=str(row.id))
        reply = run_action(self.c.registry, self.c.uow_factory, self.c.deps, actor, action, value, ref)
        self.c.wake()
        return self._answer(reply, person)

    def submit(
        self, person_id: int, action: str, state: str, values: dict[str, str | None], datetimes: list[str]
    ) -> dict:
        actor, person = self.actor(person_id)
        clean: dict[str, str | None] = {}
        for name, value in values.items():
            value = value if value not in (None, "") else None
            if value is not None and name in datetimes:
                value = self._epoch(name, value, person.timezone)
            clean[name] = value
        reply = run_form(self.c.registry, self.c.uow_factory, self.c.deps, actor, action, state, clean)
        self.c.wake()
        if reply is not None and reply.errors is not None and (reply.errors or reply.text):
            return {"errors": reply.errors, "form_error": reply.text if not reply.errors else None}
        return {"errors": None, **self._answer(reply, person)}

    @staticmethod
    def _epoch(name: str, value: str, tz: str) -> str:
        """A ``datetime-local`` value, read in the person's timezone, as epoch seconds: what
        Slack's datetime picker sends, so form handlers see one format."""
        if not _DATETIME_LOCAL.match(value):
            raise BadInput(f"{name}: expected a date and time like 2026-11-23T09:30.")
        try:
            moment = datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz))
        except ValueError:
            raise BadInput(f"{name}: {value!r} is not a real date and time.") from None
        return str(int(moment.timestamp()))

    # -- the demo controls -------------------------------------------------------------------
    def move_clock(self, *, to: str | None = None, hours: float | None = None) -> dict:
        now = self.c.deps.now()
        if to == "hour":
            delta = timedelta(hours=1)
        elif to == "day":
            delta = timedelta(days=1)
        elif to == "monday":
            tzs = [tc.timezone for tc in self.c.config.teams.values()]
            delta = clock.next_monday(now, tzs) - now
        elif hours is not None:
            delta = timedelta(hours=hours)
        else:
            raise BadInput("Say how far to move: to = hour, day or monday, or a number of hours.")
        try:
            result = clock.advance(self.c, delta, life=clock.living(self.c))
        except ValueError as e:
            raise BadInput(str(e)) from None
        self.c.wake()
        jobs = ", ".join(f"{n} {d}" for n, d in sorted(result.jobs.items()) if d) or "nothing was due"
        failed = f" Failed: {', '.join(sorted(result.failed))} (see the log)." if result.failed else ""
        told = clock.told(result) if result.life is not None else ""
        life = f" {told}" if told else ""
        return {"clock": clock.describe(self.c), "notice": f"Moved on {_span(delta)}. Jobs: {jobs}.{life}{failed}"}

    def simulate(self, what: str) -> dict:
        needs = {"deal": "deal.closed_won", "lead": "lead.qualified"}.get(what)
        if needs is None:
            raise BadInput("Simulate what? Choose deal or lead.")
        if needs not in self.c.registry.events:
            raise BadInput(f"No flow in this version handles {needs} events yet, so there is nothing to see.", 409)
        if what == "deal":
            events = [demo_data.deal_event(self.c)]
            data = events[0]["data"]
            from handlers.money import format_money, to_minor

            cur = data["currency"]
            notice = f"{data['name']} closed won ({format_money(to_minor(data['amount'], cur), cur)}): watch #wins."
        else:
            events = demo_data.lead_events(self.c)
            data = events[-1]["data"]
            notice = f"{data['name']} of {data['company']} was handed to sales as qualified: watch the owner's DM."
        demo_data.feed(self.c, events)
        return {"notice": notice}

    def import_file(self, path, opts) -> dict:
        """A dropped spreadsheet, through the same importer as ``python -m bot import``: the
        summary and the first ``IMPORT_ERRORS`` problems (row, column, value, problem)."""
        from bot.imports.importer import Importer, ImportProblem, Options

        errors: list[dict] = []
        total = 0

        def on_error(e) -> None:
            nonlocal total
            total += 1
            if len(errors) < IMPORT_ERRORS:
                errors.append(e.as_dict())

        importer = Importer(registry=self.c.registry, uow_factory=self.c.uow_factory, deps=self.c.deps)
        try:
            report = importer.run(
                path,
                Options(kind=opts.kind, dry_run=opts.dry_run, order=opts.order),
                on_error=on_error,
                filename=opts.filename,
            )
        except ImportProblem as e:
            raise BadInput(f"{opts.filename}: {e}. Nothing was imported.") from None
        if not opts.dry_run and report.loaded:
            self.c.wake()
        return {**report.as_dict(), "errors": errors, "errors_total": total}

    def preview(self, row: Outbox, names: dict[int, str]) -> str:
        """One line of a message (the CLI's summary)."""
        msg = Message.from_json(row.payload)
        return plain(msg.text, names).splitlines()[0][:140] if msg.text.strip() else "(message)"


def _span(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} day{'s' * (days != 1)}" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p) or "0 min"
