"""The neutral text, parsed once into tokens that every renderer visits.

The markup is the one ``handlers/messages.py`` describes: ``*bold*``, ``_italic_``, ``~strike~``,
```code```, ``:emoji:`` names (those in the one table, ``handlers/emoji.py``; any other name stays
text), bare ``http(s)://`` links, and the private-use tokens of ``mention()`` and ``moment()``.
``tokens(text)`` turns a text into ``Text``, ``Bold``/``Italic``/``Strike`` (with children),
``Person``, ``Moment``, ``Emoji``, ``Code`` and ``Link``; ``source(tokens)`` gives the text back.
A renderer is a ``Visitor``: one method per kind, each defaulting to the neutral source, so
Slack (whose mrkdwn *is* the neutral markup) overrides little and HTML overrides everything.

One truncation rule for all of them, ``truncate``: keep at most ``limit`` visible characters
(UTF-16 units: an emoji is its character's width, a person the width of "@" and their name, a
moment its fallback), never split a person, moment, emoji, code span or link, keep an emphasis
closed around what is left of it, drop trailing blanks and end with "…". Where a platform limits
the *rendered* length (Slack), the renderer still guards that limit on its output.

Pure and cached: the same label or sentence is parsed once per process, not once per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, ClassVar, Iterable, Sequence, Union

from handlers.emoji import EMOJI
from handlers.messages import MENTION_CLOSE, MENTION_OPEN

ELLIPSIS = "…"
NO_NAME = "someone"


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    KIND: ClassVar[str] = "text"


@dataclass(frozen=True, slots=True)
class Person:
    """A ``mention()``: the person's id in the people table."""

    id: int
    KIND: ClassVar[str] = "person"


@dataclass(frozen=True, slots=True)
class Moment:
    """A ``moment()``: a time shown in the reader's zone; ``fallback`` is it in one named zone."""

    unix: int
    style: str  # date | time | datetime
    fallback: str
    KIND: ClassVar[str] = "moment"


@dataclass(frozen=True, slots=True)
class Emoji:
    """A ``:name:`` the shared table knows; ``char`` is what Teams and the local workspace show."""

    name: str
    KIND: ClassVar[str] = "emoji"

    @property
    def char(self) -> str:
        return EMOJI[self.name]


@dataclass(frozen=True, slots=True)
class Code:
    text: str
    KIND: ClassVar[str] = "code"


@dataclass(frozen=True, slots=True)
class Link:
    """A bare http(s) URL in the text (the handlers write no ``<url|label>`` links)."""

    url: str
    KIND: ClassVar[str] = "link"


@dataclass(frozen=True, slots=True)
class Bold:
    children: tuple
    KIND: ClassVar[str] = "bold"
    MARK: ClassVar[str] = "*"


@dataclass(frozen=True, slots=True)
class Italic:
    children: tuple
    KIND: ClassVar[str] = "italic"
    MARK: ClassVar[str] = "_"


@dataclass(frozen=True, slots=True)
class Strike:
    children: tuple
    KIND: ClassVar[str] = "strike"
    MARK: ClassVar[str] = "~"


Token = Union[Text, Person, Moment, Emoji, Code, Link, Bold, Italic, Strike]
Emphasis = (Bold, Italic, Strike)

# Atoms, found in one left-to-right scan; the first that matches at a position wins. Code and
# links stop at a private-use marker so a mention inside one stays a mention.
_ATOM_RE = re.compile(
    f"{MENTION_OPEN}(?:person:(\\d+)|time:(\\d+):(date|time|datetime):([^{MENTION_CLOSE}]*)){MENTION_CLOSE}"
    f"|`([^`\\n{MENTION_OPEN}{MENTION_CLOSE}]+)`"
    f"|(https?://[^\\s<>\"'`{MENTION_OPEN}{MENTION_CLOSE}]+[^\\s<>\"'`.,;:!?)\\]{MENTION_OPEN}{MENTION_CLOSE}])"
    "|:([a-z0-9_+-]{1,40}):"
)
# Emphasis pairs, found on the text with each atom replaced by one NUL (not a word character,
# not a space, not a marker), so a bold may span a mention but never reaches into a link.
_EMPHASIS = (
    (Bold, re.compile(r"(?<![\w*\\])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")),
    (Italic, re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")),
    (Strike, re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")),
)
_MAYBE_RE = re.compile(f"[*_~`:{MENTION_OPEN}]|https?://")


def tokens(text: str | None) -> tuple[Token, ...]:
    """``text`` parsed into tokens (NUL, which no stored text keeps, is dropped)."""
    if not text:
        return ()
    return _parse(text)


@lru_cache(maxsize=16384)
def _parse(text: str) -> tuple[Token, ...]:
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not _MAYBE_RE.search(text):
        return (Text(text),) if text else ()
    atoms: list[Token] = []
    shadow: list[str] = []
    pos = 0
    for m in _ATOM_RE.finditer(text):
        person, unix, style, fallback, code, url, name = m.groups()
        if person is not None:
            atom: Token = Person(int(person))
        elif unix is not None:
            atom = Moment(int(unix), style, fallback)
        elif code is not None:
            atom = Code(code)
        elif url is not None:
            atom = Link(url)
        elif name in EMOJI:
            atom = Emoji(name)
        else:
            continue  # a name the table does not know stays text
        shadow.append(text[pos : m.start()])
        shadow.append("\x00")
        atoms.append(atom)
        pos = m.end()
    shadow.append(text[pos:])
    flat = "".join(shadow)
    spans = _spans(flat)
    it = iter(atoms)
    if not spans:
        return tuple(_flat(flat, it))
    return tuple(_build(flat, 0, len(flat), spans, it))


def _spans(flat: str) -> list[tuple[int, int, type]]:
    """Emphasis spans (start, end, kind), bold first; a span crossing a kept one is not emphasis."""
    kept: list[tuple[int, int, type]] = []
    for kind, pattern in _EMPHASIS:
        if kind.MARK not in flat:
            continue
        for m in pattern.finditer(flat):
            s, e = m.span()
            if all(e <= ks or s >= ke or (ks < s and e < ke) or (s < ks and ke < e) for ks, ke, _ in kept):
                kept.append((s, e, kind))
    kept.sort(key=lambda span: (span[0], -span[1]))
    return kept


def _flat(segment: str, atoms) -> list[Token]:
    if "\x00" not in segment:
        return [Text(segment)] if segment else []
    out: list[Token] = []
    parts = segment.split("\x00")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if part:
            out.append(Text(part))
        if i < last:
            out.append(next(atoms))
    return out


def _build(flat: str, lo: int, hi: int, spans: list, atoms) -> list[Token]:
    out: list[Token] = []
    pos = lo
    i = 0
    while i < len(spans):
        s, e, kind = spans[i]
        inner = []
        j = i + 1
        while j < len(spans) and spans[j][0] < e:
            inner.append(spans[j])
            j += 1
        out.extend(_flat(flat[pos:s], atoms))
        out.append(kind(tuple(_build(flat, s + 1, e - 1, inner, atoms))))
        pos = e
        i = j
    out.extend(_flat(flat[pos:hi], atoms))
    return out


# --- visiting ---------------------------------------------------------------------------------


class Visitor:
    """Renders tokens to a string, one method per kind. The defaults give the neutral source back."""

    def render(self, toks: Sequence[Token]) -> str:
        if len(toks) == 1:  # most texts are one plain run
            return getattr(self, toks[0].KIND)(toks[0])
        return "".join([getattr(self, t.KIND)(t) for t in toks])

    def text(self, t: Text) -> str:
        return t.text

    def person(self, t: Person) -> str:
        return f"{MENTION_OPEN}person:{t.id}{MENTION_CLOSE}"

    def moment(self, t: Moment) -> str:
        return f"{MENTION_OPEN}time:{t.unix}:{t.style}:{t.fallback}{MENTION_CLOSE}"

    def emoji(self, t: Emoji) -> str:
        return f":{t.name}:"

    def code(self, t: Code) -> str:
        return f"`{t.text}`"

    def link(self, t: Link) -> str:
        return t.url

    def bold(self, t: Bold) -> str:
        return f"*{self.render(t.children)}*"

    def italic(self, t: Italic) -> str:
        return f"_{self.render(t.children)}_"

    def strike(self, t: Strike) -> str:
        return f"~{self.render(t.children)}~"


_SOURCE = Visitor()


def source(toks: Sequence[Token]) -> str:
    """The neutral text of ``toks`` (``source(tokens(t)) == t`` for any text without NUL)."""
    return _SOURCE.render(toks)


# --- the one truncation rule -----------------------------------------------------------------


def units(text: str) -> int:
    """Visible width in UTF-16 units (an astral character, most emoji, counts 2)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


Names = Callable[[int], str]


def width(tok: Token, name: Names | None = None) -> int:
    """How many visible units ``tok`` takes (a person: "@" and their name)."""
    if isinstance(tok, (Text, Code)):
        return units(tok.text)
    if isinstance(tok, Emoji):
        return units(tok.char)
    if isinstance(tok, Person):
        return 1 + units((name(tok.id) if name else "") or NO_NAME)
    if isinstance(tok, Moment):
        return units(tok.fallback)
    if isinstance(tok, Link):
        return units(tok.url)
    return sum((width(c, name) for c in tok.children), 0)


def truncate(toks: Iterable[Token], limit: int, name: Names | None = None) -> list[Token]:
    """``toks`` if their visible width fits ``limit``, else the longest prefix that fits with "…".

    Text is cut between characters; a person, moment, emoji, code span or link is kept whole or
    dropped; an emphasis cut inside stays closed around what is left. ``name`` gives a person's
    display name (their width); without it a person counts as "@someone".
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    toks = list(toks)
    if sum(width(t, name) for t in toks) <= limit:
        return toks
    out, _, _ = _cut(toks, limit - units(ELLIPSIS), name)
    _rstrip(out)
    out.append(Text(ELLIPSIS))
    return out


def _cut(toks, budget: int, name) -> tuple[list[Token], int, bool]:
    out: list[Token] = []
    for t in toks:
        if isinstance(t, Text):
            w = units(t.text)
            if w <= budget:
                out.append(t)
                budget -= w
                continue
            n = 0
            for n, ch in enumerate(t.text):  # noqa: B007 - n is used after the loop
                cw = 2 if ord(ch) > 0xFFFF else 1
                if cw > budget:
                    break
                budget -= cw
            if n:
                out.append(Text(t.text[:n]))
            return out, budget, True
        if isinstance(t, Emphasis):
            children, budget, stopped = _cut(t.children, budget, name)
            if stopped:
                _rstrip(children)
            if children:
                out.append(type(t)(tuple(children)))
            if stopped:
                return out, budget, True
            continue
        w = width(t, name)
        if w > budget:
            return out, budget, True
        out.append(t)
        budget -= w
    return out, budget, False


def _rstrip(out: list[Token]) -> None:
    """Drop trailing blanks at the cut (inside a trailing emphasis too)."""
    while out:
        last = out[-1]
        if isinstance(last, Text):
            kept = last.text.rstrip()
            if kept:
                out[-1] = Text(kept)
                return
            out.pop()
        elif isinstance(last, Emphasis):
            children = list(last.children)
            _rstrip(children)
            if children:
                out[-1] = type(last)(tuple(children))
                return
            out.pop()
        else:
            return


def clip(text: str | None, limit: int, name: Names | None = None) -> list[Token] | tuple[Token, ...]:
    """The tokens of ``text`` cut to ``limit`` by ``truncate``. What every renderer calls: the
    width of everything but people is measured once per distinct text, so a text that fits (most
    of them) costs two cache look-ups and a sum over its people."""
    toks = tokens(text)
    if not text or not toks or (2 * len(text) <= limit and MENTION_OPEN not in text):  # fits, whatever it holds
        return toks
    fixed, people = _measure(text)
    if fixed + sum(1 + units((name(pid) if name else "") or NO_NAME) for pid in people) <= limit:
        return toks
    return truncate(toks, limit, name)


@lru_cache(maxsize=16384)
def _measure(text: str) -> tuple[int, tuple[int, ...]]:
    """(width of all but the people, the people's ids) of ``text``'s tokens."""
    fixed = 0
    people: list[int] = []
    stack = list(tokens(text))
    while stack:
        t = stack.pop()
        if isinstance(t, Person):
            people.append(t.id)
        elif isinstance(t, Emphasis):
            stack.extend(t.children)
        else:
            fixed += width(t)
    return fixed, tuple(people)


def truncate_text(text: str, limit: int) -> str:
    """A plain string (no markup: an input's value, an image's alt text) cut by the same rule."""
    if units(text) <= limit:
        return text
    return source(truncate([Text(text)], limit))
