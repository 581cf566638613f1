"""Delivering outbox messages to Slack."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Config
from bot.dispatch import Delivered, PermanentError
from bot.slack.blocks import render_home, render_message
from bot.slack.client import classify
from handlers.messages import Image, Message
from handlers.ports import Clock
from storage.db import UowFactory
from storage.models import Person

log = logging.getLogger(__name__)
METADATA_TYPE = "smarketing_outbox"
LOOKUP_RETRY = timedelta(days=1)  # how long a failed users.lookupByEmail is trusted


class SlackPeople:
    """Matches people to Slack users by email (``users.lookupByEmail``), remembering the answer
    in the people table: hits for good, misses for a day."""

    def __init__(self, client: WebClient, uow_factory: UowFactory, clock: Clock):
        self.client = client
        self.uow_factory = uow_factory
        self.clock = clock

    def slack_id(self, person: Person) -> str | None:
        if person.slack_user_id:
            return person.slack_user_id
        now = self.clock.now()
        if person.slack_lookup_at and now - person.slack_lookup_at < LOOKUP_RETRY:
            return None
        found: str | None = None
        try:
            found = self.client.users_lookupByEmail(email=person.email)["user"]["id"]
        except SlackApiError as e:
            if e.response.get("error") not in ("users_not_found", "user_not_found"):
                log.warning("users.lookupByEmail for %s failed: %s", person.email, e.response.get("error"))
                return None  # not a verdict: ask again next time
        with self.uow_factory() as uow:
            row = uow.people.get(person.id)
            if row is not None:
                row.slack_user_id = row.slack_user_id or found
                row.slack_lookup_at = now
                uow.people.add(row)
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

    def __init__(self, client: WebClient, config: Config, people: SlackPeople):
        self.client = client
        self.config = config
        self.people = people
        self._uploaded: dict[str, str] = {}  # image key -> Slack file id (one upload per image)

    def _files(self, message: Message) -> dict[str, str]:
        """Upload the message's images (``files.getUploadURLExternal``, the bytes, then
        ``files.completeUploadExternal`` with no channel: a private file the bot can show in an
        image block). An image that cannot be found or uploaded is left out of the post, whose
        text says the same."""
        out: dict[str, str] = {}
        for block in message.blocks:
            if not isinstance(block, Image) or block.key in out:
                continue
            if block.key in self._uploaded:
                out[block.key] = self._uploaded[block.key]
                continue
            with self.people.uow_factory() as uow:
                image = uow.scoreboard.image(block.key)
            if image is None:
                log.warning("image %s is not stored: posted without it", block.key)
                continue
            try:
                resp = self.client.files_upload_v2(content=image.data, filename=f"{image.token[:16]}.png",
                                                   title=block.title or "chart", alt_txt=block.alt[:1000])
            except SlackApiError as e:
                error = e.response.get("error")
                if error in ("missing_scope", "not_allowed_token_type", "invalid_arguments"):
                    log.warning("could not upload %s (%s): posted without it", block.key, error)
                    continue
                raise classify(e) from e
            except Exception as e:  # noqa: BLE001 - classified for the dispatcher
                raise classify(e) from e
            files = resp.get("files") or [resp.get("file") or {}]
            if files and files[0].get("id"):
                out[block.key] = self._uploaded[block.key] = files[0]["id"]
        return out

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
            self.client.views_publish(user_id=uid, view=view)
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
            person = people.get(int(name))
            if person is None:
                raise PermanentError(f"no person {name}")
            uid = self.people.slack_id(person)
            if not uid:
                raise PermanentError(f"{person.name} <{person.email}> is not in Slack")
            return uid
        raise PermanentError(f"Slack cannot deliver to {destination!r}")

    def post(self, destination: str, message: Message, *, key: str, maybe_sent: bool,
             people: dict[int, Person]) -> Delivered:
        if destination.startswith("home:"):  # publishing a Home again is harmless
            return self.publish_home(int(destination.partition(":")[2]), message, people)
        channel = self._address(destination, people)
        if maybe_sent:
            found = self._already_posted(channel, key)
            if found:
                log.info("%s was posted before a crash or timeout (ts %s): not posting again", key, found[1])
                return Delivered(found[0], found[1])
        rendered = render_message(message, self.people.resolver(people), self._files(message))
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
        if message.reaction:
            try:
                self.client.reactions_add(channel=posted_channel, timestamp=ts, name=message.reaction)
            except SlackApiError as e:  # a missing reaction is not worth a re-post
                log.warning("could not add :%s: to %s: %s", message.reaction, key, e.response.get("error"))
        return Delivered(posted_channel, ts)

    def update(self, destination: str, channel: str | None, ref: str | None, message: Message, *,
               people: dict[int, Person]) -> Delivered:
        if not channel or not ref:
            raise PermanentError("the original message has no Slack channel/ts")
        rendered = render_message(message, self.people.resolver(people), self._files(message))
        try:
            self.client.chat_update(channel=channel, ts=ref, text=rendered["text"], blocks=rendered["blocks"])
        except Exception as e:  # noqa: BLE001
            raise classify(e) from e
        return Delivered(channel, ref)

    def _already_posted(self, channel: str, key: str) -> tuple[str, str] | None:
        """Find a message we posted with this outbox key (a post whose answer was lost)."""
        try:
            if channel.startswith("U") or channel.startswith("W"):
                channel = self.client.conversations_open(users=channel)["channel"]["id"]
            resp = self.client.conversations_history(channel=channel, limit=100, include_all_metadata=True)
        except Exception as e:  # noqa: BLE001 - can't check: post, a duplicate beats a loss
            log.warning("could not check history of %s for %s: %s", channel, key, e)
            return None
        for m in resp.get("messages", []):
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("key") == key[:250]:
                return channel, m.get("ts")
        return None
