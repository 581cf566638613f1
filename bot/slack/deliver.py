"""Delivering outbox messages to Slack.

Every post carries its outbox key in message metadata (``smarketing_outbox``). When an earlier
attempt may have reached Slack (a dropped connection, a 5xx, a crash mid-call: the dispatcher
passes its start as ``since``), the conversation's history is searched from that time, page by
page, for the key before anything is posted again; a search that fails is a TransientError,
never "not posted". After a post succeeds, nothing that follows (the reaction) can fail it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Config
from bot.dispatch import Delivered, PermanentError, TransientError, no_begin
from bot.slack.blocks import render_home, render_message
from bot.slack.client import classify
from handlers import identity
from handlers.messages import Image, Message
from handlers.ports import Clock
from storage.db import UowFactory, read_uow
from storage.models import Person

log = logging.getLogger(__name__)
METADATA_TYPE = "smarketing_outbox"
LOOKUP_RETRY = timedelta(days=1)  # how long a users.lookupByEmail "not found" is trusted
# Slack stamps a message with its own clock; ours may differ by this much. The search starts this
# long before the attempt did.
CLOCK_SKEW = timedelta(seconds=60)
HISTORY_PAGE = 200  # Slack: at most 999, no more than 200 recommended
MAX_PAGES = 100  # 20,000 messages since the attempt began; past that the search gives up for now
NOT_FOUND = ("users_not_found", "user_not_found")


class SlackPeople:
    """Matches people to Slack users by email (``users.lookupByEmail``), remembering the answer
    in the people table: hits for good (by ``handlers.identity``'s rule), "not found" for a day. Any
    other failure is no answer."""

    def __init__(self, client: WebClient, uow_factory: UowFactory, clock: Clock):
        self.client = client
        self.uow_factory = uow_factory
        self.clock = clock

    def slack_id(self, person: Person, *, strict: bool = False) -> str | None:
        """The person's Slack user id, or None when Slack says there is no such user.

        A failed look-up (a 5xx, a 429, a dropped connection) is not a verdict: ``strict``
        raises it as a TransientError (a DM waits and tries again); otherwise None, asked again
        next time (a mention falls back to the name)."""
        if person.slack_user_id:
            return person.slack_user_id
        now = self.clock.now()
        if person.slack_lookup_at and now - person.slack_lookup_at < LOOKUP_RETRY:
            return None
        found: str | None = None
        try:
            found = self.client.users_lookupByEmail(email=person.email)["user"]["id"]
        except Exception as e:  # noqa: BLE001
            code = (
                e.response.get("error") if isinstance(e, SlackApiError) and isinstance(e.response.data, dict) else None
            )
            if code not in NOT_FOUND:
                log.warning("users.lookupByEmail for %s failed: %s", person.email, code or e)
                if strict:
                    raise classify(e, before=True) from e
                return None
        with self.uow_factory() as uow:  # after the call: no transaction waits on Slack
            row = uow.people.get(person.id)
            if row is not None:
                if found and not identity.link_person(uow, "slack", row.id, found):
                    found = None  # the account or the person is linked otherwise: not them
                row.slack_lookup_at = now
                uow.people.add(row)
                found = row.slack_user_id or found
                uow.commit()
        person.slack_user_id, person.slack_lookup_at = found, now
        if not found:
            log.warning("%s <%s> is not in Slack: mentioned by name", person.name, person.email)
        return found

    def resolver(self, people: dict[int, Person]):
        def resolve(person_id: int) -> tuple[str, str | None]:
            p = people.get(person_id)
            if p is None:
                return ("someone", None)
            return (p.name, self.slack_id(p))

        return resolve


class SlackDeliverer:
    platform = "slack"

    def __init__(
        self, client: WebClient, config: Config, people: SlackPeople, *, reader: WebClient | None = None, metrics=None
    ):
        """``client`` posts (never retried blindly: see ``make_client(retries="none")``);
        ``reader`` makes the calls that can be repeated (search, look-ups, reactions, updates)."""
        self.client = client
        self.reader = reader or client
        self.config = config
        self.people = people
        self.metrics = metrics
        self._dm_channels: dict[str, str] = {}
        self._uploaded: dict[str, str] = {}  # image key -> Slack file id (one upload per image)
        self._upload_locks: dict[str, threading.Lock] = {}  # one upload at a time per image key
        self._locks_lock = threading.Lock()

    def _files(self, message: Message) -> dict[str, str]:
        """Upload the message's images (``files.getUploadURLExternal``, the bytes, then
        ``files.completeUploadExternal`` with no channel: a private file the bot can show in an
        image block). An image that cannot be found or uploaded is left out of the post, whose
        text says the same."""
        out: dict[str, str] = {}
        for block in message.blocks:
            if not isinstance(block, Image) or block.key in out:
                continue
            with self._locks_lock:
                key_lock = self._upload_locks.setdefault(block.key, threading.Lock())
            with key_lock:  # two channels' posts of one chart, delivered at once, upload it once
                file_id = self._upload(block)
            if file_id:
                out[block.key] = file_id
        return out

    def _upload(self, block: Image) -> str | None:
        """The Slack file id of one image, uploading it the first time (callers hold its key's lock)."""
        if block.key in self._uploaded:
            return self._uploaded[block.key]
        with read_uow(self.people.uow_factory) as uow:
            image = uow.scoreboard.image(block.key)
        if image is None:
            log.warning("image %s is not stored: posted without it", block.key)
            return None
        try:
            resp = self.reader.files_upload_v2(
                content=image.data,
                filename=f"{image.token[:16]}.png",
                title=block.title or "chart",
                alt_txt=block.alt[:1000],
            )
        except SlackApiError as e:
            error = e.response.get("error")
            if error in ("missing_scope", "not_allowed_token_type", "invalid_arguments"):
                log.warning("could not upload %s (%s): posted without it", block.key, error)
                return None
            raise classify(e) from e
        except Exception as e:  # noqa: BLE001 - classified for the dispatcher
            raise classify(e) from e
        files = resp.get("files") or [resp.get("file") or {}]
        if files and files[0].get("id"):
            self._uploaded[block.key] = files[0]["id"]
            return files[0]["id"]
        return None

    def publish_home(self, person_id: int, message: Message, people: dict[int, Person]) -> Delivered:
        """A person's App Home (``views.publish``)."""
        person = people.get(person_id)
        if person is None:
            raise PermanentError(f"no person {person_id}")
        uid = self.people.slack_id(person)
        if not uid:
            raise PermanentError(f"{person.name} <{person.email}> is not in Slack")
        view = render_home(message, self.people.resolver(people))
        try:
            self.reader.views_publish(user_id=uid, view=view)  # the same view twice is harmless
        except Exception as e:  # noqa: BLE001
            raise classify(e) from e
        return Delivered(uid, None)

    def _address(self, destination: str, people: dict[int, Person]) -> str:
        kind, _, name = destination.partition(":")
        if kind == "channel":
            ch = self.config.channels.get(name)
            if ch is None or not ch.slack:
                raise PermanentError(f"channel {name!r} has no Slack channel in the config (channels.{name}.slack)")
            return ch.slack
        if kind == "dm":
            person = people.get(int(name)) if name.isdigit() else None
            if person is None:
                raise PermanentError(f"no person {name}")
            uid = self.people.slack_id(person, strict=True)
            if not uid:
                raise PermanentError(f"{person.name} <{person.email}> is not in Slack")
            return uid
        if kind == "slack" and name:  # a Slack conversation by its id (the answer to a DM or a mention)
            return name
        raise PermanentError(f"Slack cannot deliver to {destination!r}")

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
        if destination.startswith("home:"):  # publishing a Home again is harmless
            begin()
            return self.publish_home(int(destination.partition(":")[2]), message, people)
        channel = self._address(destination, people)
        if since is not None:
            try:
                found = self._find(channel, key, since)
            except CannotSearch as e:
                # Never searchable: holding the message back would lose it for sure; posting
                # may say it twice. A duplicate beats a loss.
                log.warning("%s: %s; posting (it may be there already)", key, e)
                if self.metrics:
                    self.metrics.side_effects.labels(self.platform, "search").inc()
                found = None
            if found is not None:
                conversation, posted = found
                log.info("%s was posted before a crash or lost answer (ts %s): not posting again", key, posted["ts"])
                return Delivered(
                    conversation,
                    posted["ts"],
                    after=lambda: self._react(conversation, posted["ts"], message, key, posted),
                )
        rendered = render_message(message, self.people.resolver(people), self._files(message))
        begin()
        try:
            resp = self.client.chat_postMessage(
                channel=channel,
                text=rendered["text"],
                blocks=rendered["blocks"],
                metadata={"event_type": METADATA_TYPE, "event_payload": {"key": key[:250]}},
                unfurl_links=False,
            )
        except Exception as e:  # noqa: BLE001 - classified for the dispatcher
            raise classify(e) from e
        posted_channel, ts = resp.get("channel"), resp.get("ts")
        return Delivered(posted_channel, ts, after=lambda: self._react(posted_channel, ts, message, key))

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
            raise PermanentError("the original message has no Slack channel/ts")
        rendered = render_message(message, self.people.resolver(people), self._files(message))
        begin()
        try:  # replacing a message with the same content twice is harmless: the reader retries
            self.reader.chat_update(channel=channel, ts=ref, text=rendered["text"], blocks=rendered["blocks"])
        except Exception as e:  # noqa: BLE001
            raise classify(e) from e
        return Delivered(channel, ref)

    # -- after a post: best effort, never a reason to post again ------------------------------
    def _react(
        self, channel: str | None, ts: str | None, message: Message, key: str, posted: dict | None = None
    ) -> None:
        if not message.reaction or not channel or not ts:
            return
        if posted is not None and any(r.get("name") == message.reaction for r in posted.get("reactions") or []):
            return
        try:
            self.reader.reactions_add(channel=channel, timestamp=ts, name=message.reaction)
        except Exception as e:  # noqa: BLE001 - a missing reaction is not worth a re-post
            code = (
                e.response.get("error") if isinstance(e, SlackApiError) and isinstance(e.response.data, dict) else None
            )
            if code == "already_reacted":
                return
            log.warning("could not add :%s: to %s: %s", message.reaction, key, code or e)
            if self.metrics:
                self.metrics.side_effects.labels(self.platform, "reaction").inc()

    # -- the search -------------------------------------------------------------------------
    def _conversation(self, channel: str) -> str:
        """The conversation a post to ``channel`` lands in (a user id's is their DM)."""
        if channel[:1] not in ("U", "W"):
            return channel
        if channel not in self._dm_channels:
            try:
                self._dm_channels[channel] = self.reader.conversations_open(users=channel)["channel"]["id"]
            except Exception as e:  # noqa: BLE001
                raise _search_failed(e, channel) from e
        return self._dm_channels[channel]

    def _find(self, channel: str, key: str, since: datetime) -> tuple[str, dict] | None:
        """Our message with this outbox key, posted since ``since`` (less the clock skew), or
        None when the history from then on, read to its end, does not have it."""
        conversation = self._conversation(channel)
        oldest = f"{(since - CLOCK_SKEW).timestamp():.6f}"
        wanted = key[:250]
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                resp = self.reader.conversations_history(
                    channel=conversation, oldest=oldest, limit=HISTORY_PAGE, include_all_metadata=True, cursor=cursor
                )
            except Exception as e:  # noqa: BLE001
                raise _search_failed(e, conversation) from e
            for m in resp.get("messages") or []:
                meta = m.get("metadata") or {}
                if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("key") == wanted:
                    return conversation, m
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not resp.get("has_more") or not cursor:
                return None
        raise TransientError(
            f"the history of {conversation} since the first attempt is longer than "
            f"{MAX_PAGES * HISTORY_PAGE} messages; not posting blind",
            reached=False,
        )


class CannotSearch(Exception):
    """Slack refuses the search itself (the bot may post in a public channel it is not a member
    of, whose history it cannot read; a scope is missing): no retry will make it work."""


def _search_failed(err: Exception, conversation: str) -> Exception:
    """A search that did not work. A transient failure is raised as such: the message may be
    there, so it is not posted now but after a later search."""
    e = classify(err, before=True)
    if isinstance(e, PermanentError):
        return CannotSearch(f"cannot search {conversation} for an earlier attempt: {e}")
    return e
