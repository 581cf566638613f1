"""Delivering outbox messages to Microsoft Teams, proactively.

A destination becomes a stored conversation reference (``uow.teams``): ``channel:<name>`` is the
Teams channel or group chat the config names for it (``channels.<name>.teams``: a conversation id,
a channel name or ``Team/Channel``; by default the channel named like the config key or title),
``dm:<person>`` is that person's 1:1 chat with the bot (created on first use for people known from
a team's roster). A post is ``POST {serviceUrl}/v3/conversations/{id}/activities`` and returns the
activity id; an update is ``PUT .../activities/{activityId}``, with the SDK's API client.

The dispatcher is a synchronous thread and the SDK's client is asyncio (httpx.AsyncClient), whose
connections belong to the event loop that opened them. So the deliverer owns one private event
loop in a daemon thread and runs every call there (``AsyncRunner``): one loop, one connection
pool, kept warm between messages, and the SDK's token provider (MSAL, with its cache) unchanged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Awaitable, Callable, TypeVar

import httpx

from bot.config import Config
from bot.dispatch import Delivered, PermanentError, TransientError, no_begin
from storage.db import read_uow
from bot.teams.cards import CARD_TYPE, render_message, summary_text
from handlers.messages import Message
from handlers.ports import Clock
from storage.db import UowFactory
from storage.models import Person

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT = 30.0  # seconds for one Bot Connector call, token included


class AsyncRunner:
    """An event loop in a daemon thread, for calling asyncio code from synchronous threads."""

    def __init__(self, name: str = "teams-outbound"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        async def call() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(call(), self._ensure())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer from Teams within {timeout:.0f}s") from None

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5)
            loop.close()


def teams_resolver(people: dict[int, Person]):
    """Mentions: a person's name, and their Teams id (Entra object id) when they are linked."""

    def resolve(person_id: int) -> tuple[str, str | None]:
        p = people.get(person_id)
        if p is None:
            return ("someone", None)
        return (p.name, p.teams_user_id)

    return resolve


def retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def classify(err: BaseException) -> Exception:
    """Map a failed Bot Connector call onto the dispatcher's TransientError/PermanentError."""
    if isinstance(err, (TransientError, PermanentError)):
        return err
    if isinstance(err, httpx.HTTPStatusError):
        status = err.response.status_code
        if status == 429:
            return TransientError(
                "rate limited by Teams", retry_after=retry_after(err.response.headers) or 1.0, reached=False
            )
        if status >= 500 or status == 408:
            return TransientError(f"Teams answered {status}", retry_after=retry_after(err.response.headers))
        if status in (401, 403):
            return PermanentError(
                f"Teams refused the bot ({status}): check TEAMS_CLIENT_ID/SECRET/TENANT_ID and "
                "that the app is still installed there"
            )
        if status == 404:
            return PermanentError("the Teams conversation or message no longer exists (404)")
        return PermanentError(f"Teams rejected the message ({status}): {err.response.text[:300]}")
    # Connection failures, timeouts, a token endpoint that did not answer: worth another try
    # (and the dispatcher gives up after its maximum attempts). Refused before connecting, or
    # no token: Teams never saw the call.
    reached = not isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout))
    return TransientError(f"{type(err).__name__}: {err}", reached=reached)


def card_activity(card: dict, summary: str):
    """A message activity carrying one Adaptive Card; ``summary`` is the notification preview."""
    from microsoft_teams.api import Attachment, MessageActivityInput

    return MessageActivityInput(summary=summary, attachments=[Attachment(content_type=CARD_TYPE, content=card)])


@dataclass
class Target:
    conversation_id: str
    service_url: str


class TeamsDeliverer:
    platform = "teams"

    def __init__(
        self, api, config: Config, uow_factory: UowFactory, clock: Clock, *, runner: AsyncRunner | None = None
    ):
        """``api`` is a ``microsoft_teams.api.ApiClient`` used only from ``runner``'s loop."""
        self.api = api
        self.config = config
        self.uow_factory = uow_factory
        self.clock = clock
        self.runner = runner or AsyncRunner()

    def close(self) -> None:
        self.runner.close()

    # -- addresses -------------------------------------------------------------------------
    def _channel(self, name: str) -> Target:
        ch = self.config.channels.get(name)
        if ch is None:
            raise PermanentError(f"no channel {name!r} in the config")
        values = [ch.teams] if ch.teams else [name] + ([ch.title.lstrip("#")] if ch.title else [])
        with read_uow(self.uow_factory) as uow:
            for value in values:
                rows = uow.teams.find_channels(value)
                if len(rows) == 1:
                    return Target(rows[0].conversation_id, rows[0].service_url)  # type: ignore[arg-type]
                if len(rows) > 1:
                    where = ", ".join(f"{r.team_name or '?'}/{r.name or r.conversation_id}" for r in rows)
                    raise PermanentError(
                        f"channel {name!r} matches {len(rows)} Teams conversations ({where}): set "
                        f"channels.{name}.teams to 'Team/Channel' or the conversation id"
                    )
        raise PermanentError(
            f"channel {name!r} is not connected in Teams: add the app to the team, then set "
            f"channels.{name}.teams to the Teams channel's name or conversation id"
        )

    def _person(self, person_id: int, people: dict[int, Person]) -> Target:
        person = people.get(person_id)
        who = f"{person.name} <{person.email}>" if person else f"person {person_id}"
        with read_uow(self.uow_factory) as uow:
            row = uow.teams.personal(person_id)
        if row is None:
            raise PermanentError(
                f"{who} cannot be reached in Teams: they need the app installed (personally, or in "
                "a team they belong to) and their Teams email to match the config"
            )
        if row.conversation_id:
            return Target(row.conversation_id, row.service_url)
        member = row.user_id or row.aad_object_id
        if not member:
            raise PermanentError(f"{who} has no Teams user id on record")
        conversation_id = self._create_chat(member, row.tenant_id, row.service_url)
        with self.uow_factory() as uow:
            uow.teams.set_conversation_id(row.id, conversation_id, self.clock.now())  # type: ignore[arg-type]
            uow.commit()
        return Target(conversation_id, row.service_url)

    def _create_chat(self, member: str, tenant_id: str | None, service_url: str) -> str:
        from microsoft_teams.api import Account, CreateConversationParams

        params = CreateConversationParams(
            members=[Account(id=member)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}} if tenant_id else None,
        )
        api = self.api.clone(service_url=service_url)
        try:
            return self.runner.run(lambda: api.conversations.create(params)).id
        except Exception as e:  # noqa: BLE001 - classified for the dispatcher
            raise classify(e) from e

    def _address(self, destination: str, people: dict[int, Person]) -> Target:
        kind, _, name = destination.partition(":")
        if kind == "channel":
            return self._channel(name)
        if kind == "dm" and name.isdigit():
            return self._person(int(name), people)
        raise PermanentError(f"Teams cannot deliver to {destination!r}")

    # -- delivery --------------------------------------------------------------------------
    def activity(self, message: Message, people: dict[int, Person], *, key: str | None):
        """The message activity for a neutral message: an Adaptive Card, with the plain text as
        the notification preview."""
        resolve = teams_resolver(people)
        return card_activity(
            render_message(message, resolve, key=key, images=self._images(message)), summary_text(message, resolve)
        )

    def _images(self, message: Message) -> dict[str, str]:
        """The message's stored images as ``data:`` URIs (Teams shows inline PNGs in cards)."""
        import base64

        from handlers.messages import Image

        keys = {b.key for b in message.blocks if isinstance(b, Image)}
        out = {}
        for key in keys:
            with self.uow_factory() as uow:
                image = uow.scoreboard.image(key)
            if image is not None:
                out[key] = f"data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"
        return out

    def post(
        self,
        destination: str,
        message: Message,
        *,
        key: str,
        since: datetime | None,
        people: dict[int, Person],
        begin: Callable[[], None] = no_begin,
    ) -> Delivered:
        # Teams offers a bot no way to look for a message it may already have posted (no history
        # without Graph permissions, no idempotency key), so a retry after an attempt that may
        # have reached Teams (a dropped connection, a 5xx, a crash mid-call) posts again: a
        # duplicate beats a loss. Everything else is as for Slack: order and pacing per
        # conversation, the claim checked right before the call, a 429 or an error answer known
        # not to have posted.
        if destination.startswith("home:"):  # Teams has no Home tab to push: `home` answers a card
            return Delivered(None, None)
        try:
            target = self._address(destination, people)
        except TransientError as e:
            e.reached = False  # creating the 1:1 chat failed: nothing was posted
            raise
        activity = self.activity(message, people, key=key)
        if since is not None:
            log.info("%s may have been posted before a crash or timeout; Teams cannot check, posting", key)
        begin()
        try:
            sent = self.runner.run(
                lambda: self.api.conversations.create_activity(
                    target.conversation_id, activity, service_url=target.service_url
                )
            )
        except Exception as e:  # noqa: BLE001
            raise classify(e) from e
        return Delivered(target.conversation_id, sent.id)

    def update(
        self,
        destination: str,
        channel: str | None,
        ref: str | None,
        message: Message,
        *,
        people: dict[int, Person],
        begin: Callable[[], None] = no_begin,
    ) -> Delivered:
        if not channel or not ref:
            raise PermanentError("the original message has no Teams conversation/activity id")
        with read_uow(self.uow_factory) as uow:
            conv = uow.teams.by_conversation(channel)
            key = uow.outbox.key_for_ref(self.platform, ref)
        if conv is None:
            raise PermanentError(f"unknown Teams conversation {channel!r}")
        # The updated card keeps the original's outbox key in its buttons: the next press must
        # find the same message.
        activity = self.activity(message, people, key=key)
        begin()
        try:
            self.runner.run(
                lambda: self.api.conversations.update_activity(channel, ref, activity, service_url=conv.service_url)
            )
        except Exception as e:  # noqa: BLE001
            raise classify(e) from e
        return Delivered(channel, ref)


def make_api(app) -> Any:
    """An API client of our own for the dispatcher (its own connection pool, on the runner's
    loop), authenticating with the SDK app's token provider."""
    from microsoft_teams.api import ApiClient

    return ApiClient(app.api.service_url, app.http_client.clone(), cloud=app.cloud, token_provider=app.token_provider)
