"""The semantic response cache as the API and the gateway use it: text is embedded here, then cache_app looks up or stores."""

from __future__ import annotations

from archive_app.embedders import EmbedderError, embed_cached
from cache_app import semantic
from convostore.errors import ServiceUnavailable, ValidationFailed


def _embedding(tenant_id: int, text: str | None, embedding):
    """The caller's embedding, else the server embedder's vector of ``text`` (through the embedding cache)."""
    if embedding is not None:
        return embedding
    if text is None:
        raise ValidationFailed("Send 'text' or 'embedding'.", param="text", code="missing_required_parameter")
    try:
        return embed_cached(tenant_id=tenant_id, texts=[text])[0]
    except EmbedderError as exc:
        raise ServiceUnavailable(f"The embedder failed: {exc}", code="embedder_unavailable") from exc


def semantic_lookup(*, tenant_id: int, namespace: str, threshold: float, text: str | None = None, embedding=None,
                    context: str | None = None, require_exact_text: bool = False, now: float | None = None) -> dict:
    """cache_app.semantic.cache_lookup with ``text`` embedded when no ``embedding`` is sent.

    Raises ValidationFailed (400) for bad input and ServiceUnavailable (503 ``embedder_unavailable``).
    """
    if require_exact_text and text is None:
        raise ValidationFailed("'require_exact_text' needs 'text'.", param="text", code="missing_required_parameter")
    return semantic.cache_lookup(tenant_id=tenant_id, namespace=namespace, threshold=threshold, text=text,
                                 embedding=_embedding(tenant_id, text, embedding), context=context,
                                 require_exact_text=require_exact_text, now=now)


def semantic_store(*, tenant_id: int, namespace: str, response, text: str | None = None, embedding=None,
                   ttl_s: int | None = None, context: str | None = None, conversation_id: str | None = None,
                   now: float | None = None) -> dict:
    """cache_app.semantic.cache_store with ``text`` embedded when no ``embedding`` is sent (the 201 body)."""
    return semantic.cache_store(tenant_id=tenant_id, namespace=namespace, response=response, text=text,
                                embedding=_embedding(tenant_id, text, embedding), ttl_s=ttl_s, context=context,
                                conversation_id=conversation_id, now=now)
