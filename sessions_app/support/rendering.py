"""Tenant data on admin pages: pretty-printed when that is safe and cheap, otherwise shown raw, always bounded.

Anything the API accepted reaches these pages: JSON nested as deep as the parser allows, strings of a MiB,
``\\ud800`` or ``\\u0000`` escapes inside a string that a pretty-printer would decode into characters a page
cannot hold. Every value goes through one of the functions below, which never raise on such input:

- ``json_text(text)``: a string that may hold JSON (function-call arguments, a stored item, a JSON column read
  as text) is re-indented only when it is at most PRETTY_MAX_CHARS long and nested at most PRETTY_MAX_DEPTH
  deep; otherwise it is shown as it is;
- ``value_text(value)``: a parsed value, the same rule; deeper or bigger values are written compactly by an
  iterative encoder that stops after the preview;
- ``label(value)``: a one-line name (a function name, a call id, a content part's type).

What a page shows is cut to PREVIEW_CHARS (LABEL_CHARS for labels) with a note saying how long the whole value
is; the whole item stays available as text/plain (the transcript's "raw item" link) and in the export. The
template escapes the text; lone surrogates become ``\\udXXX`` escapes so the page can always be encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

PRETTY_MAX_CHARS = 64 * 1024  # longer text is shown as stored, not parsed and re-indented
PRETTY_MAX_DEPTH = 64  # deeper values are shown as stored
PRETTY_MAX_NODES = 20_000  # values with more strings, numbers and containers are shown as stored
PREVIEW_CHARS = 20_000  # at most this much of one value on a page
LABEL_CHARS = 200


@dataclass(frozen=True)
class Shown:
    """What a page shows for one value: ``text`` (escaped by the template) and ``note`` ("" when whole and as-is)."""

    text: str
    note: str = ""

    def __str__(self) -> str:
        return self.text

    def __bool__(self) -> bool:
        return bool(self.text)


def displayable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX``: a page must encode as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def cut(text: str, limit: int = PREVIEW_CHARS, why: str = "") -> Shown:
    """``text`` as it is, cut to ``limit`` characters; the note says what was left out (and ``why``, if given)."""
    if len(text) <= limit:
        return Shown(displayable(text), why)
    note = f"first {limit:,} of {len(text):,} characters shown"
    return Shown(displayable(text[:limit]), f"{why}; {note}" if why else note)


def json_text(text: str) -> Shown:
    """A string that may hold JSON: re-indented when short and shallow enough, otherwise shown as it is."""
    if len(text) > PRETTY_MAX_CHARS:
        return cut(text, why="too long to re-indent, shown as stored")
    try:
        value = json.loads(text)
    except RecursionError:
        return cut(text, why=f"nested deeper than {PRETTY_MAX_DEPTH} levels, shown as stored")
    except ValueError:
        return cut(text)  # not JSON: plain text
    refused = _too_big(value)
    if refused:
        return cut(text, why=f"{refused}, shown as stored")
    return cut(json.dumps(value, ensure_ascii=False, indent=2))


def value_text(value) -> Shown:
    """A parsed JSON value: a string as it is, anything else re-indented when shallow, else written compactly."""
    if isinstance(value, str):
        return cut(value)
    refused = _too_big(value)
    if not refused:
        return cut(json.dumps(value, ensure_ascii=False, indent=2))
    text, whole = compact(value, PREVIEW_CHARS)
    note = f"{refused}, shown compact"
    return Shown(displayable(text), note if whole else f"{note}; first {PREVIEW_CHARS:,} characters shown")


def label(value, limit: int = LABEL_CHARS) -> str:
    """One line for a name, an id or a type: a string as it is, anything else compact JSON; cut with an ellipsis."""
    text, whole = (value, len(value) <= limit) if isinstance(value, str) else compact(value, limit)
    return displayable(text[:limit] if whole else text[:limit] + "…")


def _too_big(value) -> str:
    """Why ``value`` is not re-indented ("" when it may be): deeper than PRETTY_MAX_DEPTH or more than
    PRETTY_MAX_NODES values. Walked without recursion, and the walk stops at the first bound crossed."""
    stack = [(value, 1)]
    nodes = 0
    while stack:
        current, depth = stack.pop()
        nodes += 1
        if nodes > PRETTY_MAX_NODES:
            return f"more than {PRETTY_MAX_NODES:,} values"
        if isinstance(current, (dict, list)):
            if depth > PRETTY_MAX_DEPTH:
                return f"nested deeper than {PRETTY_MAX_DEPTH} levels"
            stack.extend((child, depth + 1) for child in (current.values() if isinstance(current, dict) else current))
    return ""


def compact(value, limit: int) -> tuple[str, bool]:  # long: one explicit-stack encoder, any depth, stops at limit
    """Compact JSON of ``value`` without recursion, stopping once ``limit`` characters are written.

    Returns (text, whole): ``whole`` is False when the text was cut. Work: the characters written (at most
    about ``limit``) plus the containers opened on the way, each pushing its children once."""
    out: list[str] = []
    size = 0
    stack: list = [value]
    while stack and size <= limit:
        current = stack.pop()
        if isinstance(current, _Token):
            piece = current.text
        elif isinstance(current, dict):
            piece = "{"
            stack.append(_Token("}"))
            for index, (key, child) in enumerate(reversed(list(current.items()))):
                stack.append(child)
                stack.append(_Token(json.dumps(str(key)[:limit], ensure_ascii=False) + ":"))
                if index < len(current) - 1:
                    stack.append(_Token(","))
        elif isinstance(current, list):
            piece = "["
            stack.append(_Token("]"))
            for index, child in enumerate(reversed(current)):
                stack.append(child)
                if index < len(current) - 1:
                    stack.append(_Token(","))
        elif isinstance(current, str):
            piece = json.dumps(current[: limit + 1], ensure_ascii=False)
        else:
            piece = json.dumps(current)
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text[:limit], not stack and len(text) <= limit


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text
