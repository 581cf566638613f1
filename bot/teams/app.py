"""The Microsoft Teams adapter: an app of Microsoft's Teams SDK (``microsoft-teams-apps``) whose
handlers only translate.

- ``POST /api/messages`` on our FastAPI server takes activities; the SDK validates the Bot
  Framework token (no valid token: 401) and routes each activity to a handler here.
- A message to the bot (a 1:1 chat, or an @mention in a channel or group chat) is a command: the
  same words as the slash command (``help``, ``leads``, ``bounce <lead> …``). The answer is an
  Adaptive Card (``bot/teams/cards.py``), a form is a card with inputs.
- A card button is an ``Action.Execute``: the ``adaptiveCard/action`` invoke runs the action and
  answers with the card as it now is, which Teams puts in place of the old one. Forms submit the
  same way; errors come back inline on the same form.
- Every activity records its conversation (``uow.teams``) so the outbox can post there later;
  installing the app in a team also records the team's channels and matches its members to
  people by email (the roster), so they can get direct messages.

The SDK is asyncio; our handlers (``handlers.commands``) are synchronous and open a database
transaction, so they run in the thread pool (``run_in_threadpool``).
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot.logs import new_id, request_id
from bot.inbound import CHAT_MAX_BYTES, Malformed, TooLarge, parse_json, read_limited
from bot.teams.cards import (
    CANCEL_VERB,
    META,
    markdown,
    parse_submission,
    plain_text,
    render_form,
    render_message,
    summary_text,
)
from bot.teams.deliver import TeamsDeliverer, card_activity, make_api, teams_resolver
from handlers import identity
from handlers.commands import run_action, run_command, run_form
from handlers.messages import Form, Message, Reply, inert_value
from handlers.ports import Actor
from handlers.registry import MessageRef
from storage.db import read_uow

log = logging.getLogger(__name__)

SORRY = "Something went wrong on our side and it has been logged (ref {ref}). Please try again in a minute."
WELCOME = (
    "Hi{name}! I'm Smarketing Bot: I keep sales and marketing in step — wins, cooling leads, "
    "bounce-backs and the week ahead. Send me **help** to see what I can do."
)
WELCOME_TEAM = (
    "Thanks for adding Smarketing Bot to **{team}**. I post wins, alerts and the weekly schedule "
    "to the channels set up for me; mention me with **help** to see my commands."
)
MAX_BODY = CHAT_MAX_BYTES  # activities are a few KB; anything near this is not from Teams
_PREFIX_RE = re.compile(r"^/?smarketing\b\s*", re.I)
_AT_TAG_RE = re.compile(r"</?at>")  # other people's mentions read as their names
_actor: ContextVar[Actor | None] = ContextVar("teams_actor", default=None)


class _RouteAdapter:
    """The SDK's ``HttpServerAdapter`` protocol, implemented only to receive its request handler
    (token validation + activity processing). Our own FastAPI route calls that handler, so the
    endpoint sits on our server with our body limit, JSON errors and metrics; the SDK's
    ``FastAPIAdapter`` would need the FastAPI app before the composition root has built it."""

    def __init__(self) -> None:
        self.handler = None

    def register_route(self, method: str, path: str, handler) -> None:
        self.handler = handler

    def serve_static(self, path: str, directory: str) -> None:  # pragma: no cover - no tabs
        pass

    async def start(self, port: int) -> None:  # pragma: no cover - uvicorn is ours
        raise NotImplementedError("served by bot.server")

    async def stop(self) -> None:  # pragma: no cover
        pass


def _activity_problem(body: dict) -> str | None:
    """Where ``body`` fails the SDK's own activity models (None when it does not)."""
    from microsoft_teams.api import ActivityTypeAdapter
    from microsoft_teams.apps.events import CoreActivity
    from pydantic import ValidationError

    try:
        core = CoreActivity.model_validate(body)
        ActivityTypeAdapter.validate_python(core.model_dump(by_alias=True, exclude_none=True))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("tagged-union", "function-")))
        return f"{where or 'activity'}: {first['msg']}"[:200]
    return None


class _NoActivityDetails(logging.Filter):
    """The SDK logs an unreadable activity's validation error, which quotes the activity: keep
    one line saying so, without the quotes or the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        err = record.exc_info[1] if record.exc_info else None
        if isinstance(err, ValidationError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "an activity failed the SDK's validation (details not logged)",
                (),
                None,
                None,
            )
        return True


_sdk_log = logging.getLogger("microsoft_teams.apps.http.http_server")
if not any(isinstance(f, _NoActivityDetails) for f in _sdk_log.filters):
    _sdk_log.addFilter(_NoActivityDetails())


def _form_def(value) -> Form | None:
    """The form a submission carried along (to show again with its errors); None if unusable."""
    from pydantic import ValidationError

    if not isinstance(value, dict):
        return None
    try:
        return Form.model_validate(value)
    except ValidationError:
        return None


def _no_token(*_args, **_kwargs) -> None:
    """No outbound credentials: for local emulators only (Agents Playground), which need none."""
    return None


def conversation_id(activity) -> str:
    """A conversation id without the thread suffix (``;messageid=...``) of a channel reply."""
    return (activity.conversation.id or "").split(";messageid=")[0]


def _command_text(a) -> str | None:
    """The words of a message to the bot, without the bot's own @mention (a command may mention
    someone else, e.g. a lead owner) or the command's prefix; None for what is not a command
    (the bot's own messages, an old-style Action.Submit: our cards use Action.Execute)."""
    from microsoft_teams.api.activities.utils import StripMentionsTextOptions

    if a.from_ is not None and a.from_.role == "bot":
        return None
    text = a.strip_mentions_text(StripMentionsTextOptions(account_id=a.recipient.id)).text or ""
    text = _PREFIX_RE.sub("", _AT_TAG_RE.sub("", text).strip())
    return None if not text and a.value is not None else text


def _client_timezone(activity) -> str | None:
    for entity in activity.entities or []:
        if getattr(entity, "type", None) == "clientInfo":
            tz = getattr(entity, "timezone", None)
            if tz:
                return tz
    return None


class TeamsAdapter:
    def __init__(
        self,
        services,
        *,
        client_id: str,
        client_secret: str | None = None,
        tenant_id: str | None = None,
        allow_unauthenticated: bool = False,
    ):
        from microsoft_teams.apps import App

        self.s = services
        self._route = _RouteAdapter()
        options: dict[str, Any] = dict(
            client_id=client_id,
            client_secret=client_secret or None,
            tenant_id=tenant_id or None,
            http_server_adapter=self._route,
            dangerously_allow_unauthenticated_requests=allow_unauthenticated,
            state=False,
            telemetry={"agent365": False},
        )
        if not client_secret and allow_unauthenticated:
            options["token"] = _no_token
        self.app = App(**options)
        self.deliverer = TeamsDeliverer(make_api(self.app), services.config, services.uow_factory, services.deps.clock)
        self._ready = False
        self._seen_refs: dict[str, tuple] = {}
        self.directory = None  # bot.teams.directory.TeamsDirectory, set by the composition root

        self.app.use(self._capture)
        self.app.on_message(self.on_message)
        self.app.on_card_action_execute(self.on_card_action)
        self.app.on_install_add(self.on_install)
        self.app.on_install_remove(self.on_uninstall)
        self.app.on_conversation_update(self.on_conversation_update)

    # -- HTTP ------------------------------------------------------------------------------
    async def _ensure_ready(self) -> None:
        if not self._ready:
            await self.app.initialize()  # registers the SDK's handler on our route adapter
            self._ready = True

    def mount(self, api: FastAPI) -> None:
        """Serve ``POST /api/messages`` on our FastAPI app."""

        @api.post("/api/messages")
        async def teams_messages(request: Request):
            try:
                raw = await read_limited(request, MAX_BODY)  # refused as soon as it passes the limit
            except TooLarge:
                return PlainTextResponse("activity too large", status_code=413)
            try:
                # Parsed before the token check (the SDK's validator takes the parsed activity),
                # so the nesting bound matters here: deep JSON is a 400, not a RecursionError.
                body = parse_json(raw)
            except Malformed as e:
                return JSONResponse({"error": str(e)}, status_code=400)
            if not isinstance(body, dict):
                return JSONResponse({"error": "an activity is a JSON object"}, status_code=400)
            await self._ensure_ready()
            token = request_id.set(new_id("teams"))
            try:
                result = await self._route.handler({"body": body, "headers": dict(request.headers)})
            finally:
                request_id.reset(token)
            status, payload = result["status"], result.get("body")
            if status >= 500:
                # The SDK answers 500 for an activity it cannot read (after its token check):
                # that is the sender's mistake, a 400 saying where.
                problem = _activity_problem(body)
                if problem:
                    return JSONResponse({"error": f"malformed activity: {problem}"}, status_code=400)
            if payload is not None:
                return JSONResponse(payload, status_code=status)
            return Response(status_code=status)

    def close(self) -> None:
        self.deliverer.close()

    # -- people and conversations ------------------------------------------------------------
    async def _resolve_actor(self, ctx) -> Actor:
        """The person behind the activity's sender: linked already (Entra object id or Teams id),
        or matched by the email Teams gives for them in this conversation's roster."""
        frm = ctx.activity.from_
        if frm is None or not frm.id or frm.role == "bot":
            return Actor(None, "teams")
        aad, uid = frm.aad_object_id, frm.id
        found = await run_in_threadpool(self._known, aad, uid)
        if found is not None:
            return found.actor("teams", aad or uid, frm.name)
        email = None
        try:  # the member look-up is a remote call: no transaction is open meanwhile
            member = await ctx.api.conversations.get_member_by_id(conversation_id(ctx.activity), uid)
            email = member.email or member.user_principal_name
            aad = aad or member.aad_object_id
        except Exception as e:  # noqa: BLE001 - unknown user: handlers answer "who are you"
            log.warning("could not look up Teams user %s: %s", uid, e)
        if not email:
            return Actor(None, "teams", aad or uid, frm.name)
        found = await run_in_threadpool(self._link, email, aad or uid)
        return found.actor("teams", aad or uid, frm.name)

    def _known(self, *ids: str | None):
        with read_uow(self.s.uow_factory) as uow:
            return identity.known(uow, "teams", *ids)

    def _link(self, email: str, teams_id: str):
        with self.s.uow_factory() as uow:
            found = identity.link_by_email(uow, "teams", teams_id, email)
            uow.commit()
        return found

    async def _capture(self, ctx) -> None:
        """Middleware: remember where this activity came from (so the outbox can post there later),
        and who sent it. Runs for every activity, before its handler."""
        token = _actor.set(None)
        try:
            a = ctx.activity
            if a.type in ("message", "invoke", "installationUpdate"):
                _actor.set(await self._resolve_actor(ctx))
            ref = self._reference(a)
            if ref is not None:
                key = ref["conversation_id"]
                if self._seen_refs.get(key) != tuple(sorted(ref.items())):
                    await run_in_threadpool(self._save_reference, ref)
                    self._seen_refs[key] = tuple(sorted(ref.items()))
            await ctx.next()
        finally:
            _actor.reset(token)

    def _reference(self, a) -> dict | None:
        conv = a.conversation
        if conv is None or not conv.id or not a.service_url:
            return None
        kind = conv.conversation_type or "personal"
        data = a.channel_data
        team = getattr(data, "team", None)
        channel = getattr(data, "channel", None)
        tenant = conv.tenant_id or getattr(getattr(data, "tenant", None), "id", None)
        ref: dict[str, Any] = dict(
            conversation_id=(channel.id if kind == "channel" and channel and channel.id else conversation_id(a)),
            kind=kind,
            service_url=a.service_url,
            tenant_id=tenant,
            bot_id=a.recipient.id if a.recipient else None,
        )
        if kind == "channel":
            ref.update(
                team_id=team.id if team else None,
                team_name=team.name if team else None,
                name=(channel.name if channel and channel.name else None),
            )
            if ref["name"] is None and team is not None and ref["conversation_id"] == team.id:
                ref["name"] = "General"  # the General channel's id is the team's and it has no name
        elif kind == "groupChat":
            ref["name"] = conv.name
        elif kind == "personal":
            actor = _actor.get()
            if actor is None or actor.person_id is None:
                return None  # a 1:1 chat is only useful once we know whose it is
            frm = a.from_
            ref.update(
                person_id=actor.person_id,
                user_id=frm.id if frm else None,
                aad_object_id=frm.aad_object_id if frm else None,
            )
        return ref

    def _save_reference(self, ref: dict) -> None:
        with self.s.uow_factory() as uow:
            uow.teams.save_conversation(at=self.s.deps.now(), **ref)
            uow.commit()

    async def _sync_team(self, ctx) -> None:
        """Record a team's channels and match its members to people by email (best effort)."""
        a = ctx.activity
        team = getattr(a.channel_data, "team", None)
        if team is None or not team.id:
            return
        channels, members = [], []
        try:
            channels = await ctx.api.teams.get_conversations(team.id)
        except Exception as e:  # noqa: BLE001
            log.warning("could not list the channels of team %s: %s", team.name or team.id, e)
        try:
            token = None
            while True:
                page = await ctx.api.conversations.get_paged_members(team.id, 500, token)
                members.extend(page.members)
                token = page.continuation_token
                if not token:
                    break
        except Exception as e:  # noqa: BLE001
            log.warning("could not read the roster of team %s: %s", team.name or team.id, e)
        tenant = a.conversation.tenant_id or getattr(getattr(a.channel_data, "tenant", None), "id", None)
        bot_id = a.recipient.id if a.recipient else None
        await run_in_threadpool(self._save_team, a.service_url, tenant, bot_id, team.id, team.name, channels, members)

    def _save_team(self, service_url, tenant, bot_id, team_id, team_name, channels, members) -> None:
        now = self.s.deps.now()
        linked = 0
        with self.s.uow_factory() as uow:
            for ch in channels:
                if not ch.id:
                    continue
                name = ch.name or ("General" if ch.id == team_id else None)
                uow.teams.save_conversation(
                    conversation_id=ch.id,
                    kind="channel",
                    service_url=service_url,
                    at=now,
                    tenant_id=tenant,
                    bot_id=bot_id,
                    team_id=team_id,
                    team_name=team_name,
                    name=name,
                )
            emails = {(m.email or m.user_principal_name or "").lower(): m for m in members}
            emails.pop("", None)
            ids = identity.link_by_email_many(uow, "teams", {e: m.aad_object_id or m.id for e, m in emails.items()})
            for email, pid in ids.items():
                m = emails[email]
                uow.teams.save_member(
                    person_id=pid,
                    user_id=m.id,
                    aad_object_id=m.aad_object_id,
                    service_url=service_url,
                    tenant_id=tenant,
                    bot_id=bot_id,
                    at=now,
                )
                linked += 1
            uow.commit()
        log.info(
            "Teams team %s: %d channels, %d of %d members matched to people",
            team_name or team_id,
            len(channels),
            linked,
            len(members),
        )

    # -- rendering ---------------------------------------------------------------------------
    def _people(self) -> dict:
        if getattr(self.s, "people", None) is not None:  # the shared copy of everyone: no per-reply load
            return self.s.people.get()
        with read_uow(self.s.uow_factory) as uow:
            return {p.id: p for p in uow.people.all()}

    def _timezone(self, client_tz: str | None, actor: Actor | None) -> str:
        """Where dates and times on a form are read: the Teams client's timezone, else the person's."""
        if client_tz:
            return client_tz
        if actor is not None and actor.person_id:
            with self.s.uow_factory() as uow:
                person = uow.people.get(actor.person_id)
            if person is not None:
                return person.timezone
        return "UTC"

    def _message_activity(self, msg: Message, people: dict):
        resolve = teams_resolver(people)
        return card_activity(render_message(msg, resolve), summary_text(msg, resolve))

    def _form_card(
        self,
        form: Form,
        people: dict,
        *,
        key: str | None,
        tz: str,
        errors: dict | None = None,
        values: dict | None = None,
    ) -> dict:
        card = render_form(form, teams_resolver(people), key=key, errors=errors, values=values, tz=tz)
        # The form itself rides along, so a submission with errors can show the same form again.
        card["actions"][0]["data"][META]["def"] = form.model_dump(mode="json", exclude_none=True)
        return card

    def _reply_activity(self, reply: Reply, people: dict):
        from microsoft_teams.api import MessageActivityInput

        if reply.message is None and reply.text is not None:
            return MessageActivityInput(text=markdown(reply.text, teams_resolver(people)), text_format="markdown")
        msg = reply.as_message()
        return self._message_activity(msg, people) if msg is not None else None

    @staticmethod
    def _card_response(card: dict):
        from microsoft_teams.api import AdaptiveCardActionCardResponse
        from microsoft_teams.cards import AdaptiveCard

        return AdaptiveCardActionCardResponse(value=AdaptiveCard.model_validate(card))

    @staticmethod
    def _text_response(text: str):
        from microsoft_teams.api import AdaptiveCardActionMessageResponse

        return AdaptiveCardActionMessageResponse(value=text)

    def _current(self, key: str | None) -> dict | None:
        if not key:
            return None
        with read_uow(self.s.uow_factory) as uow:
            return uow.outbox.current_payload(key)

    def _sorry(self, where: str) -> str:
        log.exception("Teams %s failed", where)
        self.s.metrics.errors.labels("teams").inc()
        return SORRY.format(ref=request_id.get())

    # -- handlers ----------------------------------------------------------------------------
    # Each handler does its synchronous work (transactions) in one trip to the thread pool.

    async def on_message(self, ctx) -> None:
        a = ctx.activity
        text = _command_text(a)
        if text is None:
            return
        actor = _actor.get() or Actor(None, "teams")
        try:
            done = await run_in_threadpool(self._command, a.id, actor, text, _client_timezone(a))
            if done is None:
                log.info("activity %s already handled", a.id)
                return
            self.s.wake()
            await self._answer_message(ctx, *done)
        except Exception:  # noqa: BLE001
            await self._tell_sorry(ctx, "message")

    async def _tell_sorry(self, ctx, what: str) -> None:
        """The sender hears that it failed (with the reference the log has), if Teams can be reached."""
        sorry = self._sorry(what)
        try:
            await ctx.send(sorry)
        except Exception as e:  # noqa: BLE001 - Teams itself is unreachable: the log has it all
            log.warning("could not tell the sender either: %s", e)

    async def _answer_message(self, ctx, reply, people, tz) -> None:
        """A command's answer in the conversation: its form as a card, or its message."""
        if reply.form is not None:
            card = self._form_card(reply.form, people, key=None, tz=tz)
            await ctx.send(card_activity(card, card["fallbackText"]))
            return
        activity = self._reply_activity(reply, people)
        if activity is not None:
            await ctx.send(activity)

    def _command(self, activity_id: str | None, actor: Actor, text: str, client_tz: str | None):
        """A command, once per activity id (None when this activity was handled before)."""
        # The activity counts as handled only once the command's work is committed with its id.
        reply = run_command(
            self.s.registry,
            self.s.uow_factory,
            self.s.deps,
            actor,
            text,
            once=("teams_activity", activity_id) if activity_id else None,
        )
        if reply is None:
            return None
        tz = self._timezone(client_tz, actor) if reply.form is not None else "UTC"
        return reply, self._people(), tz

    async def on_card_action(self, ctx):
        """``Action.Execute``: a button press, a form submission or a form's Cancel."""
        a = ctx.activity
        action = a.value.action
        # Everything in a card's data came back from the client, the form riding along included:
        # inbound text like any other (it can form no mention).
        data = inert_value(dict(action.data or {}))
        actor, tz = _actor.get() or Actor(None, "teams"), _client_timezone(a)
        try:
            meta = data.get(META) if isinstance(data.get(META), dict) else None
            if meta is not None and meta.get("cancel") or action.verb == CANCEL_VERB:
                return await self._cancelled((meta or {}).get("key"))
            if meta is not None and (meta.get("form") or meta.get("def")):
                return await self._submit(meta, data, actor, tz, action.verb)
            return await self._pressed_button(a, action.verb or "", data, actor, tz)
        except Exception:  # noqa: BLE001
            return self._text_response(self._sorry("card action"))

    async def _cancelled(self, key: str | None):
        """A form's Cancel: the card it stood in for comes back, as it is now."""
        current, people = await run_in_threadpool(self._current_and_people, key)
        return self._restored(key, current, people, "Cancelled.")

    async def _pressed_button(self, a, verb: str, data: dict, actor: Actor, tz: str | None):
        key = data.get("key") if isinstance(data.get("key"), str) else None
        value = data.get("value")
        ref = MessageRef(outbox_key=key, platform="teams", channel=conversation_id(a), ts=a.reply_to_id)
        return await self._press(verb, "" if value is None else str(value), ref, actor, tz)

    def _current_and_people(self, key: str | None):
        return self._current(key), self._people()

    def _restored(self, key: str | None, current: dict | None, people: dict, note: str | None):
        """The card a form was opened from, as it is now, with a note; or just the note."""
        resolve = teams_resolver(people)
        if current is not None:
            return self._card_response(render_message(Message.from_json(current), resolve, key=key, note=note))
        return self._card_response(render_message(Message(text=note or "Done."), resolve))

    async def _press(self, verb: str, value: str, ref: MessageRef, actor: Actor, client_tz: str | None):
        key = ref.outbox_key

        def act():
            reply = run_action(self.s.registry, self.s.uow_factory, self.s.deps, actor, verb, value, ref)
            tz = self._timezone(client_tz, actor) if reply is not None and reply.form is not None else "UTC"
            unchanged = (
                self._current(key) if reply is None or (reply.updated is None and reply.as_message() is None) else None
            )
            return reply, unchanged, self._people(), tz

        reply, unchanged, people, tz = await run_in_threadpool(act)
        self.s.wake()
        resolve = teams_resolver(people)
        if reply is not None and reply.form is not None:
            return self._card_response(self._form_card(reply.form, people, key=key, tz=tz))
        if reply is not None and reply.updated is not None:
            # The press changed this card: show it now, in place (the dispatcher also delivers the
            # update, which records it and reaches anyone not looking at this card).
            return self._card_response(render_message(reply.updated, resolve, key=key))
        msg = reply.as_message() if reply is not None else None
        if msg is not None:
            return self._text_response(plain_text(msg.text, resolve) if msg.text else "Done.")
        if unchanged is not None:  # nothing to say and nothing changed: the card stays as it is
            return self._card_response(render_message(Message.from_json(unchanged), resolve, key=key))
        return self._text_response("Done.")

    async def _submit(self, meta: dict, data: dict, actor: Actor, client_tz: str | None, verb: str | None):
        key = meta.get("key") if isinstance(meta.get("key"), str) else None

        def submit():
            tz = self._timezone(client_tz, actor)
            _, values = parse_submission(data, tz)
            reply = run_form(
                self.s.registry,
                self.s.uow_factory,
                self.s.deps,
                actor,
                meta.get("form") or verb or "",
                str(meta.get("state") or ""),
                values,
            )
            return reply, values, tz, self._current(key), self._people()

        reply, values, tz, current, people = await run_in_threadpool(submit)
        self.s.wake()
        if reply is not None and reply.errors is not None:
            form = _form_def(meta.get("def"))
            if form is not None and reply.errors:
                return self._card_response(
                    self._form_card(form, people, key=key, tz=tz, errors=reply.errors, values=values)
                )
            text = reply.text or next(iter(reply.errors.values()), "Please check the form.")
            return self._text_response(plain_text(text, teams_resolver(people)))
        if reply is not None and reply.form is not None:
            return self._card_response(self._form_card(reply.form, people, key=key, tz=tz))
        msg = reply.as_message() if reply is not None else None
        if key:  # opened from a card: put that card back, with the answer under it
            return self._restored(key, current, people, msg.text if msg is not None else None)
        if msg is not None:
            return self._card_response(render_message(msg, teams_resolver(people)))
        return self._card_response(render_message(Message(text="Done."), teams_resolver(people)))

    async def on_install(self, ctx) -> None:
        """The app was added to a team, a group chat or a person's Teams."""
        a = ctx.activity
        try:
            kind = a.conversation.conversation_type or "personal"
            if kind == "channel":
                await self._sync_team(ctx)
                team = getattr(a.channel_data, "team", None)
                await ctx.send(self._text(WELCOME_TEAM.format(team=(team.name if team else None) or "this team")))
            else:
                actor = _actor.get()
                first = f" {actor.display_name.split()[0]}" if actor and actor.display_name else ""
                await ctx.send(self._text(WELCOME.format(name=first)))
        except Exception:  # noqa: BLE001 - a failed welcome must not fail the install
            self._sorry("install")

    async def on_uninstall(self, ctx) -> None:
        a = ctx.activity
        team = getattr(a.channel_data, "team", None)
        now = self.s.deps.now()

        def remove():
            with self.s.uow_factory() as uow:
                if team is not None and team.id:
                    uow.teams.mark_removed(at=now, team_id=team.id)
                else:
                    uow.teams.mark_removed(at=now, conversation_id=conversation_id(a))
                uow.commit()

        await run_in_threadpool(remove)
        self._seen_refs.clear()

    async def on_conversation_update(self, ctx) -> None:
        """Channels created, renamed or deleted; the bot or people added to a team."""
        a = ctx.activity
        team = getattr(a.channel_data, "team", None)
        try:
            if not await self._channel_changed(a) and team is not None and a.members_added:
                # The bot joining a team syncs it all; people joining are matched by email.
                await self._sync_team(ctx)
            if team is not None and self.directory is not None and (a.members_added or a.members_removed):
                await self._members_changed(ctx)
        except Exception:  # noqa: BLE001
            self._sorry("conversation update")

    async def _channel_changed(self, a) -> bool:
        """A channel created, renamed, restored (its reference kept) or deleted (marked removed).
        False when the activity is about none of these."""
        data = a.channel_data
        event, team, channel = (getattr(data, k, None) for k in ("event_type", "team", "channel"))
        if not (channel and channel.id):
            return False
        if event in ("channelCreated", "channelRenamed", "channelRestored"):
            await run_in_threadpool(
                self._save_reference,
                dict(
                    conversation_id=channel.id,
                    kind="channel",
                    service_url=a.service_url,
                    tenant_id=getattr(getattr(data, "tenant", None), "id", None),
                    bot_id=a.recipient.id if a.recipient else None,
                    team_id=team.id if team else None,
                    team_name=team.name if team else None,
                    name=channel.name,
                ),
            )
        elif event == "channelDeleted":
            now = self.s.deps.now()

            def remove():
                with self.s.uow_factory() as uow:
                    uow.teams.mark_removed(at=now, conversation_id=channel.id)
                    uow.commit()

            await run_in_threadpool(remove)
        else:
            return False
        return True

    async def _members_changed(self, ctx) -> None:
        """People joining or leaving a team or channel: who is in sales or marketing
        (bot/teams/directory.py; a leaver's leads go to their manager)."""
        a = ctx.activity
        event = getattr(a.channel_data, "event_type", None)
        bot_id = a.recipient.id if a.recipient else None
        for members, removed in ((a.members_added, False), (a.members_removed, True)):
            if members:
                out = await self.directory.on_members(
                    ctx.api, a.service_url, list(members), removed=removed, bot_id=bot_id
                )
                if out.writes:
                    log.info("Teams %s: %s", event or "conversationUpdate", out)
                    self.s.wake()

    @staticmethod
    def _text(text: str):
        from microsoft_teams.api import MessageActivityInput

        return MessageActivityInput(text=text, text_format="markdown")
