"""The platform-neutral message model.

Handlers build these; renderers in ``bot/slack/blocks.py``, ``bot/teams/cards.py`` and
``bot/local/`` turn them into Block Kit, Adaptive Cards or HTML. Everything here is plain data
that round-trips through JSON, because messages wait in the outbox before they are delivered.

Text uses a small markup every renderer understands:
- ``*bold*`` and ``_italic_`` (Slack's mrkdwn subset);
- ``mention(person_id)`` mentions a person by their id in the people table; renderers turn it
  into a real mention where the person is linked to the platform, and into their name otherwise.

``handlers/text.py`` parses this markup once into tokens (with ``~strike~``, ```code```,
``:emoji:`` names and bare links); each renderer is a visitor over them.

Mentions come only from ``mention()``: its token is wrapped in two private-use characters
(U+E000, U+E001) that no inbound text keeps, because every edge where text enters (commands,
buttons and forms of every platform, the CRM webhook, calendar files, the config) passes it
through ``inert()``. Everything else in a text is shown as text by the renderers, which escape
each platform's own syntax (Slack ``<@U…>``/``<!here>``, Teams ``<at>``, HTML). So a CRM campaign
named ``Spring webinar <person:8>`` or a typed ``<@U123>`` pings nobody, wherever it is shown.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter

MENTION_OPEN, MENTION_CLOSE = "\ue000", "\ue001"
MENTION_RE = re.compile(f"{MENTION_OPEN}person:(\\d+){MENTION_CLOSE}")
# What ``inert`` takes out of inbound text: the mention markers, NUL (PostgreSQL stores no NUL in
# text or JSON) and lone surrogates (not encodable as UTF-8), so text is stored alike everywhere.
_NOT_INBOUND_RE = re.compile("[\x00\ud800-\udfff\ue000\ue001]")


# A moment in time, shown in each reader's timezone: ``moment()`` makes the token (between the same
# private-use markers as a mention, so inbound text cannot form one); the renderers turn it into
# a Slack date token, a Teams card's DATE()/TIME() functions, or the local workspace viewer's
# zone. The fallback (the time in one named zone) is for whatever cannot.
TIME_RE = re.compile(f"{MENTION_OPEN}time:(\\d+):(date|time|datetime):([^{MENTION_CLOSE}]*){MENTION_CLOSE}")


def moment(at, tz: str, style: str = "datetime") -> str:
    """Markup for ``at`` (aware) shown in the reader's timezone; ``tz`` names the fallback's zone."""
    from zoneinfo import ZoneInfo

    t = at.astimezone(ZoneInfo(tz))
    day = f"{t:%a} {t.day} {t:%b}"
    clock = f"{t.hour:02d}:{t.minute:02d} {t.tzname()}"
    fallback = {"date": day, "time": clock, "datetime": f"{day}, {clock}"}[style]
    return f"{MENTION_OPEN}time:{int(at.timestamp())}:{style}:{fallback}{MENTION_CLOSE}"


def moment_fallback(text: str) -> str:
    """``text`` with every time token as its fallback (where nothing can show a reader's time)."""
    return TIME_RE.sub(lambda m: m.group(3), text)


def mention(person_id: int | None, fallback: str = "someone") -> str:
    """Markup for a mention of a person (or the fallback text when there is nobody)."""
    return f"{MENTION_OPEN}person:{person_id}{MENTION_CLOSE}" if person_id else fallback


def not_inbound(text: str) -> str | None:
    """The first character ``inert`` would change in ``text`` (None when there is none)."""
    m = _NOT_INBOUND_RE.search(text)
    return m.group() if m else None


def inert(text: str) -> str:
    """Text that came from a person, the CRM or a file, as it may enter: unable to form a
    mention (the markers removed), with no NUL, and a lone surrogate replaced by U+FFFD.
    Everything else is kept exactly; the renderers show it as text."""
    if not _NOT_INBOUND_RE.search(text):
        return text
    return _NOT_INBOUND_RE.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", text)


def inert_value(value):
    """``inert`` on every string in a JSON-like value (dict keys too)."""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, dict):
        return {inert(k) if isinstance(k, str) else k: inert_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [inert_value(v) for v in value]
    return value


class Header(BaseModel):
    type: Literal["header"] = "header"
    text: str


class Section(BaseModel):
    """A paragraph of text, optionally with label/value fields shown in two columns."""

    type: Literal["section"] = "section"
    text: str = ""
    fields: list[tuple[str, str]] = Field(default_factory=list)


class Context(BaseModel):
    """Small, muted text under the main content."""

    type: Literal["context"] = "context"
    text: str


class Divider(BaseModel):
    type: Literal["divider"] = "divider"


class Button(BaseModel):
    """A button. ``action`` names the handler (``"cooling.follow_up"``); ``value`` is its argument."""

    label: str
    action: str
    value: str = ""
    style: Literal["primary", "danger"] | None = None
    url: str | None = None


class Actions(BaseModel):
    type: Literal["actions"] = "actions"
    buttons: list[Button]


class Image(BaseModel):
    """A picture stored by the bot (a chart), named by its ``key`` in the chart images table so
    the outbox payload stays small. ``alt`` says what it shows, for screen readers and for
    platforms that cannot show it; the message's text carries the same numbers."""

    type: Literal["image"] = "image"
    key: str
    alt: str
    title: str | None = None


Block = Annotated[Union[Header, Section, Context, Divider, Actions, Image], Field(discriminator="type")]


class Message(BaseModel):
    """A message to post. ``text`` is the plain-text fallback shown in notifications."""

    text: str
    blocks: list[Block] = Field(default_factory=list)
    reaction: str | None = None  # an emoji name the bot adds to its own post (wins)

    def to_json(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict) -> "Message":
        return cls.model_validate(data)


class Option(BaseModel):
    value: str
    label: str


class Input(BaseModel):
    """One field of a form."""

    name: str
    label: str
    kind: Literal["text", "textarea", "select", "date", "datetime"] = "text"
    required: bool = True
    options: list[Option] = Field(default_factory=list)
    initial: str | None = None
    placeholder: str | None = None
    max_length: int | None = None
    hint: str | None = None


class Form(BaseModel):
    """A form (a Slack modal, an Adaptive Card with inputs, an HTML form).

    ``action`` names the handler that receives the submission; ``state`` is opaque context
    handed back with it (for example the lead id).
    """

    title: str
    action: str
    submit_label: str = "Submit"
    blocks: list[Block] = Field(default_factory=list)
    inputs: list[Input] = Field(default_factory=list)
    state: str = ""


class Reply(BaseModel):
    """What a command, a button press or a form submission answers to the person who acted.

    - ``text``/``message``: an answer only they see (ephemeral);
    - ``form``: a form to open;
    - ``errors``: field name -> problem, shown inline on the submitted form;
    - ``updated``: the message the button was pressed on, as it now reads, when the press changed
      it (its update is queued for everyone; an adapter that can replace the pressed message in
      its answer, as Teams does, shows it at once).
    """

    text: str | None = None
    message: Message | None = None
    form: Form | None = None
    errors: dict[str, str] | None = None
    updated: Message | None = None

    @classmethod
    def say(cls, text: str) -> "Reply":
        return cls(text=text)

    def as_message(self) -> Message | None:
        if self.message is not None:
            return self.message
        if self.text is not None:
            return Message(text=self.text, blocks=[Section(text=self.text)])
        return None


message_adapter = TypeAdapter(Message)
