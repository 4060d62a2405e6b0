"""/v1/cache API: semantic response cache and embedding cache. Views validate, call one service, serialise."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from cache_app import embedding_cache, semantic_purge
from cache_app.redis_client import RedisUnavailable
from convostore.errors import NotFound, ServiceUnavailable, ValidationFailed

from ..services import caches
from . import cache_serializers as s


def _input(serializer_class, request):
    if not isinstance(request.data, dict):
        raise ValidationFailed("The request body must be a JSON object.", code="invalid_type")
    # NUL, lone surrogates and non-finite numbers were refused by the parser (convostore.parsers), with their path.
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@contextmanager
def _embedding_cache():
    """Redis failures of the embedding cache answer 503 ``cache_unavailable``."""
    try:
        yield
    except RedisUnavailable as exc:
        raise ServiceUnavailable("The embedding cache is unavailable.", code="cache_unavailable") from exc


def _floats(vector) -> list[float]:
    # The shortest decimal that round-trips each float32, so 0.1 comes back as 0.1.
    return [float(text) for text in np.asarray(vector, dtype=np.float32).astype(str)]


def _embedding_key(key: str) -> str:
    if not 1 <= len(key) <= 512:
        raise ValidationFailed("Embedding keys are 1 to 512 characters.", param="key", code="invalid_value")
    # NUL and lone surrogates: refused at the edge (convostore.edge), as for every path parameter.
    return key


class SemanticLookupApi(APIView):
    @extend_schema(operation_id="cache_lookup", request=s.LookupInputSerializer, responses={200: s.LookupOutputSerializer})
    def post(self, request):
        data = _input(s.LookupInputSerializer, request)
        tenant = request.user.tenant
        body = caches.semantic_lookup(
            tenant=tenant,
            namespace=data["namespace"],
            threshold=data.get("threshold"),
            guard=data.get("guard"),
            text=data.get("text"),
            embedding=data.get("embedding"),
            context=data.get("context"),
            require_exact_text=data["require_exact_text"],
        )
        return Response(body)


class SemanticStoreApi(APIView):
    @extend_schema(operation_id="cache_store", request=s.StoreInputSerializer, responses={201: s.StoreOutputSerializer})
    def post(self, request):
        data = _input(s.StoreInputSerializer, request)
        body = caches.semantic_store(
            tenant_id=request.user.tenant.pk,
            namespace=data["namespace"],
            response=data["response"],
            text=data.get("text"),
            embedding=data.get("embedding"),
            ttl_s=data.get("ttl_s"),
            context=data.get("context"),
            conversation_id=data.get("conversation_id"),
        )
        return Response(body, status=201)


class SemanticEntryDeleteApi(APIView):
    @extend_schema(operation_id="cache_entry_delete", request=None, responses={200: s.EntryDeleteOutputSerializer})
    def delete(self, request, entry_id: str):
        return Response(semantic_purge.entry_delete(tenant_id=request.user.tenant.pk, entry_id=entry_id))


class SemanticNamespaceDeleteApi(APIView):
    @extend_schema(operation_id="cache_namespace_delete", request=None, responses={200: s.NamespaceDeleteOutputSerializer})
    def delete(self, request, namespace: str):
        deleted = semantic_purge.namespace_delete(tenant_id=request.user.tenant.pk, namespace=namespace)
        return Response({"namespace": namespace, "deleted": deleted})


class EmbeddingApi(APIView):
    @extend_schema(operation_id="cache_embedding_get", request=None, responses={200: s.EmbeddingOutputSerializer})
    def get(self, request, key: str):
        with _embedding_cache():
            cached = embedding_cache.embedding_get(tenant_id=request.user.tenant.pk, key=_embedding_key(key))
        if cached is None:
            raise NotFound(f"No cached embedding '{key}'.", param="key")
        return Response(
            {"key": key, "model": cached.model, "dimensions": cached.dimensions, "embedding": _floats(cached.vector), "expires_in_s": cached.expires_in_s}
        )

    @extend_schema(operation_id="cache_embedding_put", request=s.EmbeddingPutInputSerializer, responses={200: s.EmbeddingOutputSerializer})
    def put(self, request, key: str):
        key = _embedding_key(key)
        data = _input(s.EmbeddingPutInputSerializer, request)
        with _embedding_cache():
            cached = embedding_cache.embedding_put(
                tenant_id=request.user.tenant.pk, key=key, vector=data["embedding"], model=data["model"], ttl_s=data.get("ttl_s")
            )
        return Response({"key": key, "model": cached.model, "dimensions": cached.dimensions, "expires_in_s": cached.expires_in_s})

    @extend_schema(operation_id="cache_embedding_delete", request=None, responses={200: s.EntryDeleteOutputSerializer})
    def delete(self, request, key: str):
        with _embedding_cache():
            deleted = embedding_cache.embedding_delete(tenant_id=request.user.tenant.pk, key=_embedding_key(key))
        if not deleted:
            raise NotFound(f"No cached embedding '{key}'.", param="key")
        return Response({"key": key, "deleted": True})


class EmbeddingBatchGetApi(APIView):
    @extend_schema(operation_id="cache_embeddings_batch_get", request=s.EmbeddingBatchGetInputSerializer, responses={200: s.EmbeddingBatchGetOutputSerializer})
    def post(self, request):
        wanted = _input(s.EmbeddingBatchGetInputSerializer, request)["keys"]
        with _embedding_cache():
            found = embedding_cache.embedding_batch_get(tenant_id=request.user.tenant.pk, keys_=wanted)
        data = [
            {"key": key, "found": False}
            if cached is None
            else {"key": key, "found": True, "model": cached.model, "dimensions": cached.dimensions, "embedding": _floats(cached.vector)}
            for key, cached in zip(wanted, found)
        ]
        return Response({"object": "list", "data": data})
