"""A JSON parser that rejects what canonical JSON or Postgres cannot hold (NaN, invalid UTF-8, NUL, lone surrogates)."""

import json
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from convostore.errors import ValidationFailed

# In valid UTF-8 JSON text a NUL or a lone surrogate can only come from a \u escape: bodies without one skip the walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """Parses UTF-8 JSON strictly; any decoding problem is a 400, never a 500.

    Every JSON body of every route passes here, so no string or key holding NUL (Postgres text and jsonb
    refuse it) or a lone surrogate (no UTF-8 form) reaches a view: 400 ``invalid_value`` with ``param``
    the JSON path of the string (``items[1].content``; ``None`` for a top-level key).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw:
            raise ParseError("The request body is empty; send a JSON object.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The request body is not valid UTF-8: {exc.reason} at byte {exc.start}.") from exc
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from exc
        if _SUSPECT_ESCAPE.search(text):
            check_strings(value)
        return value


def check_strings(value) -> None:
    """Raise ValidationFailed for the first string or key holding NUL or a lone surrogate, naming its JSON path."""
    stack = [(value, None)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            _check(current, path)
        elif isinstance(current, dict):
            for key in current:
                _check(key, path)
            stack.extend(reversed([(nested, f"{path}.{key}" if path else key) for key, nested in current.items()]))
        elif isinstance(current, list):
            stack.extend(reversed([(nested, f"{path or ''}[{index}]") for index, nested in enumerate(current)]))


def _check(text: str, path) -> None:
    if "\x00" in text:
        raise ValidationFailed("Strings may not contain NUL (\\u0000).", param=path, code="invalid_value")
    if _LONE_SURROGATE.search(text):
        raise ValidationFailed("Strings may not contain lone surrogates.", param=path, code="invalid_value")
