"""ConvoStore as the conversation state of a LiteLLM proxy: a ``CustomLogger`` hook for the Responses API.

For an upstream that keeps no state (any OpenAI-compatible server), the hook makes ``previous_response_id`` work
through the proxy, with nothing to wait for:

* ``async_pre_call_hook`` (call types ``responses``/``aresponses``): a ``previous_response_id`` is resolved against
  ConvoStore (``GET /v1/sessions/context?previous_response_id=``: the path's items fitted to the tenant's token budget)
  and put before the request's ``input``; the id is removed, so the upstream gets the whole context and is never
  asked to remember anything. A ``conversation`` (a ConvoStore conversation id) is resolved the same way
  (``GET /v1/sessions/{id}/context``; a new one has no history and is created by the store). Unknown response: 404.
  A chat call (``completion``/``acompletion``) naming ``"convostore": {"conversation": "<id>"}`` in its body gets
  that conversation's history after its leading system messages (``chat_items``); without one it is untouched.
* ``async_post_call_success_hook`` (non-streaming Responses and chat calls) and ``async_post_call_streaming_iterator_hook`` (streaming, at
  ``response.completed``): the turn's input and output are stored (``POST /v1/sessions/responses``) *before* the
  proxy answers, under a response id derived from LiteLLM's call id, which replaces the id in what the client gets.
  So the id the client holds is resolvable the moment it holds it (no spend-log batch to wait for), and a retry of
  the call (same ``x-litellm-call-id``) sends the same Idempotency-Key and response id: stored once. ConvoStore
  unreachable or refusing the store: the call fails (502), since the id it would answer could not be resolved.

Configure (LiteLLM's ``config.yaml``)::

    litellm_settings:
      callbacks: convostore.integrations.litellm.proxy_handler_instance

with ``CONVOSTORE_URL`` (the ConvoStore base URL) and ``CONVOSTORE_API_KEY`` (a tenant key) in the proxy's
environment. This package imports only ``convostore.client`` and ``litellm``; nothing else in convostore imports it,
so ``import convostore`` does not need litellm.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException
from litellm.proxy.hooks.responses_id_security import ResponsesIDSecurity

from convostore.client import AsyncClient, BadRequest, ConvoStoreError, NotFound
from convostore.integrations import chat_items

logger = logging.getLogger(__name__)

RESPONSES_CALLS = frozenset({"responses", "aresponses"})
CHAT_CALLS = frozenset({"completion", "acompletion"})
PENDING_LIMIT = 10_000  # turns between their pre- and post-call hooks, per proxy process


@dataclass(frozen=True)
class Turn:
    """What the post-call hook stores: the client's own input items, where they continue, the id to answer with."""

    input: list
    previous_response_id: str | None
    conversation_id: str | None
    response_id: str
    idempotency_key: str
    chat: bool = False


def as_items(value) -> list[dict]:
    """A Responses ``input`` (a string or a list of items/messages) as a list of items."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    return [dict(item) if isinstance(item, dict) else _plain(item) for item in value]


def _plain(value):
    dump = getattr(value, "model_dump", None)
    return dump(exclude_none=True) if dump else value


def for_upstream(items: list[dict]) -> list[dict]:
    """Stored items as input to a stateless upstream: ConvoStore's ids dropped; reasoning sent only with its
    ``encrypted_content`` (as ConvoStore's own gateway mode does)."""
    sent = []
    for item in items:
        if item.get("type") == "reasoning":
            if item.get("encrypted_content"):
                sent.append(item)
            continue
        sent.append({key: value for key, value in item.items() if key not in ("id", "seq", "created_at")})
    return sent


def without_ids(items: list[dict]) -> list[dict]:
    """Items to store, without the upstream's ids (ConvoStore assigns its own; a retry's upstream ids differ)."""
    return [{key: value for key, value in item.items() if key != "id"} for item in items]


def turn_ids(call_id: str) -> tuple[str, str]:
    """(response id, fallback conversation id) for a LiteLLM call id: deterministic, so a retried call maps to the
    same stored response; hashed, so any call id fits ConvoStore's id alphabet."""
    digest = hashlib.sha256(call_id.encode()).hexdigest()
    return f"resp_cs_{digest[:40]}", f"litellm-{digest[:40]}"


def _conversation_of(data: dict) -> str | None:
    value = data.get("conversation")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _failure(message: str, status: int, code: str, param: str | None = None) -> ProxyException:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return ProxyException(message=message, type=kind, param=param, code=status, openai_code=code)


class ConvoStoreHook(CustomLogger):
    """The proxy hook; ``client`` defaults to an ``AsyncClient`` on ``CONVOSTORE_URL`` / ``CONVOSTORE_API_KEY``."""

    def __init__(self, client: AsyncClient | None = None, **kwargs):
        super().__init__(**kwargs)
        self._client = client
        self.pending: dict[str, Turn] = {}
        self.id_security = ResponsesIDSecurity()

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            self._client = AsyncClient(os.environ.get("CONVOSTORE_URL", "http://127.0.0.1:8000"),
                                       os.environ.get("CONVOSTORE_API_KEY", ""), max_retries=2)
        return self._client

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type) -> dict:
        """Rewrite a Responses call (history from ConvoStore before ``input``; ``previous_response_id`` and
        ``conversation`` removed) or a chat call naming ``convostore.conversation`` (history after the leading
        system messages). Raises ProxyException 400 (bad id; a streamed chat), 404 (unknown response), 502."""
        kind, call_id = str(getattr(call_type, "value", call_type)), str(data.get("litellm_call_id") or "")
        if call_id and kind in RESPONSES_CALLS:
            await self._responses_pre(data, call_id, user_api_key_dict)
        elif call_id and kind in CHAT_CALLS:
            await self._chat_pre(data, call_id)
        return data

    async def _responses_pre(self, data: dict, call_id: str, user_api_key_dict) -> None:
        previous, conversation = data.pop("previous_response_id", None), _conversation_of(data)
        if previous:  # LiteLLM's own check (it would run after us and see no id): its encrypted id, owned by this key
            previous = self.id_security.authorize_response_id(previous, user_api_key_dict)
        data.pop("conversation", None)
        own = as_items(data.get("input"))
        history = await self._history(previous, conversation)
        data["input"] = for_upstream(history) + own
        if data.get("store") is False:
            return  # resolved, but the client asked for nothing to be kept
        response_id, fallback = turn_ids(call_id)
        self._remember(call_id, Turn(own, previous, None if previous else conversation or fallback, response_id, call_id))

    async def _chat_pre(self, data: dict, call_id: str) -> None:
        extension = data.pop("convostore", None)
        conversation = extension.get("conversation") if isinstance(extension, dict) else None
        if not conversation:
            return  # a plain pass-through: nothing resolved, nothing stored
        if data.get("stream"):
            raise _failure("A streamed chat with a ConvoStore conversation is not supported through the LiteLLM hook "
                           "(send stream: false, or use ConvoStore's own POST /v1/chat/completions).", 400, "unsupported_value", "stream")
        leading, new = chat_items.split_leading(list(data.get("messages") or []))
        history = await self._history(None, str(conversation))
        data["messages"] = leading + chat_items.items_to_messages(for_upstream(history)) + new
        self._remember(call_id, Turn(chat_items.messages_to_items(new), None, str(conversation), turn_ids(call_id)[0], call_id, chat=True))

    def _remember(self, call_id: str, turn: Turn) -> None:
        if len(self.pending) >= PENDING_LIMIT:  # turns whose call never finished (no failure hook): oldest first
            self.pending.pop(next(iter(self.pending)))
        self.pending[call_id] = turn

    async def _history(self, previous: str | None, conversation: str | None) -> list[dict]:
        """The assembled context (``GET /v1/sessions/context``: fitted to the tenant's token budget, with summaries) a
        response or conversation continues from; a conversation ConvoStore does not know yet has none."""
        try:
            if previous:
                return (await self.client.context(previous_response_id=previous))["messages"]
            if conversation:
                return (await self.client.context(conversation))["messages"]
        except NotFound:
            if previous:
                raise _failure(f"Previous response with id '{previous}' not found.", 404, "not_found", "previous_response_id")
        except BadRequest as exc:
            raise _failure(exc.message, 400, exc.code or "invalid_value", "previous_response_id" if previous else "conversation")
        except ConvoStoreError as exc:
            raise _failure(f"ConvoStore could not resolve the conversation: {exc.message}", 502, "convostore_unavailable")
        return []

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response):
        """Store a finished non-streaming call (Responses, or chat with a conversation), then answer with the stored id."""
        turn = self.pending.pop(str(data.get("litellm_call_id") or ""), None)
        if turn is not None and turn.chat and getattr(response, "choices", None):
            usage = chat_items.usage_of(_plain(getattr(response, "usage", None)))
            await self.store(turn, chat_items.answer_items(_plain(response.choices[0].message)), getattr(response, "model", None), usage)
            response.id = turn.response_id
        elif turn is not None and not turn.chat and getattr(response, "output", None) is not None:
            await self.store_response(turn, response)
            response.id = turn.response_id
        return response

    async def async_post_call_failure_hook(self, request_data: dict, original_exception, user_api_key_dict, traceback_str=None):
        """A failed call stores nothing: forget its turn."""
        self.pending.pop(str(request_data.get("litellm_call_id") or ""), None)

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data: dict):
        """Pass a Responses stream through with ConvoStore's response id in every event that carries the response;
        at ``response.completed`` the turn is stored before that event is sent (a failure ends the stream instead)."""
        turn = self.pending.pop(str(request_data.get("litellm_call_id") or ""), None)
        async for event in response:
            carried = getattr(event, "response", None) if turn is not None else None
            if carried is not None and getattr(carried, "id", None):
                kind = getattr(event, "type", None)
                if str(getattr(kind, "value", kind)) == "response.completed":
                    await self.store_response(turn, carried)
                carried.id = turn.response_id
            yield event

    async def store_response(self, turn: Turn, response) -> None:
        """Store a Responses answer (its output items and usage) for ``turn``."""
        usage = _plain(getattr(response, "usage", None))
        output = [_plain(item) for item in (getattr(response, "output", None) or [])]
        await self.store(turn, output, getattr(response, "model", None), usage if isinstance(usage, dict) else None)

    async def store(self, turn: Turn, output: list[dict], model: str | None, usage: dict | None) -> None:
        """POST the turn to ConvoStore (Idempotency-Key: the call id). Raises ProxyException 502 when it is not stored."""
        try:
            await self.client.store_response(
                input=without_ids(turn.input), output=without_ids(output), previous_response_id=turn.previous_response_id,
                conversation_id=turn.conversation_id, response_id=turn.response_id, model=model, usage=usage,
                idempotency_key=turn.idempotency_key,
            )
        except ConvoStoreError as exc:
            logger.warning("convostore: response %s not stored: %s", turn.response_id, exc.message)
            raise _failure(f"The response could not be stored in ConvoStore: {exc.message}", 502, "convostore_unavailable")


proxy_handler_instance = ConvoStoreHook()
