"""A JSON parser that rejects what canonical JSON or Postgres cannot hold (NaN, ±inf, invalid UTF-8, NUL, lone surrogates)."""

import json
import math
import re

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from convostore.errors import ValidationFailed

# In valid UTF-8 JSON text a NUL or a lone surrogate can only come from a \u escape: bodies without one skip the walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _NonFinite(Exception):
    """A number literal that overflows a float (``1e999``): valid JSON syntax, but no canonical JSON holds it."""


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str, _float=float, _isinf=math.isinf) -> float:
    # Called by the C scanner for every literal with a fraction or an exponent (integers stay exact ints), so a
    # non-finite number stops the parse without a walk of the parsed value: ~70 ns per float literal.
    value = _float(literal)
    if _isinf(value):
        raise _NonFinite(literal)
    return value


class StrictJSONParser(JSONParser):
    """Parses UTF-8 JSON strictly; any decoding problem is a 400, never a 500.

    Every JSON body of every route passes here, and this is the one place a body is checked for what no stored
    value may hold, so serializers and services need not walk it again:

    - ``NaN``, ``Infinity``, ``-Infinity`` (not JSON): 400 ``invalid_json``, ``param`` None;
    - a number that overflows a float (``1e999``, at any depth): 400 ``invalid_value``;
    - a string or key holding NUL (Postgres text and jsonb refuse it) or a lone surrogate (no UTF-8 form): 400
      ``invalid_value``;

    the last two with ``param`` the JSON path of the value (``items[1].content``; ``None`` for a top-level key).
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
            value = _loads(text)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from exc
        if _SUSPECT_ESCAPE.search(text):
            check_values(value)
        return value


def _loads(text: str):
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        # Rare and bounded by the body size: parse again without the hook (a syntax error after the number is a
        # ValueError, the caller's 400) to name the number's path.
        check_values(json.loads(text, parse_constant=_reject_constant))
        raise ValidationFailed(f"Numbers must be finite: {exc} is beyond a 64-bit float's range.", code="invalid_value") from None


def check_values(value) -> None:
    """Raise ValidationFailed for the first string or key holding NUL or a lone surrogate, or the first non-finite
    number, in document order, naming its JSON path."""
    stack = [(value, None)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            _check(current, path)
        elif isinstance(current, float) and not math.isfinite(current):
            raise ValidationFailed("Numbers must be finite: this one is beyond a 64-bit float's range (±1.8e308).",
                                   param=path, code="invalid_value")
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
