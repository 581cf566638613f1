"""Render the platform-neutral message model (``handlers/messages.py``) as HTML for the page.

Pure functions, like ``bot/slack/blocks.py``: the same Message a Slack channel gets becomes a
fragment of HTML here. The text is parsed by the shared token layer (``handlers/text.py``) and
rendered by a visitor that escapes every piece of text before adding markup, so a lead called
``<script>`` is shown as text: ``*bold*``, ``_italic_``, ``~strike~``, ```code```, ``:emoji:``
names (the character from the shared table), bare http(s) links, mentions as an "@Name" chip,
moments as a ``<time>`` the page shows in the viewer's timezone.

Forms render as the body of a modal; the page's script posts their values back by input name.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import date, datetime, timezone
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from handlers.emoji import EMOJI
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
    Reply,
    Section,
)
from handlers.text import Bold, Code, Emoji, Italic, Link, Moment, Person, Strike, Text, Visitor, clip, tokens
from urllib.parse import quote

Names = Mapping[int, str]
"""Person id -> display name, for mentions."""

BOT_NAME = "Smarketing Bot"
NO_NAME = "someone"


def esc(text: object) -> str:
    """HTML-escape text for an element body or a quoted attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def person_name(names: Names, person_id: int) -> str:
    return (names.get(person_id) or "").strip() or NO_NAME


class _Html(Visitor):
    """The tokens as safe inline HTML: every piece of text escaped, markup added around it."""

    def __init__(self, names: Names):
        self.names = names

    def text(self, t: Text) -> str:
        return esc(t.text).replace("\n", "<br>")

    def person(self, t: Person) -> str:
        return f'<span class="mention" data-person="{t.id}">@{esc(person_name(self.names, t.id))}</span>'

    def moment(self, t: Moment) -> str:
        # Shown by the browser in the viewer's timezone (app.js ``formatTimes``).
        iso = datetime.fromtimestamp(t.unix, timezone.utc).isoformat().replace("+00:00", "Z")
        return f'<time class="moment" data-at="{iso}" data-style="{esc(t.style)}">{esc(t.fallback)}</time>'

    def emoji(self, t: Emoji) -> str:
        return t.char

    def code(self, t: Code) -> str:
        return f"<code>{esc(t.text)}</code>"

    def link(self, t: Link) -> str:
        url = esc(t.url)
        return f'<a href="{url}" target="_blank" rel="noopener noreferrer">{url}</a>'

    def bold(self, t: Bold) -> str:
        return f"<strong>{self.render(t.children)}</strong>"

    def italic(self, t: Italic) -> str:
        return f"<em>{self.render(t.children)}</em>"

    def strike(self, t: Strike) -> str:
        return f"<del>{self.render(t.children)}</del>"


class _Display(Visitor):
    """Escaped text with names for people and emoji characters, markup left as written."""

    def __init__(self, names: Names, at: str = "", escape=esc, emoji: bool = True):
        self.names, self.at, self.esc, self.emojis = names, at, escape, emoji

    def text(self, t: Text) -> str:
        return self.esc(t.text)

    def person(self, t: Person) -> str:
        return self.esc(self.at + person_name(self.names, t.id))

    def moment(self, t: Moment) -> str:
        return self.esc(t.fallback)

    def emoji(self, t: Emoji) -> str:
        return t.char if self.emojis else f":{t.name}:"

    def code(self, t: Code) -> str:
        return self.esc(f"`{t.text}`")

    def link(self, t: Link) -> str:
        return self.esc(t.url)


def _names(names: Names):
    return lambda person_id: person_name(names, person_id)


def markup(text: str, names: Names, limit: int | None = None) -> str:
    """Our text markup as safe inline HTML; ``limit``: at most that many visible characters."""
    toks = tokens(text) if limit is None else clip(text, limit, _names(names))
    return _Html(names).render(toks)


def display(text: str, names: Names) -> str:
    """Plain text (headers, labels, button text): mentions become names, no other markup."""
    return _Display(names).render(tokens(text))


def plain(text: str, names: Names) -> str:
    """Unescaped plain text with names for mentions (notification previews, the CLI)."""
    return _Display(names, at="@", escape=str, emoji=False).render(tokens(text))


# --- blocks ---------------------------------------------------------------------------------


def _safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"https?://", url, re.I) and len(url) <= 3000 else None


def render_button(button: Button, names: Names) -> str:
    classes = "btn" + (f" btn-{button.style}" if button.style else "")
    label = display(button.label, names) or "…"
    attrs = f'data-action="{esc(button.action)}" data-value="{esc(button.value)}"'
    url = _safe_url(button.url)
    if url:
        return f'<a class="{classes}" href="{esc(url)}" target="_blank" rel="noopener noreferrer" {attrs}>{label}</a>'
    return f'<button type="button" class="{classes}" {attrs}>{label}</button>'


def render_block(block: Block, names: Names) -> str:
    if isinstance(block, Header):
        return f'<h3 class="m-header">{display(block.text, names)}</h3>' if block.text.strip() else ""
    if isinstance(block, Section):
        parts = []
        if block.text.strip():
            parts.append(f'<div class="m-text">{markup(block.text, names)}</div>')
        fields = [(k, v) for k, v in block.fields if k.strip() or v.strip()]
        if fields:
            items = "".join(
                f'<div class="m-field"><dt>{markup(k, names)}</dt><dd>{markup(v, names)}</dd></div>' for k, v in fields
            )
            parts.append(f'<dl class="m-fields">{items}</dl>')
        return f'<div class="m-section">{"".join(parts)}</div>' if parts else ""
    if isinstance(block, Context):
        return f'<div class="m-context">{markup(block.text, names)}</div>' if block.text.strip() else ""
    if isinstance(block, Divider):
        return '<hr class="m-divider">'
    if isinstance(block, Actions):
        return f'<div class="m-actions">{"".join(render_button(b, names) for b in block.buttons)}</div>'
    if isinstance(block, Image):
        title = f'<figcaption class="m-context">{esc(block.title)}</figcaption>' if block.title else ""
        return (
            f'<figure class="m-image"><img src="/local/images/{esc(quote(block.key, safe=""))}" '
            f'alt="{esc(block.alt)}" loading="lazy">{title}</figure>'
        )
    raise TypeError(f"unknown block {block!r}")


def render_blocks(blocks: Iterable[Block], names: Names) -> str:
    return "".join(render_block(b, names) for b in blocks)


def render_message(message: Message, names: Names) -> str:
    """A message's content: its blocks (or its text when it has none) and its reaction."""
    body = render_blocks(message.blocks, names) if message.blocks else ""
    if not body:
        body = f'<div class="m-section"><div class="m-text">{markup(message.text, names)}</div></div>'
    if message.reaction:
        emoji = EMOJI.get(message.reaction, f":{esc(message.reaction)}:")
        body += (
            f'<div class="m-reactions"><span class="reaction" title=":{esc(message.reaction)}:">{emoji} 1</span></div>'
        )
    return body


def payload_hash(payload: dict) -> str:
    """A short fingerprint of a message's content: the page re-renders a message when it changes."""
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _iso(at: datetime | None) -> str:
    return at.astimezone(timezone.utc).isoformat() if at else ""


def render_post(*, row_id: int, key: str, payload: dict, at: datetime | None, names: Names) -> dict:
    """One delivered message for the page: its id and key (buttons act on it), a fingerprint
    of its content, and the HTML of the whole message row."""
    try:
        body = render_message(Message.from_json(payload), names)
    except Exception:  # noqa: BLE001 - one unreadable payload must not blank the conversation
        body = '<div class="m-context">This message could not be shown.</div>'
    html_ = (
        f'<article class="msg" data-id="{row_id}" data-key="{esc(key)}">'
        f'<div class="avatar bot" aria-hidden="true">S</div>'
        f'<div class="msg-main"><div class="msg-meta"><span class="author">{BOT_NAME}</span>'
        f'<span class="app-tag">APP</span><time datetime="{_iso(at)}"></time></div>'
        f'<div class="m-body">{body}</div></div></article>'
    )
    return {"id": row_id, "key": key, "hash": payload_hash(payload), "at": _iso(at), "html": html_}


def render_ephemeral(reply: Reply, names: Names, *, note: str = "") -> str | None:
    """An answer only the person who acted sees (Slack's "Only visible to you")."""
    message = reply.as_message()
    if message is None:
        return None
    note_html = f'<span class="ephemeral-note">{esc(note)}</span>' if note else ""
    return (
        '<article class="msg ephemeral">'
        '<div class="avatar bot" aria-hidden="true">S</div>'
        f'<div class="msg-main"><div class="msg-meta"><span class="author">{BOT_NAME}</span>'
        '<span class="app-tag">APP</span><span class="only-you">Only visible to you</span>'
        f'{note_html}<button type="button" class="dismiss" aria-label="Dismiss">Dismiss</button></div>'
        f'<div class="m-body">{render_message(message, names)}</div></div></article>'
    )


# --- forms ----------------------------------------------------------------------------------


def _initial_local(value: str, tz: str) -> str:
    """A form's initial datetime (ISO or epoch seconds) as ``YYYY-MM-DDTHH:MM`` in ``tz``."""
    value = value.strip()
    try:
        moment = (
            datetime.fromtimestamp(int(value), timezone.utc)
            if value.lstrip("-").isdigit()
            else datetime.fromisoformat(value.replace("Z", "+00:00"))
        )
    except (ValueError, OverflowError, OSError):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def _initial_day(value: str) -> str:
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return ""


def render_input(field: Input, names: Names, tz: str) -> str:
    name = esc(field.name)
    fid = f"f-{name}"
    common = f'id="{fid}" name="{name}"' + (" required" if field.required else "")
    placeholder = f' placeholder="{display(field.placeholder, names)}"' if field.placeholder else ""
    maxlength = f' maxlength="{int(field.max_length)}"' if field.max_length else ""
    initial = field.initial or ""
    if field.kind == "textarea":
        control = f'<textarea {common}{placeholder}{maxlength} rows="4">{esc(initial)}</textarea>'
    elif field.kind == "select":
        opts = ['<option value="">Choose…</option>']
        for o in field.options:
            sel = " selected" if initial and o.value == initial else ""
            opts.append(f'<option value="{esc(o.value)}"{sel}>{display(o.label, names) or esc(o.value)}</option>')
        control = f"<select {common}>{''.join(opts)}</select>"
    elif field.kind == "date":
        control = f'<input type="date" {common} value="{esc(_initial_day(initial)) if initial else ""}">'
    elif field.kind == "datetime":
        value = esc(_initial_local(initial, tz)) if initial else ""
        control = f'<input type="datetime-local" {common} value="{value}">'
    else:
        control = f'<input type="text" {common}{placeholder}{maxlength} value="{esc(initial)}">'
    optional = "" if field.required else '<span class="optional">(optional)</span>'
    hint = f'<p class="hint">{display(field.hint, names)}</p>' if field.hint else ""
    return (
        f'<div class="field" data-field="{name}"><label for="{fid}">{display(field.label, names) or name}'
        f"{optional}</label>{control}{hint}"
        f'<p class="field-error" data-error-for="{name}" role="alert" hidden></p></div>'
    )


def render_form(form: Form, names: Names, *, tz: str = "UTC") -> str:
    """The inside of a modal dialog for ``form``; datetimes are shown and read in ``tz``."""
    title = display(form.title, names) or "Form"
    submit = display(form.submit_label, names) or "Submit"
    blocks = render_blocks(form.blocks, names)
    inputs = "".join(render_input(f, names, tz) for f in form.inputs)
    return (
        f'<form class="modal-form" data-action="{esc(form.action)}" data-state="{esc(form.state)}" novalidate>'
        f'<header class="modal-head"><h2 id="modal-title">{title}</h2>'
        '<button type="button" class="modal-close" aria-label="Close">×</button></header>'
        '<div class="modal-body"><p class="form-error" role="alert" hidden></p>'
        f"{f'<div class=modal-blocks>{blocks}</div>' if blocks else ''}{inputs}</div>"
        '<footer class="modal-foot"><button type="button" class="btn modal-cancel">Cancel</button>'
        f'<button type="submit" class="btn btn-primary">{submit}</button></footer></form>'
    )
