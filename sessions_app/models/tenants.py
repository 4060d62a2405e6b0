"""Tenants, their API keys and their semantic-cache namespaces."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Tenant(models.Model):
    class Encoding(models.TextChoices):
        O200K = "o200k_base", "o200k (GPT-4o and later)"
        CL100K = "cl100k_base", "cl100k (GPT-4, GPT-3.5)"

    name = models.CharField(max_length=100, unique=True)
    window_size = models.PositiveIntegerField(default=64, validators=[MinValueValidator(1)], help_text="Items kept in the Redis hot window.")
    token_budget = models.PositiveIntegerField(default=8192, help_text="Default max_tokens for context assembly.")
    encoding = models.CharField(max_length=20, choices=Encoding.choices, default=Encoding.O200K, help_text="BPE encoding used to count tokens.")
    retention_days = models.PositiveIntegerField(null=True, blank=True, help_text="Conversations idle longer than this are purged; empty keeps them.")
    evict_after_seconds = models.PositiveIntegerField(default=1800, help_text="Idle time after which a conversation leaves Redis.")
    semantic_threshold = models.FloatField(default=0.92, help_text="Default cosine similarity for a semantic cache hit.")
    summary_threshold_tokens = models.PositiveIntegerField(default=2000, help_text="Summarise once older turns exceed this many tokens.")
    max_items = models.PositiveIntegerField(default=100_000, help_text="Most items one conversation may hold.")
    max_bytes = models.BigIntegerField(default=256 * 1024 * 1024, help_text="Most bytes one conversation may hold.")
    max_fork_depth = models.PositiveIntegerField(default=32, help_text="Deepest chain of forks allowed.")
    daily_token_quota = models.PositiveBigIntegerField(
        null=True, blank=True,
        help_text="Gateway mode: upstream input + output tokens allowed per UTC day; once spent, POST /v1/responses answers 429. "
                  "Empty = no quota.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SemanticNamespace(models.Model):
    """A namespace's semantic-cache threshold, calibrated on the operator's labelled pairs (calibrate_semantic_cache)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="semantic_namespaces")
    namespace = models.CharField(max_length=256)
    threshold = models.FloatField(help_text="Cosine similarity a hit needs in this namespace when a lookup sends no threshold.")
    embedder = models.CharField(max_length=200, help_text="cache_id of the embedder calibrated; the threshold applies only to its vectors.")
    guard = models.BooleanField(default=True, help_text="Whether the guard was on while calibrating.")
    max_false_hit_rate = models.FloatField(help_text="The false-hit target the threshold meets on the pairs.")
    true_hit_rate = models.FloatField(help_text="Share of the pairs that should hit which hit at the threshold.")
    false_hit_rate = models.FloatField(help_text="Share of the near misses that hit at the threshold.")
    pairs = models.PositiveIntegerField(help_text="Labelled pairs the threshold was chosen on.")
    calibrated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "namespace"], name="semantic_namespace_unique"),
            models.CheckConstraint(condition=Q(threshold__gte=0) & Q(threshold__lte=1), name="semantic_namespace_threshold_range"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace} ({self.tenant}): {self.threshold}"


class ApiKey(models.Model):
    """A tenant's API key. Only the SHA-256 of the raw key is stored; the prefix finds it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="First characters of the key, shown to find it; not secret.")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 hex of the raw key.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Set when the key is rotated out: it stops working then.")

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant})"
