"""Render the platform-neutral message model (``handlers/messages.py``) as Adaptive Cards 1.5.

Pure functions from our model to the card JSON Teams takes (Teams supports Adaptive Cards up
to version 1.5). Layout:

- ``Header`` -> a large bold ``TextBlock``; ``Section`` -> a ``TextBlock`` and a ``FactSet`` for
  its fields; ``Context`` -> a small subtle ``TextBlock``; ``Divider`` -> a separator line above
  the next element; ``Actions`` -> an ``ActionSet`` in place.
- A button is an ``Action.Execute`` whose ``verb`` is the handler name (``Button.action``) and
  whose ``data`` is ``{"value": Button.value, "key": <outbox key of the message>}``: pressing it
  sends an ``adaptiveCard/action`` invoke, and the answer can replace the card in place. A button
  with a ``url`` is an ``Action.OpenUrl``.
- A ``Form`` is a card with ``Input.Text`` / ``Input.ChoiceSet`` / ``Input.Date`` (a datetime is an
  ``Input.Date`` and an ``Input.Time``) and an ``Action.Execute`` submit whose ``verb`` is the form
  action; what we need back (form action, state, outbox key) rides in ``data["_smarketing"]``
  (``META``), and Teams merges the input values, keyed by input id, into the same ``data``.

Text: our markup is Slack's mrkdwn subset, parsed by the shared token layer (``handlers/text.py``)
and rendered by a visitor. Teams cards speak a small Markdown: ``*bold*`` becomes ``**bold**``
(``_italic_`` is the same in both), ``:emoji:`` names their character from the shared table. A mention (``handlers.messages.mention``)
becomes a real ``<at>Name</at>`` mention (with its entity under ``msteams.entities``) when the
person is linked to Teams, and their name otherwise; an ``<at>`` that is text (a lead called
``<at>Maya</at>``) is broken with an invisible word joiner, so it can never match an entity. Teams refuses activities over about 28 KB, so long texts are
cut with "…" and a card too big drops its last elements for a "… N more not shown" note.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.messages import (
    Actions,
    Block,
    Button,
    Context,
    Divider,
    Form,
    Header,
    Image,
    Input,
    Message,
    Section,
)
from handlers.text import Bold, Code, Emoji, Moment, Person, Text, Visitor, clip, tokens, truncate_text

PersonResolver = Callable[[int], tuple[str, str | None]]
"""Given a person id: their display name and their Teams id for a mention (None when not linked)."""

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
META = "_smarketing"  # the key under Action.Execute data that carries our form context
CANCEL_VERB = "smarketing.cancel"

MAX_CARD_CHARS = 24_000  # Teams refuses activities over ~28 KB; room is left for the envelope
MAX_TEXT = 3000
MAX_FACT_TITLE = 200
MAX_FACT_VALUE = 2000
MAX_TITLE = 75  # button titles, input labels are longer but get shown on one line
MAX_LABEL = 300
MAX_SUMMARY = 300  # the notification preview
MAX_ACTIONS = 6  # Teams shows up to six actions in a set
MAX_CHOICES = 100
ELLIPSIS = "…"

_AT_TAG_RE = re.compile(r"<(/?at)(?=[\s>])", re.I)  # Teams' mention markup, when it is only text


# --- text -------------------------------------------------------------------------------------


class _Mentions:
    """The mentions of one card: ``<at>`` texts and the entities Teams needs to resolve them."""

    def __init__(self, resolve: PersonResolver):
        self._resolve = resolve
        self._seen: dict[int, tuple[str, str | None]] = {}
        self.entities: list[dict] = []
        self._texts: set[str] = set()

    def person(self, person_id: int) -> tuple[str, str | None]:
        if person_id not in self._seen:
            try:
                name, teams_id = self._resolve(person_id)
            except LookupError:
                name, teams_id = "someone", None
            name = (name or "").strip() or "someone"
            self._seen[person_id] = (name, teams_id or None)
        return self._seen[person_id]

    def at(self, person_id: int) -> str:
        name, teams_id = self.person(person_id)
        if not teams_id:
            return name
        text = f"<at>{name}</at>"
        if text not in self._texts:
            self._texts.add(text)
            self.entities.append({"type": "mention", "text": text, "mentioned": {"id": teams_id, "name": name}})
        return text


def _break_at(text: str) -> str:
    return _AT_TAG_RE.sub("<\u2060\\1", text) if "<" in text else text


class _Markdown(Visitor):
    """The tokens as Teams Markdown: ``**bold**``, emoji as their character, mentions as ``<at>``
    (``link``) or names, moments as the card's DATE()/TIME() functions (``link``) or their
    fallback. A textual ``<at>`` is broken with a word joiner so it can never match an entity."""

    def __init__(self, mentions: _Mentions, link: bool):
        self.mentions, self.linked = mentions, link

    def text(self, t: Text) -> str:
        return _break_at(t.text)

    def person(self, t: Person) -> str:
        return self.mentions.at(t.id) if self.linked else self.mentions.person(t.id)[0]

    def moment(self, t: Moment) -> str:
        if not self.linked:
            return t.fallback
        iso = datetime.fromtimestamp(t.unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"date": f"{{{{DATE({iso}, SHORT)}}}}", "time": f"{{{{TIME({iso})}}}}"}.get(
            t.style, f"{{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}}"
        )

    def emoji(self, t: Emoji) -> str:
        return t.char

    def code(self, t: Code) -> str:
        return _break_at(f"`{t.text}`")

    def bold(self, t: Bold) -> str:
        return f"**{self.render(t.children)}**"


class _Plain(_Markdown):
    """Plain text for previews and fallbacks: names, fallbacks, emoji characters, bold unmarked."""

    def __init__(self, mentions: _Mentions):
        super().__init__(mentions, link=False)

    def bold(self, t: Bold) -> str:
        return self.render(t.children)


def _convert(text: str, mentions: _Mentions, *, link: bool, limit: int | None = None) -> str:
    """Our markup as Teams Markdown (``limit``: cut by the shared rule first)."""
    toks = tokens(text) if limit is None else clip(text, limit, lambda pid: mentions.person(pid)[0])
    return _Markdown(mentions, link).render(toks)


def markdown(text: str, resolve: PersonResolver, limit: int | None = None) -> str:
    """Our markup as Teams Markdown for a plain text message (mentions become names)."""
    return _convert(text, _Mentions(resolve), link=False, limit=limit)


def plain_text(text: str, resolve: PersonResolver) -> str:
    """Our markup as plain text: notification previews and fallbacks (no markers, names)."""
    return _Plain(_Mentions(resolve)).render(tokens(text))


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


# --- messages ---------------------------------------------------------------------------------


class _Renderer:
    def __init__(self, resolve: PersonResolver, key: str | None, images: dict[str, str] | None = None):
        self.mentions = _Mentions(resolve)
        self.key = key
        self.images = images or {}  # image key -> its URL (https, or a data: URI of the PNG)
        self.separator_next = False

    def text(self, text: str, limit: int = MAX_TEXT) -> str:
        return _convert(text, self.mentions, link=True, limit=limit)

    def names(self, text: str, limit: int) -> str:
        return _convert(text, self.mentions, link=False, limit=limit)

    def _add(self, out: list[dict], element: dict) -> None:
        if self.separator_next:
            element["separator"] = True
            element["spacing"] = "Medium"
            self.separator_next = False
        out.append(element)

    def blocks(self, blocks: Iterable[Block]) -> list[dict]:
        out: list[dict] = []
        for block in blocks:
            if isinstance(block, Header):
                if not _blank(block.text):
                    self._add(
                        out,
                        {
                            "type": "TextBlock",
                            "text": self.names(block.text, 150),
                            "size": "Large",
                            "weight": "Bolder",
                            "wrap": True,
                            "style": "heading",
                        },
                    )
            elif isinstance(block, Section):
                if not _blank(block.text):
                    self._add(out, {"type": "TextBlock", "text": self.text(block.text), "wrap": True})
                facts = [
                    {"title": self.names(k, MAX_FACT_TITLE), "value": self.names(v, MAX_FACT_VALUE)}
                    for k, v in block.fields
                    if not (_blank(k) and _blank(v))
                ]
                if facts:
                    self._add(out, {"type": "FactSet", "facts": facts})
            elif isinstance(block, Context):
                if not _blank(block.text):
                    self._add(
                        out,
                        {
                            "type": "TextBlock",
                            "text": self.text(block.text),
                            "wrap": True,
                            "isSubtle": True,
                            "size": "Small",
                        },
                    )
            elif isinstance(block, Divider):
                self.separator_next = bool(out)
            elif isinstance(block, Actions):
                actions = [self.button(b) for b in block.buttons]
                for i in range(0, len(actions), MAX_ACTIONS):
                    self._add(out, {"type": "ActionSet", "actions": actions[i : i + MAX_ACTIONS]})
            elif isinstance(block, Image):
                url = self.images.get(block.key)
                if url:  # not found: left out; the text carries the same numbers
                    self._add(
                        out, {"type": "Image", "url": url, "altText": truncate_text(block.alt, 1000), "size": "Stretch"}
                    )
            else:  # pragma: no cover - the model's union forbids it
                raise TypeError(f"unknown block {block!r}")
        return out

    def button(self, button: Button) -> dict:
        title = self.names(button.label, MAX_TITLE) if not _blank(button.label) else ELLIPSIS
        if button.url:
            return {"type": "Action.OpenUrl", "title": title, "url": button.url}
        if not button.action:
            raise ValueError("a button needs an action")
        data: dict[str, Any] = {"value": button.value}
        if self.key:
            data["key"] = self.key
        action: dict[str, Any] = {"type": "Action.Execute", "title": title, "verb": button.action, "data": data}
        if button.style == "primary":
            action["style"] = "positive"
        elif button.style == "danger":
            action["style"] = "destructive"
        return action


def _card(body: list[dict], mentions: _Mentions, summary: str, actions: list[dict] | None = None) -> dict:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "fallbackText": summary,
        "body": body,
        "msteams": {"width": "full"},
    }
    if actions:
        card["actions"] = actions
    if mentions.entities:
        card["msteams"]["entities"] = mentions.entities
    return _fit(card)


def _fit(card: dict) -> dict:
    """Drop elements from the end of the body until the card fits, saying how many went."""
    if _size(card) <= MAX_CARD_CHARS:
        return card
    body = list(card["body"])
    hidden = 0
    while body and _size({**card, "body": body}) > MAX_CARD_CHARS - 200:
        body.pop()
        hidden += 1
    body.append(
        {
            "type": "TextBlock",
            "text": f"{ELLIPSIS} {hidden} more not shown",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    return {**card, "body": body}


def _size(card: dict) -> int:
    """The card's size as Teams counts it: base64 images are not part of the message limit."""
    inline = sum(
        len(e.get("url", ""))
        for e in card.get("body", [])
        if e.get("type") == "Image" and str(e.get("url", "")).startswith("data:")
    )
    return len(json.dumps(card, ensure_ascii=False)) - inline


def summary_text(msg: Message, resolve: PersonResolver) -> str:
    """The notification preview and fallback: the message's ``text``, else its first words."""
    source = msg.text
    if _blank(source):
        source = next(
            (b.text for b in msg.blocks if isinstance(b, (Header, Section, Context)) and not _blank(b.text)),
            "New message",
        )
    return truncate_text(plain_text(source, resolve).strip(), MAX_SUMMARY) or "New message"


def render_message(
    msg: Message,
    resolve: PersonResolver,
    *,
    key: str | None = None,
    note: str | None = None,
    images: dict[str, str] | None = None,
) -> dict:
    """An Adaptive Card for a message. ``key`` is the outbox key of the posted message: it goes
    into every button's data so a press can find (and update) the message. ``note`` is a line
    added at the bottom (a confirmation shown after a form was submitted from this card).
    ``images``: the URL of each ``Image`` block by its key (a ``data:image/png;base64`` URI: Teams
    shows inline images up to 1 MB and leaves them out of its message size limit)."""
    r = _Renderer(resolve, key, images)
    body = r.blocks(msg.blocks)
    if not body and not _blank(msg.text):
        body = [{"type": "TextBlock", "text": r.text(msg.text), "wrap": True}]
    if note:
        body.append(
            {
                "type": "TextBlock",
                "text": r.text(note),
                "wrap": True,
                "isSubtle": True,
                "separator": True,
                "spacing": "Medium",
            }
        )
    return _card(body, r.mentions, summary_text(msg, resolve))


# --- forms ------------------------------------------------------------------------------------


def _tz(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _split_datetime(value: str | None, tz: ZoneInfo) -> tuple[str | None, str | None]:
    """(``YYYY-MM-DD``, ``HH:MM``) in ``tz`` from epoch seconds or an ISO datetime (naive = UTC)."""
    if not value:
        return None, None
    value = value.strip()
    try:
        if value.lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(value), timezone.utc)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError):
        return None, None
    local = moment.astimezone(tz)
    return local.date().isoformat(), local.strftime("%H:%M")


def _initial_date(value: str | None) -> str | None:
    try:
        return date.fromisoformat((value or "").strip()[:10]).isoformat()
    except ValueError:
        return None


def _inputs(field: Input, renderer: _Renderer, value: str | None, tz: ZoneInfo) -> list[dict]:
    label = renderer.names(field.label, MAX_LABEL) if not _blank(field.label) else field.name
    common: dict[str, Any] = {"label": label, "isRequired": field.required}
    if field.required:
        common["errorMessage"] = f"{label} is required"
    placeholder = renderer.names(field.placeholder, MAX_TITLE) if not _blank(field.placeholder) else None
    if field.kind in ("text", "textarea"):
        el: dict[str, Any] = {"type": "Input.Text", "id": field.name, **common}
        if field.kind == "textarea":
            el["isMultiline"] = True
        if field.max_length:
            el["maxLength"] = field.max_length
        if value:
            el["value"] = truncate_text(value, field.max_length) if field.max_length else value
        if placeholder:
            el["placeholder"] = placeholder
        return [el]
    if field.kind == "select":
        choices, seen = [], set()
        for option in field.options:
            if option.value in seen:
                continue
            seen.add(option.value)
            title = renderer.names(option.label, MAX_TITLE) if not _blank(option.label) else option.value
            choices.append({"title": title, "value": option.value})
        if not choices:
            raise ValueError(f"select {field.name!r} has no options")
        el = {
            "type": "Input.ChoiceSet",
            "id": field.name,
            "style": "compact",
            "choices": choices[:MAX_CHOICES],
            **common,
        }
        if value is not None and value in seen:
            el["value"] = value
        if placeholder:
            el["placeholder"] = placeholder
        return [el]
    if field.kind == "date":
        el = {"type": "Input.Date", "id": field.name, **common}
        if (day := _initial_date(value)) is not None:
            el["value"] = day
        return [el]
    if field.kind == "datetime":
        day, clock = _split_datetime(value, tz)
        d = {"type": "Input.Date", "id": f"{field.name}.date", **common}
        t: dict[str, Any] = {
            "type": "Input.Time",
            "id": f"{field.name}.time",
            "isRequired": field.required,
            "label": f"{label} (time, {tz.key})",
        }
        if field.required:
            t["errorMessage"] = f"{label}: pick a time"
        if day:
            d["value"], t["value"] = day, clock
        return [d, t]
    raise ValueError(f"unknown input kind {field.kind!r}")  # pragma: no cover - the model's Literal forbids it


def render_form(
    form: Form,
    resolve: PersonResolver,
    *,
    key: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str | None] | None = None,
    tz: str | None = None,
) -> dict:
    """An Adaptive Card with the form's inputs and a submit ``Action.Execute`` (verb = form action).

    ``key`` is the outbox key of the card the form was opened from (it is put back after the
    submission). ``errors`` (input name -> problem) are shown under their inputs, and under the
    title for names that are not inputs; ``values`` are what was submitted, kept in the inputs so a
    correction does not start over. Date and time inputs are in the timezone ``tz``."""
    names = [f.name for f in form.inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"input names repeat: {names}")
    if META in names:
        raise ValueError(f"{META!r} is reserved")
    zone = _tz(tz)
    r = _Renderer(resolve, None)
    errors = errors or {}
    body: list[dict] = []
    if not _blank(form.title):
        body.append(
            {
                "type": "TextBlock",
                "text": r.names(form.title, 150),
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "style": "heading",
            }
        )
    general = [text for name, text in errors.items() if name not in names and text]
    for text in general:
        body.append({"type": "TextBlock", "text": r.text(text), "color": "Attention", "wrap": True})
    body.extend(r.blocks(form.blocks))
    for field in form.inputs:
        value = (values or {}).get(field.name) if values is not None else field.initial
        body.extend(_inputs(field, r, value, zone))
        if not _blank(field.hint):
            body.append(
                {
                    "type": "TextBlock",
                    "text": r.text(field.hint or "", 500),
                    "isSubtle": True,
                    "size": "Small",
                    "wrap": True,
                    "spacing": "None",
                }
            )
        if errors.get(field.name):
            body.append(
                {
                    "type": "TextBlock",
                    "text": r.text(errors[field.name], 500),
                    "color": "Attention",
                    "wrap": True,
                    "spacing": "None",
                }
            )
    meta: dict[str, Any] = {"form": form.action, "state": form.state}
    if key:
        meta["key"] = key
    submit_title = r.names(form.submit_label, MAX_TITLE) if not _blank(form.submit_label) else "Submit"
    actions = [
        {
            "type": "Action.Execute",
            "title": submit_title,
            "verb": form.action,
            "style": "positive",
            "data": {META: meta},
        },
        {
            "type": "Action.Execute",
            "title": "Cancel",
            "verb": CANCEL_VERB,
            "associatedInputs": "none",
            "data": {META: {"cancel": True, **({"key": key} if key else {})}},
        },
    ]
    return _card(body, r.mentions, plain_text(form.title or "A form", resolve), actions)


def parse_submission(data: dict[str, Any], tz: str | None = None) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Split an ``Action.Execute`` data into our context (``META``) and the input values.

    Empty inputs come back as None. A datetime's date and time inputs are joined into epoch
    seconds (as text, the same as Slack's datetime picker gives), read in the timezone ``tz``."""
    meta = data.get(META) if isinstance(data.get(META), dict) else {}
    raw = {k: v for k, v in data.items() if k != META}
    values: dict[str, str | None] = {}
    zone = _tz(tz)
    for name, value in raw.items():
        if name.endswith(".date") or name.endswith(".time"):
            base = name[:-5]
            day = raw.get(f"{base}.date")
            clock = raw.get(f"{base}.time")
            if not day:
                values[base] = None
                continue
            try:
                moment = datetime.fromisoformat(f"{day}T{clock or '00:00'}").replace(tzinfo=zone)
                values[base] = str(int(moment.timestamp()))
            except ValueError:
                values[base] = None
            continue
        text = value if isinstance(value, str) else (None if value is None else str(value))
        values[name] = text if text not in (None, "") else None
    return meta, values
