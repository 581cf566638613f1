"""The entry every adapter calls: a command, a button press or a form submission, run as one
unit of work. Domain errors become the short answer the person sees; nothing is committed."""

from __future__ import annotations

import logging

from handlers.errors import UserError
from handlers.messages import Reply
from handlers.ports import Actor, Deps
from handlers.registry import MessageRef, Registry
from storage.db import UowFactory

log = logging.getLogger(__name__)

COMMAND = "/smarketing"


def split_command(text: str) -> tuple[str, str]:
    words = (text or "").strip().split(maxsplit=1)
    if not words:
        return "help", ""
    return words[0].lower(), (words[1] if len(words) > 1 else "")


def run_command(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, text: str, *,
                once: tuple[str, str] | None = None) -> Reply | None:
    """Run a command. ``once=(source, id)`` names the inbound event that carries it (a Slack
    event_id, a Teams activity id), which a platform may deliver again: the id is recorded in
    the same transaction as the command's work, or right after a command that writes nothing,
    so the event counts as handled only once its work is committed. None when it was handled
    before (nothing is done)."""
    sub, args = split_command(text)
    fn = registry.commands.get(sub)
    with uow_factory() as uow:
        if once is not None and not uow.inbound.claim(once[0], [once[1]], deps.now()):
            return None
        commits = uow.commits
        if fn is None:
            known = ", ".join(f"`{c}`" for c in sorted(registry.commands))
            reply = Reply.say(f"I don't know `{sub[:40]}`. Try `{COMMAND} help` — I know {known}.")
        else:
            try:
                reply = fn(uow, deps, actor, args)
            except UserError as e:
                reply = Reply.say(e.text)
        if once is not None and uow.commits == commits:
            # Nothing committed (a read, or a refusal): drop what was left unsaved, keep the id.
            uow.rollback()
            uow.inbound.claim(once[0], [once[1]], deps.now())
            uow.commit()
        return reply


def run_action(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, action: str,
               value: str, ref: MessageRef | None = None) -> Reply | None:
    fn = registry.actions.get(action)
    if fn is None:
        log.warning("no handler for action %r", action)
        return Reply.say("That button no longer does anything — the message may be out of date.")
    with uow_factory() as uow:
        try:
            return fn(uow, deps, actor, value, ref)
        except UserError as e:
            return Reply.say(e.text)


def run_form(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, action: str,
             state: str, values: dict[str, str | None]) -> Reply | None:
    fn = registry.forms.get(action)
    if fn is None:
        log.warning("no handler for form %r", action)
        return Reply(errors={}, text="This form is out of date; please open it again.")
    with uow_factory() as uow:
        try:
            return fn(uow, deps, actor, state, values)
        except UserError as e:
            field = getattr(e, "field", None)
            if field:
                return Reply(errors={field: e.text})
            return Reply.say(e.text)
