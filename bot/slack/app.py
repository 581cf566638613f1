"""The Slack adapter: a bolt app whose listeners only translate.

Each listener reads the request, resolves who acted, calls ``handlers.commands`` and renders the
answer. ``process_before_response=True``: the work (a short transaction that writes state and
outbox) runs before bolt answers, which keeps the whole request well inside Slack's 3 seconds,
and delivery is left to the dispatcher (a commit that queued messages wakes it).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any, Callable

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.logs import NoRequestDetails, new_id, request_id
from bot.slack.blocks import (
    parse_action_id,
    parse_view_values,
    render_errors,
    render_form,
    render_home,
    render_message,
    render_reply,
)
from bot.slack.deliver import SlackPeople
from handlers import identity
from handlers.commands import run_action, run_command, run_form
from handlers.messages import Message, Reply
from handlers.ports import Actor
from handlers.registry import MessageRef

log = logging.getLogger(__name__)

SORRY = "Something went wrong on our side and it has been logged (ref {ref}). Please try again in a minute."
# Events the manifest subscribes to; each has a listener (an event without one gets 404 and
# Slack retries it, and repeated failures disable the subscription).
EVENTS = [
    "app_mention",
    "message",
    "app_home_opened",
    "user_change",
    "team_join",
    "subteam_members_changed",
    "app_uninstalled",
    "tokens_revoked",
]
_NOTED = ("app_uninstalled", "tokens_revoked")


def _bolt_logger() -> logging.Logger:
    """bolt's base logger: its loggers copy this one's filters, so none logs a request body."""
    logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, NoRequestDetails) for f in logger.filters):
        logger.addFilter(NoRequestDetails())
    return logger


def _chat_reply(reply: Reply) -> Message | None:
    """The answer to a command typed in a conversation (a DM, a mention)."""
    if reply.form is not None:
        return Message(text=FORM_IN_CHAT)
    return reply.as_message()


FORM_IN_CHAT = "That one opens a form: use the `/smarketing` slash command for it."


# The Home of someone the bot cannot place yet.
_STRANGER_HOME = {
    "type": "home",
    "blocks": [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "I don't know who you are yet: ask an admin to add your email to the Smarketing config.",
            },
        }
    ],
}


class SlackAdapter:
    def __init__(self, services, *, signing_secret: str | None, client: WebClient):
        self.s = services
        self.client = client
        self.people = SlackPeople(client, services.uow_factory, services.deps.clock)
        self.http_enabled = bool(signing_secret)
        self.app = App(
            name="smarketing-bot",  # named: bolt otherwise reads the call stack for one (~50-90 ms of start-up)
            token=None,  # the client carries the token (bolt warns when given both)
            # Without a signing secret there is no HTTP route (Socket Mode only, where bolt does
            # not verify); bolt's own check stays on, with a secret nobody knows.
            signing_secret=signing_secret or secrets.token_hex(32),
            client=client,
            process_before_response=True,
            token_verification_enabled=False,
            request_verification_enabled=True,
            logger=_bolt_logger(),
        )
        self.app.use(self._dedupe_events)
        self.app.error(self._on_error)
        self.app.command("/smarketing")(self._guard(self.on_command))
        self.app.action(re.compile(".+"))(self._guard(self.on_action))
        self.app.view(re.compile(".+"))(self._guard(self.on_view))
        self.app.event("app_mention")(self._guard(self.on_mention))
        self.app.event("message")(self._guard(self.on_message))
        self.app.event("app_home_opened")(self._guard(self.on_home_opened))
        self.app.event("user_change")(self._guard(self.on_user))
        self.app.event("team_join")(self._guard(self.on_user))
        self.app.event("subteam_members_changed")(self._guard(self.on_group_members))
        self.directory = None  # bot.slack.directory.SlackDirectory, set by the composition root
        for name in _NOTED:
            self.app.event(name)(self._noted)

    # -- plumbing --------------------------------------------------------------------------
    def _guard(self, fn: Callable) -> Callable:
        """The one error handler: the person gets a brief answer, the log gets the rest."""

        # bolt passes arguments by the names in the listener's signature, so the wrapper names
        # every one the listeners use.
        def wrapper(ack, body, event, action, view, say, respond):
            token = request_id.set(new_id("slack"))
            try:
                return fn(ack=ack, body=body, event=event, action=action, view=view, say=say, respond=respond)
            except Exception:  # noqa: BLE001
                ref = request_id.get()
                log.exception("Slack request failed")
                self.s.metrics.errors.labels("slack").inc()
                try:
                    ack(text=SORRY.format(ref=ref), response_type="ephemeral")
                except Exception:  # noqa: BLE001 - already acked
                    pass
            finally:
                request_id.reset(token)

        return wrapper

    def _on_error(self, error, body, logger):
        log.error("unhandled Slack error: %s", error, exc_info=error)
        self.s.metrics.errors.labels("slack").inc()
        return BoltResponse(status=200, body="")

    def _dedupe_events(self, body: dict, next: Callable[[], Any]):
        """Slack retries events it thinks failed; the same ``event_id`` is handled once. The id
        is recorded by the listener, with its work (``run_command(once=...)``): an event whose
        handling crashed halfway is handled again when Slack retries it."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if body.get("type") == "event_callback" and event_id:
            with self.s.uow_factory.read() as uow:
                seen = bool(uow.inbound.seen("slack_event", [event_id]))
            if seen:
                log.info("event %s already handled (retry %s)", event_id, body.get("retry_attempt"))
                return BoltResponse(status=200, body="")
        return next()

    def on_user(self, ack, event: dict, **_):
        """``user_change`` / ``team_join``: the directory's one user, applied now (a leaver
        stops receiving at once; a newcomer is matched by email)."""
        ack()
        if self.directory is not None and isinstance(event, dict):
            out = self.directory.on_user(event.get("user"))
            if out.writes:
                log.info("Slack %s: %s", event.get("type"), out)

    def on_group_members(self, ack, event: dict, **_):
        """``subteam_members_changed``: people added to or removed from a user group; if it is a
        team's, who is in that team is updated now rather than at the nightly sync."""
        ack()
        if self.directory is not None and isinstance(event, dict):
            out = self.directory.on_group_change(event)
            if out.writes:
                log.info("Slack %s: %s", event.get("type"), out)

    def _noted(self, ack, event: dict, **_):
        ack()
        log.info("Slack event %s", event.get("type"))

    def actor(self, user_id: str | None) -> Actor:
        """The person behind a Slack user id: linked already (read from the shared copy of
        everyone, no database work), or matched by email now (``handlers.identity``: the first
        link sticks; a second account is refused)."""
        if not isinstance(user_id, str) or not user_id:
            return Actor(None, "slack")
        known = self.s.people.by_slack_id(user_id) if self.s.people is not None else None
        if known is not None:
            return Actor(known.id, "slack", user_id, known.name)
        actor = identity.resolve(self.s.uow_factory, "slack", user_id, self._email_of)
        if actor.person_id is not None and self.s.people is not None:
            self.s.people.invalidate()  # linked just now
        return actor

    def _email_of(self, user_id: str) -> str | None:
        try:
            profile = (self.client.users_info(user=user_id).get("user") or {}).get("profile") or {}
        except Exception:  # noqa: BLE001 - unknown user: handlers answer "who are you"
            return None
        email = profile.get("email")
        return email if isinstance(email, str) else None

    def _people_mentioned(self, text: str) -> str:
        """Slack's ``<@U123|name>`` mentions in a command become ``<person:ID>`` for the people we
        know (matched by email as for the one acting); the rest are left as typed."""

        def person(m: re.Match) -> str:
            found = self.actor(m[1])
            return f"<person:{found.person_id}>" if found.person_id else m[0]

        return re.sub(r"<@([UW][A-Z0-9_]+)(?:\|[^>]*)?>", person, text or "")

    def _open_form(self, reply: Reply, trigger_id: str | None) -> None:
        assert reply.form is not None
        if not trigger_id:
            raise RuntimeError("cannot open a form without a trigger_id")
        self.client.views_open(trigger_id=trigger_id, view=render_form(reply.form, self.people.resolver({})))

    def _resolver(self):
        if self.s.people is not None:  # everyone, read at most every 2 s: not per reply
            return self.people.resolver(self.s.people.get())
        with self.s.uow_factory.read() as uow:
            people = {p.id: p for p in uow.people.all()}
        return self.people.resolver(people)

    # -- listeners -------------------------------------------------------------------------
    def on_command(self, ack, body: dict, **_):
        actor = self.actor(body.get("user_id"))
        text = self._people_mentioned(body.get("text") or "")
        reply = run_command(self.s.registry, self.s.uow_factory, self.s.deps, actor, text)
        if reply.form is not None:
            self._open_form(reply, body.get("trigger_id"))
            ack()
            return
        ack(**render_reply(reply, self._resolver()))

    def on_action(self, ack, body: dict, action: dict, respond, **_):
        ack()
        actor = self.actor((body.get("user") or {}).get("id"))
        name = parse_action_id(action.get("action_id", ""))
        reply = run_action(
            self.s.registry, self.s.uow_factory, self.s.deps, actor, name, action.get("value") or "", self._ref(body)
        )
        on_home = (body.get("view") or {}).get("type") == "home"
        if on_home and actor.person_id is not None:
            self._republish_home(actor)
        if reply is not None:
            self._answer_action(reply, actor, body, respond, on_home=on_home)

    def _ref(self, body: dict) -> MessageRef:
        """The message a button was pressed on."""
        container = body.get("container") or {}
        ts = container.get("message_ts")
        return MessageRef(
            outbox_key=self._outbox_key(body.get("message") or {}, ts),
            platform="slack",
            channel=container.get("channel_id") or (body.get("channel") or {}).get("id"),
            ts=ts,
        )

    def _answer_action(self, reply, actor: Actor, body: dict, respond, *, on_home: bool) -> None:
        """A form opens; an answer goes under the message, or to the DM when pressed on the Home
        (a Home has no response_url)."""
        if reply.form is not None:
            self._open_form(reply, body.get("trigger_id"))
        elif reply.as_message() is not None and on_home:
            rendered = render_reply(reply, self._resolver())
            self.client.chat_postMessage(
                channel=actor.platform_user_id, text=rendered["text"], blocks=rendered.get("blocks")
            )
        elif reply.as_message() is not None:
            respond(**render_reply(reply, self._resolver()), replace_original=False)

    def _republish_home(self, actor: Actor) -> None:
        """A button on the Home acted: show the Home as it is now (only when it changed)."""
        from handlers.home import opened

        message = opened(self.s.uow_factory, self.s.deps, actor.person_id)
        if message is not None:
            self.client.views_publish(user_id=actor.platform_user_id, view=render_home(message, self._resolver()))

    def _outbox_key(self, message: dict, ts: str | None) -> str | None:
        """The outbox key of the message a button was on: from our message metadata, or — as
        Slack may leave metadata out of interaction payloads — by the message's ts."""
        meta = message.get("metadata") or {}
        key = (meta.get("event_payload") or {}).get("key")
        if key or not ts:
            return key
        with self.s.uow_factory.read() as uow:
            return uow.outbox.key_for_ref("slack", ts)

    def on_view(self, ack, body: dict, view: dict, **_):
        actor = self.actor((body.get("user") or {}).get("id"))
        values = parse_view_values((view.get("state") or {}).get("values") or {})
        reply = run_form(
            self.s.registry,
            self.s.uow_factory,
            self.s.deps,
            actor,
            view.get("callback_id", ""),
            view.get("private_metadata") or "",
            values,
        )
        if reply is not None and reply.errors:
            ack(**render_errors(reply.errors))
            return
        ack()
        if reply is not None and reply.as_message() is not None and actor.platform_user_id:
            self._confirm_in_dm(actor.platform_user_id, reply)

    def _confirm_in_dm(self, user_id: str, reply) -> None:
        """A modal has nowhere to answer: the confirmation goes to the person's DM."""
        rendered = render_reply(reply, self._resolver())
        self.client.chat_postMessage(channel=user_id, text=rendered["text"], blocks=rendered.get("blocks"))

    def on_home_opened(self, ack, event: dict, **_):
        """The Home tab opened: publish the person's Home when it is new or has changed."""
        ack()
        if event.get("tab") != "home":
            return
        actor = self.actor(event.get("user"))
        if actor.person_id is None:
            self.client.views_publish(user_id=event["user"], view=_STRANGER_HOME)
            return
        from handlers.home import opened

        # Slack sends the published view along; without one this person's Home was never published.
        message = opened(self.s.uow_factory, self.s.deps, actor.person_id, force=not event.get("view"))
        if message is not None:
            self.client.views_publish(user_id=event["user"], view=render_home(message, self._resolver()))

    def on_mention(self, ack, body: dict, event: dict, say, **_):
        ack()
        text = re.sub(r"<@[A-Z0-9]+>", "", event.get("text") or "").strip()
        self._answer_text(body, event, text, say)

    def on_message(self, ack, body: dict, event: dict, say, **_):
        ack()
        # Only direct messages from people: the same words as the slash command.
        if event.get("channel_type") != "im" or event.get("bot_id") or event.get("subtype"):
            return
        self._answer_text(body, event, event.get("text") or "", say)

    def _answer_text(self, body: dict, event: dict, text: str, say) -> None:
        actor = self.actor(event.get("user"))
        text = re.sub(r"^/?smarketing\s*", "", text.strip(), flags=re.I)
        event_id, channel = body.get("event_id"), event.get("channel")
        if event_id and channel:
            # Slack delivers an event again when it thinks it failed: the command's work, the
            # event's id and the answer (queued for the dispatcher, to this conversation) are
            # committed together, so a crash anywhere neither loses the answer nor doubles it.
            run_command(
                self.s.registry,
                self.s.uow_factory,
                self.s.deps,
                actor,
                text,
                once=("slack_event", event_id),
                reply_to=f"slack:{channel}",
                reply_message=_chat_reply,
            )
            return
        reply = run_command(self.s.registry, self.s.uow_factory, self.s.deps, actor, text)
        assert reply is not None
        message = _chat_reply(reply)
        if message is not None:
            rendered = render_message(message, self._resolver())
            say(text=rendered["text"], blocks=rendered.get("blocks"))

    # -- Socket Mode -----------------------------------------------------------------------
    def start_socket_mode(self, app_token: str):
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(self.app, app_token)
        handler.connect()  # non-blocking; the HTTP server keeps the process alive
        return handler
