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
    instructions = models.TextField(null=True, blank=True, help_text="The request's instructions (gateway mode); not an item.")
    tools = models.JSONField(default=list, blank=True, help_text="The request's tools, as sent (gateway mode).")
    metadata = models.JSONField(default=dict, blank=True, help_text="The request's metadata (gateway mode).")
    params = models.JSONField(
        default=dict, blank=True,
        help_text="Other request parameters the Responses object echoes (tool_choice, temperature, …, conversation named); "
                  "empty for responses stored through the native API.",
    )
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


class ModelRoute(models.Model):
    """Where a tenant's requests for a model go in gateway mode; made by operators only (admin, command)."""

    class Api(models.TextChoices):
        RESPONSES = "responses", "responses (/v1/responses: vLLM ≥ 0.10, OpenAI)"
        CHAT_COMPLETIONS = "chat_completions", "chat_completions (/v1/chat/completions: llama.cpp, TGI, older vLLM)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="model_routes")
    model = models.CharField(max_length=200, help_text="The public model name clients send.")
    base_url = models.CharField(
        max_length=500, help_text="OpenAI-compatible base URL ending in /v1; its host must be in CONVOSTORE_UPSTREAM_ALLOWED_HOSTS."
    )
    api = models.CharField(max_length=20, choices=Api.choices, default=Api.CHAT_COMPLETIONS)
    upstream_model = models.CharField(max_length=200, blank=True, help_text="Model name sent upstream; empty = the public name.")
    api_key_env = models.CharField(
        max_length=100, blank=True,
        help_text="Name of the environment variable holding the upstream key (CONVOSTORE_UPSTREAM_KEY_…); "
                  "the key itself is never stored. Empty = no key.",
    )
    context_window = models.PositiveIntegerField(default=32768, validators=[MinValueValidator(256)], help_text="Tokens.")
    timeout_seconds = models.FloatField(default=300.0, validators=[MinValueValidator(0.1)], help_text="Read timeout per upstream call.")
    connect_timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(default=2, help_text="SDK retries on 429, 5xx and connection errors.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "model"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "model"], name="model_route_unique_per_tenant"),
            models.CheckConstraint(condition=Q(api__in=["responses", "chat_completions"]), name="model_route_api_known"),
            models.CheckConstraint(
                condition=Q(api_key_env="") | Q(api_key_env__startswith="CONVOSTORE_UPSTREAM_KEY_"), name="model_route_key_env_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.base_url} ({self.tenant})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .gateway.hosts import RouteNotAllowed, key_env_check, url_check

        try:
            url_check(self.base_url)
        except RouteNotAllowed as exc:
            raise ValidationError({"base_url": str(exc)}) from None
        try:
            key_env_check(self.api_key_env)
        except RouteNotAllowed as exc:
            raise ValidationError({"api_key_env": str(exc)}) from None

    def save(self, *args, **kwargs):
        self.clean()  # also when saved from code: a route never points outside the allow-list
        super().save(*args, **kwargs)


class TokenUsage(models.Model):
    """Upstream tokens per tenant, API key and UTC day (gateway mode), spread over a few counter rows (shards):
    the daily quota and the admin sum them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    day = models.DateField(help_text="UTC calendar day.")
    shard = models.PositiveSmallIntegerField(
        default=0, help_text="Which of the per-worker counter rows this is (so concurrent workers never wait on one row lock)."
    )
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0, help_text="Upstream answers counted.")

    class Meta:
        verbose_name_plural = "token usage"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "api_key", "shard"], name="token_usage_unique", nulls_distinct=False)
        ]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
