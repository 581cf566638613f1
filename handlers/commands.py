"""The entry every adapter calls: a command, a button press or a form submission, run as one
unit of work. Domain errors become the short answer the person sees; nothing is committed.

This is also the edge where text typed on any platform enters: it passes through
``messages.inert`` here, once, so no handler sees a mention marker, a NUL or a lone surrogate."""

from __future__ import annotations

import logging

from handlers.errors import UserError
from handlers.messages import Reply, inert
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


def run_command(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, text: str) -> Reply:
    if actor.refused:
        return Reply.say(actor.refused)
    sub, args = split_command(inert(text or ""))
    fn = registry.commands.get(sub)
    if fn is None:
        known = ", ".join(f"`{c}`" for c in sorted(registry.commands))
        return Reply.say(f"I don't know `{sub[:40]}`. Try `{COMMAND} help` — I know {known}.")
    with uow_factory() as uow:
        try:
            return fn(uow, deps, actor, args)
        except UserError as e:
            return Reply.say(e.text)


def run_action(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, action: str,
               value: str, ref: MessageRef | None = None) -> Reply | None:
    if actor.refused:
        return Reply.say(actor.refused)
    fn = registry.actions.get(action)
    if fn is None:
        log.warning("no handler for action %r", action)
        return Reply.say("That button no longer does anything — the message may be out of date.")
    with uow_factory() as uow:
        try:
            return fn(uow, deps, actor, inert(value or ""), ref)
        except UserError as e:
            return Reply.say(e.text)


def run_form(registry: Registry, uow_factory: UowFactory, deps: Deps, actor: Actor, action: str,
             state: str, values: dict[str, str | None]) -> Reply | None:
    if actor.refused:
        return Reply(errors={}, text=actor.refused)
    fn = registry.forms.get(action)
    if fn is None:
        log.warning("no handler for form %r", action)
        return Reply(errors={}, text="This form is out of date; please open it again.")
    values = {inert(k): (inert(v) if isinstance(v, str) else None) for k, v in (values or {}).items()}
    with uow_factory() as uow:
        try:
            return fn(uow, deps, actor, inert(state or ""), values)
        except UserError as e:
            field = getattr(e, "field", None)
            if field:
                return Reply(errors={field: e.text})
            return Reply.say(e.text)
