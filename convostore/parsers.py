"""A JSON parser that rejects what canonical JSON cannot hold (NaN, invalid UTF-8)."""

import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(JSONParser):
    """Parses UTF-8 JSON strictly; any decoding problem is a 400, never a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw:
            raise ParseError("The request body is empty; send a JSON object.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The request body is not valid UTF-8: {exc.reason} at byte {exc.start}.") from exc
        try:
            return json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"The request body is not valid JSON: {exc}") from exc
