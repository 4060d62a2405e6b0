"""Canonical JSON for items: UTF-8, sorted keys, no insignificant whitespace, no NUL or lone surrogates."""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from django.conf import settings

from convostore.errors import PayloadTooLarge, ValidationFailed

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
ITEM_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,95}$")
RESERVED_IDS = frozenset({"resolve", "context", "responses"})
ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
    "web_search_call": "ws",
    "file_search_call": "fs",
    "computer_call": "cu",
    "computer_call_output": "cuo",
}


def dumps(value) -> str:
    """The canonical text of a JSON value; the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value) -> str:
    return hashlib.sha256(dumps(value).encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def check_text(value, param: str) -> None:
    """Reject NUL characters and lone surrogates anywhere in keys or strings (they have no canonical UTF-8), and
    NaN or infinite numbers (no JSON holds them): 400 ``invalid_value`` naming ``param``."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            _check_string(current, param)
        elif isinstance(current, dict):
            for key, nested in current.items():
                _check_string(key, param)
                stack.append(nested)
        elif isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, float) and (current != current or current in (float("inf"), float("-inf"))):
            raise ValidationFailed("NaN and infinite numbers are not valid JSON.", param=param, code="invalid_value")


def _check_string(text: str, param: str) -> None:
    if "\x00" in text:
        raise ValidationFailed("Strings may not contain NUL (\\u0000).", param=param, code="invalid_value")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed("Strings may not contain lone surrogates.", param=param, code="invalid_value") from None


def validate_conversation_id(value, param: str = "conversation_id") -> str:
    if not isinstance(value, str) or not ID_RE.match(value) or value in RESERVED_IDS:
        raise ValidationFailed(
            "Conversation ids are 1–64 characters of [A-Za-z0-9_.:-], start with a letter or digit, "
            "and are not a reserved word (resolve, context, responses).",
            param=param,
            code="invalid_conversation_id",
        )
    return value


def validate_response_id(value, param: str) -> str:
    if not isinstance(value, str) or not ITEM_ID_RE.match(value):
        raise ValidationFailed("Response ids are 1–96 characters of [A-Za-z0-9_.:-].", param=param, code="invalid_value")
    return value


def normalise_item(item, param: str) -> dict:
    """An item as stored: any OpenAI item type kept as given; a bare {role, content} becomes a message.

    Its strings and numbers are checked by encode_item, on the bytes it makes anyway (a body's items were already
    checked by convostore.parsers; an upstream's output items were not).
    """
    if not isinstance(item, dict):
        raise ValidationFailed("Each item must be a JSON object.", param=param, code="invalid_type")
    item = dict(item)
    if "type" not in item:
        if "role" not in item:
            raise ValidationFailed("An item needs a 'type' (or a 'role' for a message).", param=param, code="missing_required_parameter")
        item["type"] = "message"
    item_type = item["type"]
    if not isinstance(item_type, str) or not item_type or len(item_type) > 64:
        raise ValidationFailed("'type' must be a non-empty string of at most 64 characters.", param=f"{param}.type", code="invalid_type")
    if item_type == "message":
        _check_message(item, param)
    role = item.get("role")
    if role is not None and (not isinstance(role, str) or len(role) > 32):
        raise ValidationFailed("'role' must be a string of at most 32 characters.", param=f"{param}.role", code="invalid_type")
    if "id" in item and item["id"] is not None:
        if not isinstance(item["id"], str) or not ITEM_ID_RE.match(item["id"]):
            raise ValidationFailed("Item ids are 1–96 characters of [A-Za-z0-9_.:-].", param=f"{param}.id", code="invalid_value")
    else:
        item["id"] = new_id(ID_PREFIXES.get(item_type, "item"))
    return item


def _check_message(item: dict, param: str) -> None:
    role = item.get("role")
    if not isinstance(role, str) or not role:
        raise ValidationFailed("A message needs a 'role'.", param=f"{param}.role", code="missing_required_parameter")
    if "content" not in item:
        raise ValidationFailed("A message needs 'content'.", param=f"{param}.content", code="missing_required_parameter")
    if not isinstance(item["content"], (str, list)):
        raise ValidationFailed("'content' must be a string or a list of content parts.", param=f"{param}.content", code="invalid_type")


def encode_item(item: dict, param: str) -> tuple[str, int]:
    """Canonical text of a normalised item and its size in UTF-8 bytes.

    400 ``invalid_value`` naming ``param`` for a NUL, a lone surrogate or a non-finite number anywhere in it (found
    on the text and bytes made here anyway; only a suspect item is walked), 413 past CONVOSTORE_MAX_ITEM_BYTES.
    """
    try:
        raw = dumps(item)  # allow_nan=False: ValueError on NaN and ±inf
        size = len(raw.encode("utf-8"))  # UnicodeEncodeError (a ValueError) on a lone surrogate
    except ValueError:
        check_text(item, param)  # names the fault
        raise
    # The canonical text escapes a NUL as \u0000 (a string holding those six characters gives \\u0000, hence the
    # walk to tell). A one-character search is a memchr; the six-character one costs ~0.5 ms per MiB.
    if "\\" in raw and "\\u0000" in raw:
        check_text(item, param)
    if size > settings.CONVOSTORE_MAX_ITEM_BYTES:
        raise PayloadTooLarge(
            f"An item may hold at most {settings.CONVOSTORE_MAX_ITEM_BYTES} bytes of canonical JSON.", param=param, code="item_too_large"
        )
    return raw, size
