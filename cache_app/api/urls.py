"""Semantic cache and embedding cache routes under /v1/cache."""

urlpatterns: list = []
