"""The one OpenAI-compatible client: the official ``openai`` SDK, for summaries, embeddings, relevance gates and
the upstream model servers of gateway mode.

Any server with OpenAI's ``/v1/chat/completions``, ``/v1/responses`` or ``/v1/embeddings`` (OpenAI, vLLM,
llama.cpp, TGI, TEI, …) is reached through ``openai.OpenAI`` with its base URL, key, timeouts and retries:
the SDK owns the connection pool and the retry policy (exponential backoff with jitter on connection
errors, timeouts, 408, 409, 429 and 5xx, honouring ``Retry-After``; never on other 4xx). One client per
configuration and process, shared across threads. Nothing is taken from ``OPENAI_*`` environment
variables: no key means no ``Authorization`` header (pass ``request_headers(client)`` with each call), and
no organization or project header is sent.

Errors are the SDK's: ``openai.APIStatusError`` (the server answered an error status),
``openai.APITimeoutError``, ``openai.APIConnectionError`` — all ``openai.OpenAIError``, also reachable as
``openai_client.OpenAIError`` (``except openai_client.OpenAIError:`` imports the SDK only when an error is raised).

The SDK is imported on first use, not at module import: ``import openai`` costs seconds of CPU (its
type modules), which every management command and worker start would pay even when no OpenAI-compatible
endpoint is configured.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

_clients: dict[tuple, openai.OpenAI] = {}
_lock = threading.Lock()


def sdk():
    """The ``openai`` module, imported on first call (lazily: it is heavy, see the module docstring)."""
    return importlib.import_module("openai")


def __getattr__(name: str):
    """``OpenAIError`` and the other SDK exceptions, resolved when first read (an ``except`` clause reads it when raised)."""
    if name.endswith("Error"):
        return getattr(sdk(), name)
    raise AttributeError(name)


def openai_client(*, base_url: str, api_key: str | None, timeout_s: float, connect_timeout_s: float | None = None,
                  max_retries: int = 2) -> openai.OpenAI:
    """The shared SDK client for ``base_url`` (ending in ``/v1``); timeouts in seconds per attempt."""
    if not base_url:
        raise sdk().OpenAIError("no OpenAI-compatible base URL is configured")
    connect = timeout_s if connect_timeout_s is None else connect_timeout_s
    key = (base_url.rstrip("/"), api_key or "", float(timeout_s), float(connect), int(max_retries))
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = sdk().OpenAI(
                base_url=key[0],
                api_key=api_key or "",
                timeout=sdk().Timeout(timeout_s, connect=connect),
                max_retries=max_retries,
                _enforce_credentials=False,  # a server without a key (vLLM, llama.cpp) is a normal case here
            )
            client.organization = None  # never forward OPENAI_ORG_ID / OPENAI_PROJECT_ID of this process
            client.project = None
            _clients[key] = client
    return client


def request_headers(client: openai.OpenAI) -> dict:
    """Per-call headers: an explicitly omitted ``Authorization`` when the client has no key (the SDK insists)."""
    return {} if client.api_key else {"Authorization": sdk().omit}


def chat_text(*, base_url: str, api_key: str, model: str, messages: list[dict], max_tokens: int, timeout: float,
              retries: int) -> str:
    """The first choice's text of a deterministic (temperature 0) chat completion, stripped.

    Raises openai.OpenAIError when the call fails after the retries, ValueError when the answer has no text.
    """
    client = openai_client(base_url=base_url, api_key=api_key, timeout_s=timeout, max_retries=retries)
    completion = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=max_tokens,
                                                extra_headers=request_headers(client))
    text = completion.choices[0].message.content if completion.choices else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the endpoint answered an empty completion")
    return text.strip()


def embeddings(*, base_url: str, api_key: str, model: str, texts: list[str], dimensions: int, timeout: float,
               retries: int) -> dict:
    """The ``/embeddings`` answer for ``texts`` as a plain dict (``{"data": [{"index", "embedding"}, …], …}``).

    Raises openai.OpenAIError when the call fails after the retries.
    """
    client = openai_client(base_url=base_url, api_key=api_key, timeout_s=timeout, max_retries=retries)
    answer = client.embeddings.create(model=model, input=texts, dimensions=dimensions, encoding_format="float",
                                      extra_headers=request_headers(client))
    return answer.model_dump()
