"""Tenants, keys, conversations, items and responses: Postgres is the truth."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from .querysets import ConversationQuerySet, ItemQuerySet


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


class Conversation(models.Model):
    class Tier(models.TextChoices):
        HOT = "hot", "hot (Redis window)"
        WARM = "warm", "warm (Postgres rows)"
        COLD = "cold", "cold (archived segments)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="conversations")
    conversation_id = models.CharField(max_length=64, help_text="Unique per tenant: generated conv_… or chosen by the client.")
    version = models.BigIntegerField(default=0, help_text="Bumped by exactly one on every mutation; never decreases.")
    last_seq = models.BigIntegerField(default=0, help_text="Highest seq ever assigned in this conversation's path.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="forks")
    fork_seq = models.BigIntegerField(null=True, blank=True, help_text="Last seq of the parent that this fork inherits.")
    lineage = models.JSONField(default=list, blank=True, help_text="Ancestors from the root: [[conversation pk, inherited upto seq], …].")
    tier = models.CharField(max_length=4, choices=Tier.choices, default=Tier.HOT)
    item_count = models.PositiveIntegerField(default=0)
    byte_count = models.BigIntegerField(default=0)
    token_count = models.BigIntegerField(default=0, help_text="Estimated tokens of this conversation's own items.")
    archived_upto_seq = models.BigIntegerField(default=0, help_text="Items up to this seq live in archive segments.")
    metadata = models.JSONField(default=dict, blank=True)
    ttl_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Ephemeral sessions: purged this long after last activity.")
    prefix_fingerprint = models.CharField(max_length=64, blank=True, help_text="Last prefix fingerprint handed out by context assembly.")
    apc_fingerprint_changes = models.PositiveIntegerField(default=0, help_text="Times the prefix fingerprint changed (prefix-cache misses).")
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "conversation_id"], name="conversation_id_unique_per_tenant"),
            models.CheckConstraint(condition=Q(version__gte=0), name="conversation_version_non_negative"),
            models.CheckConstraint(
                condition=Q(parent__isnull=True, fork_seq__isnull=True) | Q(parent__isnull=False, fork_seq__isnull=False),
                name="conversation_fork_has_seq",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-last_active_at"], name="conversation_tenant_active")]

    def __str__(self) -> str:
        return self.conversation_id

    @property
    def depth(self) -> int:
        return len(self.lineage)

    def fork_lineage(self, fork_seq: int) -> list[list[int]]:
        """The lineage of a fork of this conversation that inherits its items up to ``fork_seq``."""
        return [[pk, min(upto, fork_seq)] for pk, upto in self.lineage] + [[self.pk, fork_seq]]

    def path(self) -> list[tuple[int, int | None]]:
        """(conversation pk, upto seq) for every conversation whose items make this context; None = all."""
        return [(pk, upto) for pk, upto in self.lineage] + [(self.pk, None)]


class Item(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="items")
    seq = models.BigIntegerField()
    item_id = models.CharField(max_length=96)
    type = models.CharField(max_length=64)
    role = models.CharField(max_length=32, blank=True)
    raw = models.TextField(help_text="Canonical JSON (UTF-8, sorted keys, no whitespace): the bytes every reader gets.")
    byte_size = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField(default=0)
    response = models.ForeignKey("Response", null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="item_seq_unique"),
            models.UniqueConstraint(fields=["conversation", "item_id"], name="item_id_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} #{self.seq}"


class Response(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="responses")
    response_id = models.CharField(max_length=96)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="responses")
    previous_response_id = models.CharField(max_length=96, blank=True)
    input_first_seq = models.BigIntegerField(null=True, blank=True)
    output_first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(help_text="Context of this response is items 1..last_seq of its conversation's path.")
    model = models.CharField(max_length=200, blank=True)
    usage = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=32, default="completed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "response_id"], name="response_id_unique_per_tenant")]

    def __str__(self) -> str:
        return self.response_id


class IdempotencyRecord(models.Model):
    """A replayable answer: independent of item rows, so archiving does not forget it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    scope = models.CharField(max_length=100, help_text="Conversation id, or 'responses' for the store-response endpoint.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "scope", "key"], name="idempotency_key_unique")]


class Tombstone(models.Model):
    """Blocks re-creating a deleted conversation id for a while (GDPR deletes must stick)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    conversation_id = models.CharField(max_length=64)
    deleted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "conversation_id"], name="tombstone_unique")]


class InvalidationOutbox(models.Model):
    """Redis work that failed after a commit; the beat sweep applies it (drops the window)."""

    tenant_id_value = models.BigIntegerField()
    conversation_id = models.CharField(max_length=64)
    response_ids = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "invalidation outbox"


class AuditLogEntry(models.Model):
    """Who opened which transcript or ran which admin action, and when: transcripts are customer data."""

    class Action(models.TextChoices):
        VIEW_TRANSCRIPT = "view_transcript", "opened transcript"
        EVICT = "evict", "evict now"
        ARCHIVE = "archive", "archive now"
        REHYDRATE = "rehydrate", "rehydrate"
        VERIFY = "verify", "verify archives"
        SUMMARISE = "summarise", "summarise now"
        PURGE = "purge", "purge"
        KEY_CREATE = "key_create", "create API key"
        KEY_REVOKE = "key_revoke", "revoke API key"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept when the user row is deleted.")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=50, help_text="Model name of the object acted on.")
    object_id = models.CharField(max_length=100, blank=True, help_text="Primary key of the object (it may be gone since).")
    object_repr = models.CharField(max_length=200, blank=True, help_text="Conversation id, key prefix, …")
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    extra = models.JSONField(default=dict, blank=True, help_text="Counts, page number, action result.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at"]
        default_permissions = ()
        permissions = [("run_safe_actions", "Can run the safe conversation actions (evict, archive, rehydrate, verify, summarise)")]

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.object_repr}"
