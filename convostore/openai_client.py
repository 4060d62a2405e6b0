"""The one factory for clients of OpenAI-compatible servers, on the official ``openai`` SDK (reused per configuration)."""

from __future__ import annotations

import threading

import openai

_clients: dict[tuple, openai.OpenAI] = {}
_lock = threading.Lock()


def openai_client(*, base_url: str, api_key: str | None, timeout_s: float, connect_timeout_s: float, max_retries: int) -> openai.OpenAI:
    """A shared ``openai.OpenAI`` for this configuration (its connection pool is reused across requests and threads).

    Retries (429, 5xx, connection errors; exponential backoff honouring ``Retry-After``) and timeouts are the
    SDK's own. Nothing is taken from ``OPENAI_*`` environment variables: no key means no ``Authorization``
    header (pass :func:`request_headers` with each call), and no organization or project header is sent.
    """
    key = (base_url, api_key or "", float(timeout_s), float(connect_timeout_s), int(max_retries))
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = openai.OpenAI(
                base_url=base_url,
                api_key=api_key or "",
                timeout=openai.Timeout(timeout_s, connect=connect_timeout_s),
                max_retries=max_retries,
                _enforce_credentials=False,  # a server without a key (vLLM, llama.cpp) is a normal case here
            )
            client.organization = None  # never forward OPENAI_ORG_ID / OPENAI_PROJECT_ID of this process
            client.project = None
            _clients[key] = client
    return client


def request_headers(client: openai.OpenAI) -> dict:
    """Per-call headers: an explicitly omitted ``Authorization`` when the client has no key (the SDK insists)."""
    return {} if client.api_key else {"Authorization": openai.omit}
