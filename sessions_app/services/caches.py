"""The semantic response cache as the API and the gateway use it: text is embedded here, then cache_app looks up or stores."""

from __future__ import annotations

from archive_app.embedders import EmbedderError, embed_cached, get_embedder
from cache_app import semantic
from convostore.errors import ServiceUnavailable, ValidationFailed

from ..models import Tenant
from .semantic_namespaces import semantic_lookup_settings


def _embedding(tenant_id: int, text: str | None, embedding) -> tuple[object, str]:
    """(vector, model): the caller's embedding (model ""), else the server embedder's vector of ``text`` through
    the embedding cache (model = the embedder's cache_id, so its vectors get scopes of their own)."""
    if embedding is not None:
        return embedding, ""
    if text is None:
        raise ValidationFailed("Send 'text' or 'embedding'.", param="text", code="missing_required_parameter")
    embedder = get_embedder()
    try:
        return embed_cached(tenant_id=tenant_id, texts=[text], embedder=embedder)[0], embedder.cache_id
    except EmbedderError as exc:
        raise ServiceUnavailable(f"The embedder failed: {exc}", code="embedder_unavailable") from exc


def semantic_lookup(*, tenant: Tenant, namespace: str, threshold: float | None = None, guard: bool | None = None,
                    text: str | None = None, embedding=None, context: str | None = None, require_exact_text: bool = False,
                    now: float | None = None) -> dict:
    """cache_app.semantic.cache_lookup with ``text`` embedded when no ``embedding`` is sent; the threshold and
    guard default to the namespace's calibration, else the tenant's threshold with the guard on.

    Raises ValidationFailed (400) for bad input and ServiceUnavailable (503 ``embedder_unavailable``).
    """
    if require_exact_text and text is None:
        raise ValidationFailed("'require_exact_text' needs 'text'.", param="text", code="missing_required_parameter")
    threshold, guard = semantic_lookup_settings(tenant=tenant, namespace=namespace, threshold=threshold, guard=guard,
                                                server_embeds=embedding is None)
    vector, model = _embedding(tenant.pk, text, embedding)
    return semantic.cache_lookup(tenant_id=tenant.pk, namespace=namespace, threshold=threshold, embedding=vector, model=model,
                                 text=text, context=context, require_exact_text=require_exact_text, guard=guard, now=now)


def semantic_store(*, tenant_id: int, namespace: str, response, text: str | None = None, embedding=None,
                   ttl_s: int | None = None, context: str | None = None, conversation_id: str | None = None,
                   now: float | None = None) -> dict:
    """cache_app.semantic.cache_store with ``text`` embedded when no ``embedding`` is sent (the 201 body)."""
    vector, model = _embedding(tenant_id, text, embedding)
    return semantic.cache_store(tenant_id=tenant_id, namespace=namespace, response=response, embedding=vector, model=model,
                                text=text, ttl_s=ttl_s, context=context, conversation_id=conversation_id, now=now)
