"""Conversations, items and responses (Postgres is the truth), idempotency records, tombstones, the outbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from ..querysets import ConversationQuerySet, ItemQuerySet
from .tenants import Tenant


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
