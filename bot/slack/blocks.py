"""Render the platform-neutral message model (``handlers/messages.py``) as Slack Block Kit.

Everything here is a pure function from our model to the JSON Slack takes, always inside
Slack's documented limits: a payload that breaks one is rejected whole (``invalid_blocks``),
so a long deal name would otherwise cost the entire message. Human-readable text is shortened
with "…"; identifiers whose meaning a shortening would change (action names, button values,
input names, form state) raise ``ValueError`` instead, because that is a bug in the handler.

The text is parsed by the shared token layer (``handlers/text.py``) and rendered by a visitor;
long text is cut by its one truncation rule, and the rendered result is still held to Slack's
limit by ``truncate`` here (escapes and tokens make it longer than what a reader sees).
Three kinds of text leave this module:

- mrkdwn (section, context, field text): ``render_text`` escapes ``&``, ``<`` and ``>`` so
  user text such as ``<!channel>`` or ``<@U123>`` shows literally and can never ping anyone, and
  turns our mention tokens (``handlers.messages.mention``) into real mentions;
- the top-level fallback ``text`` (notifications, screen readers): ``plain_text``. Slack
  parses that field too, so it is escaped the same way;
- ``plain_text`` objects (headers, buttons, modal titles, labels): Slack shows them verbatim
  and never parses mentions in them, so they get people's names and no escaping.

Lengths are counted in UTF-16 code units, which is never less than the number of code points:
whichever way Slack counts, an emoji-heavy text stays under the limit.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable

from handlers.messages import (
    MENTION_OPEN,
    MENTION_RE,
    Actions,
    Block,
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
from handlers.text import Code, Link, Moment, Person, Text, Visitor, clip, tokens

PersonResolver = Callable[[int], tuple[str, str | None]]
"""Given a person id, their display name and their Slack user id (None when not linked)."""

# Slack's limits (https://api.slack.com/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FALLBACK_TEXT = 3000  # Slack accepts more, but truncates notifications long before that
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CALLBACK_ID = 255
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_TITLE = 24  # also the submit and close buttons
MAX_INPUT_LABEL = 2000
MAX_HINT = 2000
MAX_PLACEHOLDER = 150
MAX_TEXT_INPUT_LENGTH = 3000
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_ERROR_TEXT = 2000

ELLIPSIS = "…"
NO_NAME = "someone"

# A Slack user id as Slack issues them (U024BE7LH, or W... on Enterprise Grid). Anything else a
# resolver returns is not trusted into ``<@...>`` (a ">" or "|" could close the token and open
# another one) and the person is shown by name; the Slack mock's ids like U_ANA rely on this.
_SLACK_USER_ID_RE = re.compile(r"[UW][A-Z0-9]+")

# Sequences a truncation must keep whole: our mention tokens in source text, Slack's
# ``<...>`` tokens and the three entities in rendered text. Cutting ``&amp;`` to ``&am`` or
# ``<@U123>`` to ``<@U1`` would show garbage or, worse, leave a dangling ``<``.
_ATOMIC_RE = re.compile(MENTION_RE.pattern + r"|<[@#!][^<>]{0,200}>|&(?:amp|lt|gt);")

_ACTION_SUFFIX_RE = re.compile(r"#\d+\Z")


# --- text -----------------------------------------------------------------------------------


def slack_len(text: str) -> int:
    """The length of ``text`` in UTF-16 code units, the conservative way to count for Slack."""
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` (UTF-16 units), else its longest fitting prefix + "…".

    The cut never falls inside a mention token (ours, or Slack's ``<@U123>``) or an escape
    sequence (``&amp;``): it moves back to before the token instead.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if slack_len(text) <= limit:
        return text
    budget = limit - slack_len(ELLIPSIS)
    cut = units = 0
    for cut, ch in enumerate(text):  # noqa: B007 - cut is used after the loop
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > budget:
            break
        units += width
    # Only a token that starts before the cut can straddle it; tokens contain no inner opener
    # and entities no inner "&", so the last of each before the cut are the only candidates.
    for opener in ("<", "&", MENTION_OPEN):
        start = text.rfind(opener, 0, cut)
        if start >= 0:
            token = _ATOMIC_RE.match(text, start)
            if token and token.end() > cut:
                cut = start
    return text[:cut].rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters in parsed text."""
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _cached(resolve: PersonResolver) -> PersonResolver:
    """A per-render memo: a message may mention the same person many times and a resolver
    is usually a database lookup. A person who no longer exists becomes "someone" rather
    than making the whole message undeliverable."""
    seen: dict[int, tuple[str, str | None]] = {}

    def lookup(person_id: int) -> tuple[str, str | None]:
        if person_id not in seen:
            try:
                name, slack_id = resolve(person_id)
            except LookupError:
                name, slack_id = NO_NAME, None
            name = (name or "").strip() or NO_NAME
            if slack_id is not None and not _SLACK_USER_ID_RE.fullmatch(slack_id):
                slack_id = None
            seen[person_id] = (name, slack_id)
        return seen[person_id]

    return lookup


class _Mrkdwn(Visitor):
    """The tokens as Slack text. The neutral markup *is* Slack's mrkdwn, so bold, italic, code and
    emoji names are written back as they were; only people and moments change, and (``escaped``)
    every piece of text has ``&<>`` escaped, so no ``<`` but ours can open a Slack token.

    ``link``: a person linked to Slack becomes ``<@U...>`` and a moment a ``<!date^...>`` token
    (mrkdwn); otherwise a person is ``at`` + their name and a moment its fallback."""

    def __init__(self, resolve: PersonResolver, *, escaped: bool, link: bool, at: str):
        self.resolve, self.escaped, self.linked, self.at = resolve, escaped, link, at

    def text(self, t: Text) -> str:
        return escape(t.text) if self.escaped else t.text

    def code(self, t: Code) -> str:
        return f"`{self.text(t)}`"

    def link(self, t: Link) -> str:
        return escape(t.url) if self.escaped else t.url

    def person(self, t: Person) -> str:
        name, slack_id = self.resolve(t.id)
        if self.linked and slack_id:
            return f"<@{slack_id}>"
        shown = self.at + name
        return escape(shown) if self.escaped else shown

    def moment(self, t: Moment) -> str:
        if self.escaped and self.linked:
            shown = {"date": "{date_short}", "time": "{time}"}.get(t.style, "{date_short} {time}")
            return f"<!date^{t.unix}^{shown}|{escape(t.fallback)}>"
        return escape(t.fallback) if self.escaped else t.fallback


def _substitute(
    text: str,
    resolve: PersonResolver,
    *,
    escaped: bool,
    link: bool,
    at: str,
    limit: int | None = None,
) -> str:
    """Our markup with people and moments replaced and (optionally) everything else escaped;
    ``limit``: cut first by the shared rule (``handlers.text.truncate``)."""
    if MENTION_OPEN not in text and (limit is None or 2 * len(text) <= limit):
        # No person, no moment, nothing to cut: the visitor would write every token back as its
        # source (mrkdwn is the neutral markup), so the parse is skipped for the common case.
        text = text.replace("\x00", "") if "\x00" in text else text
        return escape(text) if escaped else text
    toks = tokens(text) if limit is None else clip(text, limit, lambda pid: resolve(pid)[0])
    return _Mrkdwn(resolve, escaped=escaped, link=link, at=at).render(toks)


def render_text(text: str, resolve: PersonResolver, limit: int | None = None) -> str:
    """Our markup as Slack mrkdwn: ``&<>`` escaped, mentions as ``<@U...>`` when the
    person is linked to Slack, else as their (escaped) name. ``limit``: at most that many
    visible characters by the shared rule (the blocks built here also hold the rendered text to
    Slack's own limits)."""
    return _substitute(text, _cached(resolve), escaped=True, link=True, at="", limit=limit)


def plain_text(text: str, resolve: PersonResolver) -> str:
    """Our markup as a fallback text (the top-level ``text`` of a message).

    Mentions become ``<@U...>`` or ``@Name``; ``*bold*`` and the like are kept as they are.
    Slack parses this field like mrkdwn (that is why ``<@U...>`` notifies there), so ``&<>``
    are escaped: a deal called ``<!channel>`` must not ping the channel from a notification.
    """
    return _substitute(text, _cached(resolve), escaped=True, link=True, at="@")


def _display(text: str, resolve: PersonResolver) -> str:
    """Our markup for a ``plain_text`` object: Slack neither parses nor unescapes-as-markup
    these, so mentions become names and nothing is escaped."""
    return _substitute(text, resolve, escaped=False, link=False, at="")


def _plain_object(text: str, limit: int, *, emoji: bool = True) -> dict:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": emoji}


def _blank(text: str | None) -> bool:
    # Slack rejects empty text; whitespace-only text is treated the same to be safe.
    return text is None or not text.strip()


# --- messages -------------------------------------------------------------------------------


def parse_action_id(action_id: str) -> str:
    """The action name of a rendered button's ``action_id`` (``"deal.close#3"`` -> ``"deal.close"``).

    Slack requires action ids to be unique within a message, so ``render_message`` suffixes
    each with the button's index; this undoes that.
    """
    return _ACTION_SUFFIX_RE.sub("", action_id)


MAX_IMAGE_ALT = 2000
MAX_IMAGE_TITLE = 2000


class _Renderer:
    """Renders blocks of one message or view; carries the running button index. ``files`` maps
    an ``Image`` key to the Slack file id it was uploaded as (an image not uploaded is left out:
    the message text carries the same numbers)."""

    def __init__(self, resolve: PersonResolver, files: dict[str, str] | None = None):
        self.resolve = _cached(resolve)
        self.buttons = 0
        self.files = files or {}

    def mrkdwn(self, text: str, limit: int) -> str:
        # The shared rule cuts the visible text; Slack's limit is on what it receives, which
        # escapes and tokens make longer, so that is guarded too.
        return truncate(_substitute(text, self.resolve, escaped=True, link=True, at="", limit=limit), limit)

    def display(self, text: str) -> str:
        return _display(text, self.resolve)

    def blocks(self, blocks: Iterable[Block]) -> list[dict]:
        out: list[dict] = []
        for block in blocks:
            out.extend(self.block(block))
        return out

    def block(self, block: Block) -> list[dict]:
        if isinstance(block, Header):
            return self.header(block)
        if isinstance(block, Section):
            return self.section(block)
        if isinstance(block, Context):
            return self.context(block)
        if isinstance(block, Divider):
            return [{"type": "divider"}]
        if isinstance(block, Actions):
            return self.actions(block)
        if isinstance(block, Image):
            return self.image(block)
        raise TypeError(f"unknown block {block!r}")

    def image(self, block: Image) -> list[dict]:
        file_id = self.files.get(block.key)
        if not file_id:
            return []
        out: dict[str, Any] = {
            "type": "image",
            "slack_file": {"id": file_id},
            "alt_text": truncate(block.alt, MAX_IMAGE_ALT) or "chart",
        }
        if block.title:
            out["title"] = _plain_object(block.title, MAX_IMAGE_TITLE)
        return [out]

    def header(self, block: Header) -> list[dict]:
        text = self.display(block.text)
        if _blank(text):
            return []
        return [{"type": "header", "text": _plain_object(text, MAX_HEADER_TEXT)}]

    def field(self, label: str, value: str) -> str | None:
        # Bold only works when the label has no surrounding spaces; a field with an empty
        # part drops that part rather than showing a stray "**".
        label_md = self.mrkdwn(label.strip(), MAX_FIELD_TEXT // 2) if label.strip() else ""
        head = f"*{label_md}*" if label_md else ""
        value_md = self.mrkdwn(value, MAX_FIELD_TEXT) if not _blank(value) else ""
        if head and value_md:
            room = MAX_FIELD_TEXT - slack_len(head) - 1
            return f"{head}\n{truncate(value_md, room)}"
        return head or value_md or None

    def section(self, block: Section) -> list[dict]:
        text = self.mrkdwn(block.text, MAX_SECTION_TEXT) if not _blank(block.text) else ""
        fields = [f for f in (self.field(k, v) for k, v in block.fields) if f]
        out: list[dict] = []
        # Slack allows 10 fields per section; the rest continue in sections of their own,
        # and only the first section carries the text.
        chunks = [fields[i : i + MAX_SECTION_FIELDS] for i in range(0, len(fields), MAX_SECTION_FIELDS)]
        for n, chunk in enumerate(chunks or [[]]):
            rendered: dict[str, Any] = {"type": "section"}
            if n == 0 and text:
                rendered["text"] = {"type": "mrkdwn", "text": text}
            if chunk:
                rendered["fields"] = [{"type": "mrkdwn", "text": f} for f in chunk]
            if len(rendered) > 1:  # an empty section is invalid
                out.append(rendered)
        return out

    def context(self, block: Context) -> list[dict]:
        if _blank(block.text):
            return []
        text = self.mrkdwn(block.text, MAX_CONTEXT_TEXT)
        return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]

    def button(self, button) -> dict:
        n = self.buttons
        self.buttons += 1
        action_id = f"{button.action}#{n}"
        if not button.action or slack_len(action_id) > MAX_ACTION_ID:
            # Shortening an action name would route the click to the wrong handler.
            raise ValueError(f"button action must be 1..{MAX_ACTION_ID - 6} characters: {button.action!r}")
        label = self.display(button.label)
        rendered: dict[str, Any] = {
            "type": "button",
            # A button without a label is rejected; it keeps working under a neutral one.
            "text": _plain_object(label if not _blank(label) else ELLIPSIS, MAX_BUTTON_TEXT),
            "action_id": action_id,
        }
        if button.value:  # Slack rejects an empty value; handlers read it with .get("value")
            if slack_len(button.value) > MAX_BUTTON_VALUE:
                raise ValueError(f"button value longer than {MAX_BUTTON_VALUE}: {button.action!r}")
            rendered["value"] = button.value
        # A link button with an over-long URL (pasted by a user, say) keeps its label and
        # action but loses the link, rather than the whole message being rejected.
        if button.url and slack_len(button.url) <= MAX_BUTTON_URL:
            rendered["url"] = button.url
        if button.style:
            rendered["style"] = button.style
        return rendered

    def actions(self, block: Actions) -> list[dict]:
        elements = [self.button(b) for b in block.buttons]
        return [
            {"type": "actions", "elements": elements[i : i + MAX_ACTIONS_ELEMENTS]}
            for i in range(0, len(elements), MAX_ACTIONS_ELEMENTS)
        ]


def _cap(blocks: list[dict], limit: int) -> list[dict]:
    """At most ``limit`` blocks: the first ``limit - 1`` and a note saying how many are hidden."""
    if len(blocks) <= limit:
        return blocks
    hidden = len(blocks) - (limit - 1)
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} {hidden} more not shown"}]}
    return blocks[: limit - 1] + [note]


def _fallback_source(msg: Message) -> str:
    """Source text for the notification when the handler gave none: headers and sections,
    then contexts, so the notification says something useful."""
    lines: list[str] = []
    for block in msg.blocks:
        if isinstance(block, Header) and not _blank(block.text):
            lines.append(block.text)
        elif isinstance(block, Section):
            if not _blank(block.text):
                lines.append(block.text)
            lines.extend(f"{k}: {v}" for k, v in block.fields if not _blank(k) or not _blank(v))
    if not lines:
        lines = [b.text for b in msg.blocks if isinstance(b, Context) and not _blank(b.text)]
    return "\n".join(lines)


def render_message(msg: Message, resolve: PersonResolver, files: dict[str, str] | None = None) -> dict:
    """``{"text", "blocks"}`` for ``chat.postMessage`` / ``chat.update``, within Slack's limits.

    Button ``action_id``\\ s are ``"{action}#{n}"`` (see ``parse_action_id``). More than 50
    blocks keep the first 49 and a "… N more not shown" note. ``text`` is never empty.
    ``files``: Slack file ids of the message's images, by image key.
    """
    renderer = _Renderer(resolve, files)
    blocks = _cap(renderer.blocks(msg.blocks), MAX_MESSAGE_BLOCKS)
    source = msg.text if not _blank(msg.text) else _fallback_source(msg)
    text = truncate(
        _substitute(source, renderer.resolve, escaped=True, link=True, at="@", limit=MAX_FALLBACK_TEXT),
        MAX_FALLBACK_TEXT,
    )
    if _blank(text):
        text = "New message"
    return {"text": text, "blocks": blocks}


def render_home(msg: Message, resolve: PersonResolver) -> dict:
    """A person's App Home (``views.publish``): the message's blocks in a ``home`` view, at most
    100 blocks (the last one a "… N more not shown" note when cut)."""
    renderer = _Renderer(resolve)
    return {"type": "home", "blocks": _cap(renderer.blocks(msg.blocks), MAX_VIEW_BLOCKS)}


def render_reply(reply: Reply, resolve: PersonResolver) -> dict:
    """The body of an ephemeral answer (slash command response or ``response_url`` post).

    Raises ``ValueError`` for a reply without a message: forms are opened with
    ``views.open`` (``render_form``) and errors answered with ``render_errors``.
    """
    msg = reply.as_message()
    if msg is None:
        raise ValueError("reply has no message to render (a form or errors are sent differently)")
    return {"response_type": "ephemeral", **render_message(msg, resolve)}


# --- forms ----------------------------------------------------------------------------------


def _check_id(kind: str, value: str, limit: int) -> str:
    if not value or slack_len(value) > limit:
        raise ValueError(f"{kind} must be 1..{limit} characters: {value!r}")
    return value


def _initial_date(value: str) -> str | None:
    """``YYYY-MM-DD`` from a date or an ISO datetime; None when unreadable (no preset then)."""
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None


def _initial_epoch(value: str) -> int | None:
    """Epoch seconds from digits or an ISO datetime (naive means UTC); None when unreadable."""
    value = value.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def _element(field: Input, renderer: _Renderer) -> dict:
    element: dict[str, Any] = {"action_id": field.name}
    initial = field.initial
    if field.kind in ("text", "textarea"):
        element["type"] = "plain_text_input"
        if field.kind == "textarea":
            element["multiline"] = True
        limit = MAX_TEXT_INPUT_LENGTH
        if field.max_length is not None:
            limit = max(1, min(field.max_length, MAX_TEXT_INPUT_LENGTH))
            element["max_length"] = limit
        if initial:  # a prefilled value must itself respect max_length
            element["initial_value"] = truncate(initial, limit)
    elif field.kind == "select":
        element["type"] = "static_select"
        options: list[dict] = []
        seen: set[str] = set()
        initial_option = None
        for option in field.options:
            if option.value in seen:  # duplicate values are ambiguous on submission
                continue
            seen.add(option.value)
            _check_id(f"option value of {field.name!r}", option.value, MAX_OPTION_VALUE)
            label = renderer.display(option.label)
            rendered = {
                "text": _plain_object(label if not _blank(label) else option.value, MAX_OPTION_TEXT),
                "value": option.value,
            }
            options.append(rendered)
            if initial is not None and option.value == initial:
                initial_option = rendered
        if not options:
            raise ValueError(f"select {field.name!r} has no options")
        if len(options) > MAX_OPTIONS:
            kept = options[:MAX_OPTIONS]
            # A preset beyond the first 100 stays selectable rather than silently vanishing.
            if initial_option is not None and initial_option not in kept:
                kept[-1] = initial_option
            options = kept
        element["options"] = options
        if initial_option is not None:
            element["initial_option"] = initial_option
    elif field.kind == "date":
        element["type"] = "datepicker"
        if initial and (day := _initial_date(initial)):
            element["initial_date"] = day
    elif field.kind == "datetime":
        element["type"] = "datetimepicker"
        if initial and (epoch := _initial_epoch(initial)) is not None:
            element["initial_date_time"] = epoch
    else:  # pragma: no cover - the model's Literal forbids it
        raise ValueError(f"unknown input kind {field.kind!r}")
    if not _blank(field.placeholder) and field.kind != "datetime":  # datetimepicker has none
        element["placeholder"] = _plain_object(renderer.display(field.placeholder), MAX_PLACEHOLDER)
    return element


def _input_block(field: Input, renderer: _Renderer) -> dict:
    _check_id("input name", field.name, min(MAX_BLOCK_ID, MAX_ACTION_ID))
    label = renderer.display(field.label)
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field.name,
        "label": _plain_object(label if not _blank(label) else field.name, MAX_INPUT_LABEL),
        "element": _element(field, renderer),
        "optional": not field.required,
    }
    if not _blank(field.hint):
        block["hint"] = _plain_object(renderer.display(field.hint), MAX_HINT)
    return block


def render_form(form: Form, resolve: PersonResolver) -> dict:
    """A modal view for ``views.open``: the form's blocks, then one ``input`` block per Input.

    Each input's ``block_id`` and ``action_id`` are its name (``parse_view_values`` reads them
    back). Raises ``ValueError`` when ``form.state`` exceeds Slack's 3000-character
    ``private_metadata`` (handlers keep state to ids), when the action or an input name is
    empty or too long, when input names repeat, or when a select has no options.
    """
    _check_id("form action", form.action, MAX_CALLBACK_ID)
    if slack_len(form.state) > MAX_PRIVATE_METADATA:
        raise ValueError(f"form state is longer than {MAX_PRIVATE_METADATA} characters; keep it to ids")
    names = [field.name for field in form.inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"input names repeat: {names}")
    if len(form.inputs) > MAX_VIEW_BLOCKS:
        raise ValueError(f"a form holds at most {MAX_VIEW_BLOCKS} inputs")
    renderer = _Renderer(resolve)
    inputs = [_input_block(field, renderer) for field in form.inputs]
    # Inputs are what the submission needs, so only the informational blocks give way.
    room = MAX_VIEW_BLOCKS - len(inputs)
    shown = renderer.blocks(form.blocks)
    shown = _cap(shown, room) if room > 0 else []
    title = renderer.display(form.title)
    submit = renderer.display(form.submit_label)
    return {
        "type": "modal",
        "callback_id": form.action,
        "private_metadata": form.state,
        "title": _plain_object(title if not _blank(title) else "Form", MAX_VIEW_TITLE),
        "submit": _plain_object(submit if not _blank(submit) else "Submit", MAX_VIEW_TITLE),
        "close": _plain_object("Cancel", MAX_VIEW_TITLE),
        "blocks": shown + inputs,
    }


def _state_value(action: dict) -> str | None:
    """The submitted value of one element of ``view.state.values``, as a string."""
    kind = action.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = action.get("selected_option")
        return option.get("value") if option else None
    if kind == "datepicker":
        return action.get("selected_date")
    if kind == "timepicker":
        return action.get("selected_time")
    if kind == "datetimepicker":
        moment = action.get("selected_date_time")
        return None if moment is None else str(moment)
    if kind == "users_select":
        return action.get("selected_user")
    if kind == "conversations_select":
        return action.get("selected_conversation")
    if kind == "channels_select":
        return action.get("selected_channel")
    value = action.get("value")
    # An emptied optional text input arrives as null or as "": both mean "no answer".
    return value if value not in (None, "") else None


def parse_view_values(state_values: dict) -> dict[str, str | None]:
    """Input name -> submitted value (or None) from a view_submission's ``view.state.values``.

    Selects give the chosen option's value, date pickers ``YYYY-MM-DD`` and datetime pickers
    the epoch seconds as a string.
    """
    values: dict[str, str | None] = {}
    for block_id, actions in (state_values or {}).items():
        for action_id, action in actions.items():
            # render_form makes block_id == action_id; a block with several elements (not
            # ours) is keyed by action id so none overwrites another.
            name = block_id if len(actions) == 1 else action_id
            values[name] = _state_value(action or {})
    return values


def render_errors(errors: dict[str, str]) -> dict:
    """The ``view_submission`` response that shows each error under its input (by name)."""
    return {
        "response_action": "errors",
        "errors": {name: truncate(text or "Invalid value", MAX_ERROR_TEXT) for name, text in errors.items()},
    }
