"""Delivery for the local workspace: the outbox row is the posted message.

The page (``bot/local``) reads sent rows by destination and shows their current payload, so
"delivering" is recording where it went; an update's new content is copied onto the original
row by the dispatcher."""

from __future__ import annotations

from datetime import timedelta

from bot.dispatch import Delivered
from handlers.messages import Message
from storage.models import Person


class LocalDeliverer:
    platform = "local"
    # No platform rate limit to respect: posts to one conversation need no spacing.
    spacing = timedelta(0)

    def post(self, destination: str, message: Message, *, key: str, maybe_sent: bool,
             people: dict[int, Person]) -> Delivered:
        if destination.startswith("home:"):  # the Home view is drawn live when opened
            return Delivered(None, None)
        return Delivered(destination, key)

    def update(self, destination: str, channel: str | None, ref: str | None, message: Message, *,
               people: dict[int, Person]) -> Delivered:
        return Delivered(channel, ref)
