"""Semantic cache and embedding cache routes under /v1/cache."""

from django.urls import path

from . import cache_views as views

urlpatterns = [
    path("cache/lookup", views.SemanticLookupApi.as_view(), name="cache-lookup"),
    path("cache/store", views.SemanticStoreApi.as_view(), name="cache-store"),
    path("cache/entries/<str:entry_id>", views.SemanticEntryDeleteApi.as_view(), name="cache-entry"),
    path("cache/namespaces/<path:namespace>", views.SemanticNamespaceDeleteApi.as_view(), name="cache-namespace"),
    path("cache/embeddings:batchGet", views.EmbeddingBatchGetApi.as_view(), name="cache-embeddings-batch-get"),
    path("cache/embeddings/<path:key>", views.EmbeddingApi.as_view(), name="cache-embedding"),
]
