"""The edge: every query parameter, path parameter and header of every request is checked before any view runs.

Nothing a client puts in a URL or a header reaches SQL, Redis or a log unless it passed here, on every
path (/v1, /admin, the docs, the probes):

- no NUL and no lone surrogate, in any name or value (Postgres text cannot hold NUL; UTF-8 cannot hold a
  lone surrogate), including header values such as a session cookie, which Django looks up in Postgres;
- at most ``MAX_PARAM_CHARS`` characters per query or path value, ``MAX_HEADER_CHARS`` per header value,
  unless the parameter has its own bound in ``QUERY_RULES`` / ``PATH_RULES`` / ``HEADER_RULES``;
- under /v1, the id pattern where the parameter is an id (``conversation_id``, ``item_id``,
  ``response_id``, ``after``, ``previous_response_id``, the ``X-ConvoStore-Conversation`` header).

A failure answers 400 ``invalid_request_error`` in the OpenAI shape with ``param`` naming the parameter
(``after``, ``conversation_id``, ``Idempotency-Key``…). Views still parse their parameters (types,
ranges, enums); what they receive is already safe to store or to look up. JSON bodies get the same
NUL/surrogate check in ``convostore.parsers.StrictJSONParser``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from convostore import canonical
from convostore.errors import ValidationFailed, json_error

MAX_PARAM_CHARS = 2048  # a query or path value without a bound of its own (admin search and filters included)
MAX_HEADER_CHARS = 8192  # a header value without a bound of its own
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rule:
    """A parameter's own bound: at most ``max_chars`` characters, then ``check(value, param)`` (raises ValidationFailed)."""

    max_chars: int = MAX_PARAM_CHARS
    check: Callable[[str, str], object] | None = None


def _item_id(value: str, param: str) -> None:
    if not canonical.ITEM_ID_RE.match(value):
        raise ValidationFailed("Ids are 1–96 characters of [A-Za-z0-9_.:-].", param=param, code="invalid_value")


def _optional_item_id(value: str, param: str) -> None:
    if value:  # an empty ``after=`` means "from the start"
        _item_id(value, param)


def idempotency_key(value: str, param: str = "Idempotency-Key") -> str:
    """An Idempotency-Key header value, stripped: 1–255 printable characters."""
    value = value.strip()
    if not value or len(value) > 255 or not value.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1–255 printable characters.", param=param, code="invalid_value")
    return value


ID = Rule(96, _item_id)
# Query parameters under /v1 with a bound or a pattern of their own.
QUERY_RULES = {
    "after": Rule(96, _optional_item_id),
    "previous_response_id": ID,
    "instructions": Rule(64 * 1024),  # sessions_app.api.context_views checks the byte length
    "query": Rule(64 * 1024),
}
# Path parameters under /v1, by the URLconf's names.
PATH_RULES = {
    "conversation_id": Rule(64, canonical.validate_conversation_id),
    "item_id": ID,
    "response_id": ID,
    "key": Rule(512),  # embedding keys
    "namespace": Rule(256),  # semantic-cache namespaces
}
# Headers (everywhere), by their documented spelling (matched without regard to case).
HEADER_RULES = {
    "Authorization": Rule(1024),  # an API key is 55 characters; the metrics token is the operator's
    "Idempotency-Key": Rule(1024, idempotency_key),
    "X-ConvoStore-Conversation": Rule(64, canonical.validate_conversation_id),
}
_HEADER_NAMES = {name.lower(): name for name in HEADER_RULES}


def check_value(value: str, param: str, rule: Rule | None = None, *, default_max: int = MAX_PARAM_CHARS) -> None:
    """Raise ValidationFailed (400, ``param``) unless ``value`` is safe text within its bound and pattern."""
    if "\x00" in value:
        raise ValidationFailed(f"'{param}' may not contain NUL (\\u0000).", param=param, code="invalid_value")
    if _LONE_SURROGATE.search(value):
        raise ValidationFailed(f"'{param}' may not contain lone surrogates.", param=param, code="invalid_value")
    if rule is not None and rule.check is not None:
        rule.check(value, param)  # its pattern bounds the length too, with the parameter's own message
    limit = rule.max_chars if rule is not None else default_max
    if len(value) > limit:
        raise ValidationFailed(f"'{param}' may hold at most {limit} characters.", param=param, code="invalid_value")


def _is_api(request) -> bool:
    return request.path_info.startswith("/v1/")


def check_query(request) -> None:
    """Every query parameter name and value (all values of a repeated one)."""
    rules = QUERY_RULES if _is_api(request) else {}
    for name, values in request.GET.lists():
        check_value(name, name)
        for value in values:
            check_value(value, name, rules.get(name))


def check_headers(request) -> None:
    """Every header value (names come from the server and are already tokens)."""
    for name, value in request.headers.items():
        name = _HEADER_NAMES.get(name.lower(), name)
        check_value(value, name, HEADER_RULES.get(name), default_max=MAX_HEADER_CHARS)


def check_cookies(request) -> None:
    """Every cookie as Django parsed it (a quoted value may hide an escaped NUL from the header check)."""
    for name, value in request.COOKIES.items():
        check_value(name, "Cookie")
        check_value(value, name, default_max=MAX_HEADER_CHARS)


def check_path(request, view_kwargs: dict) -> None:
    """Every path parameter the URLconf captured."""
    rules = PATH_RULES if _is_api(request) else {}
    for name, value in view_kwargs.items():
        if isinstance(value, str):
            check_value(value, name, rules.get(name))


class EdgeMiddleware:
    """Checks headers and the query string of every request, and the path parameters before the view runs.

    Placed before the session and authentication middleware, so a hostile cookie or Authorization header
    is refused before anything reads Postgres or Redis.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            check_headers(request)
            check_cookies(request)
            check_query(request)
        except ValidationFailed as exc:
            return _refused(exc)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        try:
            check_path(request, view_kwargs)
        except ValidationFailed as exc:
            return _refused(exc)
        return None


def _refused(exc: ValidationFailed):
    return json_error(400, exc.message, param=exc.param, code=exc.code)
