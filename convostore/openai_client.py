"""The one OpenAI-compatible client: the official ``openai`` SDK, for summaries, embeddings and relevance gates.

Any server with OpenAI's ``/v1/chat/completions`` or ``/v1/embeddings`` (OpenAI, vLLM, llama.cpp, TGI,
TEI, …) is reached through ``openai.OpenAI`` with its base URL, key, timeout and retries: the SDK owns
the connection pool and the retry policy (exponential backoff with jitter on connection errors,
timeouts, 408, 409, 429 and 5xx, honouring ``Retry-After``; never on other 4xx). Clients are reused:
one per (base URL, key, timeout, retries) and process.

Errors are the SDK's: ``openai.APIStatusError`` (the server answered an error status),
``openai.APITimeoutError``, ``openai.APIConnectionError`` — all ``openai.OpenAIError``, also reachable as
``openai_client.OpenAIError`` (``except openai_client.OpenAIError:`` imports the SDK only when an error is raised).

The SDK is imported on first use, not at module import: ``import openai`` costs seconds of CPU (its
type modules), which every management command and worker start would pay even when no OpenAI-compatible
endpoint is configured.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import openai

NO_KEY = "no-key"  # the SDK requires a key; servers that need none ignore this one


def sdk():
    """The ``openai`` module, imported on first call (lazily: it is heavy, see the module docstring)."""
    return importlib.import_module("openai")


def __getattr__(name: str):
    """``OpenAIError`` and the other SDK exceptions, resolved when first read (an ``except`` clause reads it when raised)."""
    if name.endswith("Error"):
        return getattr(sdk(), name)
    raise AttributeError(name)


@lru_cache(maxsize=64)
def client(*, base_url: str, api_key: str = "", timeout: float = 30.0, max_retries: int = 2) -> openai.OpenAI:
    """The SDK client for ``base_url`` (ending in ``/v1``); ``timeout`` in seconds per attempt."""
    if not base_url:
        raise sdk().OpenAIError("no OpenAI-compatible base URL is configured (CONVOSTORE_OPENAI_BASE_URL)")
    return sdk().OpenAI(base_url=base_url.rstrip("/"), api_key=api_key or NO_KEY, timeout=timeout, max_retries=max_retries)


def chat_text(*, base_url: str, api_key: str, model: str, messages: list[dict], max_tokens: int, timeout: float,
              retries: int) -> str:
    """The first choice's text of a deterministic (temperature 0) chat completion, stripped.

    Raises openai.OpenAIError when the call fails after the retries, ValueError when the answer has no text.
    """
    completion = client(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries).chat.completions.create(
        model=model, messages=messages, temperature=0, max_tokens=max_tokens
    )
    text = completion.choices[0].message.content if completion.choices else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the endpoint answered an empty completion")
    return text.strip()


def embeddings(*, base_url: str, api_key: str, model: str, texts: list[str], dimensions: int, timeout: float,
               retries: int) -> dict:
    """The ``/embeddings`` answer for ``texts`` as a plain dict (``{"data": [{"index", "embedding"}, …], …}``).

    Raises openai.OpenAIError when the call fails after the retries.
    """
    answer = client(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries).embeddings.create(
        model=model, input=texts, dimensions=dimensions, encoding_format="float"
    )
    return answer.model_dump()
