"""A small typed client for ConvoStore's native API (/v1/sessions, /v1/cache), sync and async, on httpx.

Every method answers the endpoint's JSON body as a dict (docs/openapi: ``/api/docs/``). Errors in OpenAI's
shape ``{"error": {"message", "type", "param", "code"}}`` are raised as :class:`ConvoStoreError` subclasses by
status. Retries (connection failures, 429, 502, 503, 504; ``Retry-After`` honoured, else 0.25 s doubling, at most
8 s) happen only for calls that are safe to repeat: GET, DELETE, the cache lookup, and writes sent with an
Idempotency-Key. This module is the ground floor: it imports nothing from the apps.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generic, TypeVar
from urllib.parse import quote

import httpx

RETRY_STATUSES = (429, 502, 503, 504)
T = TypeVar("T")


class ConvoStoreError(Exception):
    """An error answer (``status`` is None when the server could not be reached)."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None, param: str | None = None,
                 code: str | None = None, body: Any = None):
        super().__init__(message)
        self.message, self.status, self.type, self.param, self.code, self.body = message, status, type, param, code, body


class ConnectionFailed(ConvoStoreError):
    """Could not connect, or the connection broke or timed out."""


class BadRequest(ConvoStoreError):
    """400: bad input (``param`` names it)."""


class AuthenticationFailed(ConvoStoreError):
    """401: missing or wrong API key."""


class PermissionDenied(ConvoStoreError):
    """403."""


class NotFound(ConvoStoreError):
    """404: no such conversation, response, entry."""


class Conflict(ConvoStoreError):
    """409: version mismatch, Idempotency-Key reused with another body, id taken."""


class UnprocessableEntity(ConvoStoreError):
    """422."""


class RateLimited(ConvoStoreError):
    """429: quota or rate limit."""


class ServerError(ConvoStoreError):
    """5xx."""


BY_STATUS = {400: BadRequest, 401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict,
             422: UnprocessableEntity, 429: RateLimited}


def error_of(response: httpx.Response) -> ConvoStoreError:
    """The typed exception for an error answer, from OpenAI's error shape (any other body: its text as the message)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    kind = BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ConvoStoreError)
    message = str(error.get("message") or response.text or f"HTTP {response.status_code}")
    return kind(message, status=response.status_code, type=error.get("type"), param=error.get("param"), code=error.get("code"),
                body=body)


@dataclass(frozen=True)
class Call:
    """One request: ``retryable`` says whether repeating it is safe."""

    method: str
    path: str
    params: dict = field(default_factory=dict)
    json: Any = None
    headers: dict = field(default_factory=dict)
    retryable: bool = False


def _clean(values: dict) -> dict:
    return {key: value for key, value in values.items() if value is not None}


def _key_header(idempotency_key: str | None) -> dict:
    return {"Idempotency-Key": idempotency_key} if idempotency_key else {}


def _id(value: str) -> str:
    return quote(value, safe="")


class Endpoints(Generic[T]):
    """The native endpoints; ``_send`` (sync: a dict, async: an awaitable dict) is the transport's."""

    def _send(self, call: Call) -> T:
        raise NotImplementedError

    def append(self, conversation_id: str, items: list[dict], *, expected_version: int | None = None, metadata: dict | None = None,
               ttl_seconds: int | None = None, idempotency_key: str | None = None) -> T:
        """POST /v1/sessions/{id}/append → ``{"conversation_id", "version", "item_ids", ...}`` (201; creates the conversation)."""
        body = _clean({"items": items, "expected_version": expected_version, "metadata": metadata, "ttl_seconds": ttl_seconds})
        return self._send(Call("POST", f"/v1/sessions/{_id(conversation_id)}/append", json=body,
                               headers=_key_header(idempotency_key), retryable=bool(idempotency_key)))

    def store_response(self, *, input: list[dict], output: list[dict], conversation_id: str | None = None,
                       previous_response_id: str | None = None, response_id: str | None = None, model: str | None = None,
                       usage: dict | None = None, idempotency_key: str | None = None) -> T:
        """POST /v1/sessions/responses → ``{"response_id", "conversation_id", "version", "forked"}`` (201)."""
        body = _clean({"input": input, "output": output, "conversation_id": conversation_id, "model": model, "usage": usage,
                       "previous_response_id": previous_response_id, "response_id": response_id})
        return self._send(Call("POST", "/v1/sessions/responses", json=body, headers=_key_header(idempotency_key),
                               retryable=bool(idempotency_key)))

    def resolve(self, previous_response_id: str) -> T:
        """GET /v1/sessions/resolve → the items a response continues from (its conversation's path up to it)."""
        return self._send(Call("GET", "/v1/sessions/resolve", params={"previous_response_id": previous_response_id}, retryable=True))

    def context(self, conversation_id: str | None = None, *, previous_response_id: str | None = None, max_tokens: int | None = None,
                recent_k: int | None = None, instructions: str | None = None, recall_k: int | None = None,
                query: str | None = None, recall_scope: str | None = None) -> T:
        """GET /v1/sessions/{id}/context (or /v1/sessions/context?previous_response_id=): the assembled context.
        ``max_tokens`` is a token budget (default: the tenant's)."""
        params = _clean({"max_tokens": max_tokens, "recent_k": recent_k, "instructions": instructions, "recall_k": recall_k,
                         "query": query, "recall_scope": recall_scope})
        if (conversation_id is None) == (previous_response_id is None):
            raise ValueError("Pass a conversation_id or previous_response_id, not both or neither.")
        if conversation_id is not None:
            return self._send(Call("GET", f"/v1/sessions/{_id(conversation_id)}/context", params=params, retryable=True))
        params["previous_response_id"] = previous_response_id
        return self._send(Call("GET", "/v1/sessions/context", params=params, retryable=True))

    def items(self, conversation_id: str, *, after: str | None = None, limit: int | None = None, order: str | None = None) -> T:
        """GET /v1/sessions/{id}/items → one page ``{"object": "list", "data", "has_more", ...}``."""
        return self._send(Call("GET", f"/v1/sessions/{_id(conversation_id)}/items",
                               params=_clean({"after": after, "limit": limit, "order": order}), retryable=True))

    def get(self, conversation_id: str) -> T:
        """GET /v1/sessions/{id} → the conversation (version, last_seq, metadata, ...)."""
        return self._send(Call("GET", f"/v1/sessions/{_id(conversation_id)}", retryable=True))

    def delete(self, conversation_id: str) -> T:
        """DELETE /v1/sessions/{id} → ``{"id", "deleted": true}``."""
        return self._send(Call("DELETE", f"/v1/sessions/{_id(conversation_id)}", retryable=True))

    def cache_lookup(self, *, namespace: str, text: str, threshold: float | None = None, **fields) -> T:
        """POST /v1/cache/lookup → ``{"hit", "response"?, "similarity"?, "entry_id"?, "threshold"}`` (a read: retried)."""
        body = _clean({"namespace": namespace, "text": text, "threshold": threshold, **fields})
        return self._send(Call("POST", "/v1/cache/lookup", json=body, retryable=True))

    def cache_store(self, *, namespace: str, text: str, response: Any, ttl_s: int | None = None, **fields) -> T:
        """POST /v1/cache/store → ``{"entry_id", "namespace", "expires_in_s", ...}`` (not retried: each store is an entry)."""
        body = _clean({"namespace": namespace, "text": text, "response": response, "ttl_s": ttl_s, **fields})
        return self._send(Call("POST", "/v1/cache/store", json=body))


class _Policy:
    """What the sync and async clients share: the request of a call, the retry decision, the answer."""

    def __init__(self, base_url: str, api_key: str, max_retries: int):
        self.base_url, self.max_retries = base_url.rstrip("/"), max_retries
        self.headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    def request_of(self, call: Call) -> dict:
        """httpx ``request()`` keyword arguments for ``call``."""
        return {"method": call.method, "url": self.base_url + call.path, "params": call.params or None, "json": call.json,
                "headers": {**self.headers, **call.headers}}

    def again(self, call: Call, attempt: int, outcome: httpx.Response | httpx.TransportError) -> float | None:
        """Seconds to wait before repeating ``call`` after ``outcome`` (a response or a transport error), or None to
        give up (a success, an error that is not retried, or no retries left)."""
        if not call.retryable or attempt >= self.max_retries:
            return None
        response = outcome if isinstance(outcome, httpx.Response) else None
        if response is not None and response.status_code not in RETRY_STATUSES:
            return None
        after = response.headers.get("Retry-After") if response is not None else None
        if after and after.replace(".", "", 1).isdigit():
            return min(float(after), 8.0)
        return min(0.25 * 2 ** attempt, 8.0)


def _answer(outcome: httpx.Response | httpx.TransportError) -> dict:
    """The JSON body of a success; raises the typed error of an error answer, ConnectionFailed for a transport error."""
    if isinstance(outcome, httpx.TransportError):
        raise ConnectionFailed(f"ConvoStore could not be reached: {outcome}") from outcome
    if outcome.status_code >= 400:
        raise error_of(outcome)
    return outcome.json() if outcome.content else {}


class Client(Endpoints[dict], _Policy):
    """Sync client. ``timeout`` in seconds; ``sleep`` is injectable (tests)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 2,
                 sleep: Callable[[float], None] = time.sleep, http: httpx.Client | None = None):
        _Policy.__init__(self, base_url, api_key, max_retries)
        self.sleep, self.http = sleep, http or httpx.Client(timeout=timeout)

    def _send(self, call: Call) -> dict:
        for attempt in itertools.count():
            try:
                outcome = self.http.request(**self.request_of(call))
            except httpx.TransportError as exc:
                outcome = exc
            wait = self.again(call, attempt, outcome)
            if wait is None:
                return _answer(outcome)
            self.sleep(wait)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncClient(Endpoints[Awaitable[dict]], _Policy):
    """Async client: the same methods, awaited."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, max_retries: int = 2,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, http: httpx.AsyncClient | None = None):
        _Policy.__init__(self, base_url, api_key, max_retries)
        self.sleep, self.http = sleep, http or httpx.AsyncClient(timeout=timeout)

    async def _send(self, call: Call) -> dict:
        # The sync loop, awaited: the policy, the request and the answer are _Policy's and _answer's.
        for attempt in itertools.count():
            try:
                outcome = await self.http.request(**self.request_of(call))
            except httpx.TransportError as exc:
                outcome = exc
            wait = self.again(call, attempt, outcome)
            if wait is None:
                return _answer(outcome)
            await self.sleep(wait)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
