"""Delivery for the local workspace: the outbox row is the posted message.

The page (``bot/local``) reads sent rows by destination and shows their current payload, so
"delivering" is recording where it went; an update's new content is copied onto the original
row by the dispatcher."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from bot.dispatch import Delivered, no_begin
from handlers.messages import Message
from storage.models import Person


class LocalDeliverer:
    platform = "local"
    # No platform rate limit to respect: posts to one conversation need no spacing.
    spacing = timedelta(0)

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
        begin()
        if destination.startswith("home:"):  # the Home view is drawn live when opened
            return Delivered(None, None)
        return Delivered(destination, key)

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
        begin()
        return Delivered(channel, ref)
