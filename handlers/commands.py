"""The entry every adapter calls: a command, a button press or a form submission, run as one
unit of work. Domain errors become the short answer the person sees; nothing is committed.

This is also the edge where text typed on any platform enters: it passes through
``messages.inert`` here, once, so no handler sees a mention marker, a NUL or a lone surrogate."""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from handlers.errors import UserError
from handlers.messages import Message, Reply, inert
from handlers.ports import Actor, Deps, UnitOfWork
from handlers.registry import MessageRef, Registry
from handlers.ports import UowFactory

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMAND = "/smarketing"


def split_command(text: str) -> tuple[str, str]:
    words = (text or "").strip().split(maxsplit=1)
    if not words:
        return "help", ""
    return words[0].lower(), (words[1] if len(words) > 1 else "")


def run_command(
    registry: Registry,
    uow_factory: UowFactory,
    deps: Deps,
    actor: Actor,
    text: str,
    *,
    once: tuple[str, str] | None = None,
    reply_to: str | None = None,
    reply_message: Callable[[Reply], Message | None] = Reply.as_message,
) -> Reply | None:
    """Run a command and return its reply.

    ``once=(source, id)`` names the inbound event that carries the command (a Slack event_id, a
    Teams activity id), which the platform may deliver again after a failure. The command's work
    and the event's id are committed together (the handler's own commits are deferred to that
    one): the event counts as handled exactly when its work is done. With ``reply_to`` (an
    outbox destination) the reply (``reply_message(reply)``) is queued in that same transaction
    too, so a crash can neither lose it nor say it twice. None when the event was handled before
    (nothing is done)."""
    if actor.refused and once is None:
        return Reply.say(actor.refused)
    sub, args = split_command(inert(text or ""))
    fn = registry.commands.get(sub)
    if once is None:
        if fn is None:
            known = ", ".join(f"`{c}`" for c in sorted(registry.commands))
            return Reply.say(f"I don't know `{sub[:40]}`. Try `{COMMAND} help` — I know {known}.")

        def command(uow: UnitOfWork) -> Reply:
            try:
                return fn(uow, deps, actor, args)
            except UserError as e:
                return Reply.say(e.text)

        read = getattr(uow_factory, "read", None)
        if sub in registry.read_only and read is not None:
            with read() as uow:  # reads only: one unit of work, no write lock
                return command(uow)
        return _in_unit_of_work(uow_factory, command)
    with uow_factory() as uow:
        if once is not None:
            if not uow.inbound.claim(once[0], [once[1]], deps.now()):
                return None
            uow.defer_commits()
        if actor.refused:  # a second account for a linked person: told so, nothing done
            reply = Reply.say(actor.refused)
        elif fn is None:
            known = ", ".join(f"`{c}`" for c in sorted(registry.commands))
            reply = Reply.say(f"I don't know `{sub[:40]}`. Try `{COMMAND} help` — I know {known}.")
        else:
            try:
                reply = fn(uow, deps, actor, args)
            except UserError as e:
                reply = Reply.say(e.text)
                if once is not None:  # nothing of a refused command is kept, but the event is handled
                    uow.rollback()
                    uow.inbound.claim(once[0], [once[1]], deps.now())
        if once is not None:
            message = reply_message(reply) if reply_to is not None else None
            if message is not None and reply_to is not None:
                uow.outbox.add(
                    key=f"reply:{once[0]}:{once[1]}"[:300],
                    destination=reply_to,
                    payload=message.to_json(),
                    at=deps.now(),
                )
            uow.commit_now()
        return reply


def run_action(
    registry: Registry,
    uow_factory: UowFactory,
    deps: Deps,
    actor: Actor,
    action: str,
    value: str,
    ref: MessageRef | None = None,
) -> Reply | None:
    if actor.refused:
        return Reply.say(actor.refused)
    fn = registry.actions.get(action)
    if fn is None:
        log.warning("no handler for action %r", action)
        return Reply.say("That button no longer does anything — the message may be out of date.")

    def action_(uow: UnitOfWork) -> Reply | None:
        try:
            reply = fn(uow, deps, actor, inert(value or ""), ref)
        except UserError as e:
            return Reply.say(e.text)
        updated = uow.outbox.updates_queued_here().get(ref.outbox_key) if ref and ref.outbox_key else None
        if updated is not None:
            reply = (reply or Reply()).model_copy(update={"updated": Message.from_json(updated)})
        return reply

    return _in_unit_of_work(uow_factory, action_)


def run_form(
    registry: Registry,
    uow_factory: UowFactory,
    deps: Deps,
    actor: Actor,
    action: str,
    state: str,
    values: dict[str, str | None],
) -> Reply | None:
    if actor.refused:
        return Reply(errors={}, text=actor.refused)
    fn = registry.forms.get(action)
    if fn is None:
        log.warning("no handler for form %r", action)
        return Reply(errors={}, text="This form is out of date; please open it again.")
    values = {inert(k): (inert(v) if isinstance(v, str) else None) for k, v in (values or {}).items()}

    def form(uow: UnitOfWork) -> Reply | None:
        try:
            return fn(uow, deps, actor, inert(state or ""), values)
        except UserError as e:
            field = getattr(e, "field", None)
            if field:
                return Reply(errors={field: e.text})
            return Reply.say(e.text)

    return _in_unit_of_work(uow_factory, form)


def _in_unit_of_work(uow_factory: UowFactory, fn: Callable[..., T]) -> T:
    """``fn(uow)`` in one unit of work; one that reads takes no write lock (``UowFactory.run``)."""
    run = getattr(uow_factory, "run", None)
    if run is not None:
        return run(fn)
    with uow_factory() as uow:
        return fn(uow)
