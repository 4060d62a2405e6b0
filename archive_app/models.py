"""Archive segments, code tables, summaries, memories (pgvector) and the lifecycle event log."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from pgvector.django import HnswIndex, VectorField

from convostore import metrics

EMBEDDING_DIM = settings.CONVOSTORE["EMBEDDING_DIM"]


class CodeTable(models.Model):
    """An immutable shared Huffman code table, trained per tenant from its archived text."""

    tenant = models.ForeignKey("sessions_app.Tenant", on_delete=models.CASCADE, related_name="code_tables")
    table_id = models.BigIntegerField(unique=True, help_text="Content-derived id written into every segment coded with it.")
    encoding = models.CharField(max_length=20, help_text="BPE encoding the table was trained with.")
    payload = models.BinaryField(help_text="table.to_bytes(): load with archive_app.codec.load_table.")
    sample_bytes = models.BigIntegerField(default=0, help_text="Bytes of text it was trained on.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"table {self.table_id} ({self.tenant})"


class ArchiveSegment(models.Model):
    """Items first_seq..last_seq of one conversation, Huffman-coded; the CRC is checked on every decode."""

    conversation = models.ForeignKey("sessions_app.Conversation", on_delete=models.CASCADE, related_name="segments")
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    item_count = models.PositiveIntegerField()
    codec = models.PositiveSmallIntegerField(help_text="Codec id from the segment header (1 byte Huffman, 2 token Huffman, …).")
    code_table = models.ForeignKey(CodeTable, null=True, blank=True, on_delete=models.PROTECT, related_name="segments")
    raw_bytes = models.BigIntegerField(help_text="Size of the raw (uncompressed) payload.")
    stored_bytes = models.BigIntegerField(help_text="Size of the encoded segment.")
    crc32 = models.BigIntegerField(help_text="CRC32 of the raw bytes.")
    payload = models.BinaryField(null=True, blank=True, help_text="The encoded segment (bytea) unless a storage backend holds it.")
    storage_name = models.CharField(max_length=255, blank=True, help_text="Name in the configured Storage backend, when not bytea.")
    item_ids = ArrayField(
        models.CharField(max_length=96), null=True, blank=True,
        help_text="The ids of the items it holds: finds the one segment holding an id without decoding any. "
                  "Null for segments written before this column (they are decoded to look an id up).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "first_seq"], name="segment_first_seq_unique"),
            models.CheckConstraint(condition=Q(last_seq__gte=F("first_seq")), name="segment_seq_range_valid"),
        ]
        indexes = [
            models.Index(fields=["conversation", "first_seq"], name="segment_conversation_seq"),
            GinIndex(fields=["item_ids"], name="segment_item_ids"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.first_seq}..{self.last_seq}"

    @property
    def ratio(self) -> float:
        return self.stored_bytes / self.raw_bytes if self.raw_bytes else 0.0


class Summary(models.Model):
    """A summary of a conversation's seqs 1..upto_seq; incremental: each builds on the previous one."""

    conversation = models.ForeignKey("sessions_app.Conversation", on_delete=models.CASCADE, related_name="summaries")
    upto_seq = models.BigIntegerField()
    text = models.TextField()
    token_estimate = models.PositiveIntegerField(default=0)
    summariser = models.CharField(max_length=200)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "summaries"
        constraints = [models.UniqueConstraint(fields=["conversation", "upto_seq"], name="summary_upto_unique")]
        ordering = ["conversation", "-upto_seq"]

    def __str__(self) -> str:
        return f"summary of {self.conversation_id} to {self.upto_seq}"


class Memory(models.Model):
    """An embedded span of history (a turn or a summary) for semantic recall."""

    class Kind(models.TextChoices):
        TURN = "turn", "turn"
        SUMMARY = "summary", "summary"

    tenant = models.ForeignKey("sessions_app.Tenant", on_delete=models.CASCADE, related_name="memories")
    conversation = models.ForeignKey("sessions_app.Conversation", on_delete=models.CASCADE, related_name="memories")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TURN)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    user_key = models.CharField(max_length=512, blank=True, db_index=True, help_text="End user (from conversation metadata) for user-scope recall.")
    excerpt = models.TextField()
    embedder = models.CharField(max_length=200)
    embedding = VectorField(dimensions=EMBEDDING_DIM)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "memories"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "kind", "first_seq", "last_seq"], name="memory_span_unique"),
        ]
        indexes = [
            HnswIndex(
                name="memory_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            models.Index(fields=["tenant", "conversation"], name="memory_tenant_conversation"),
            # two seeks tell whether a tenant has rows of another embedder (recall.reindex_pending)
            models.Index(fields=["tenant", "embedder"], name="memory_tenant_embedder"),
        ]

    def __str__(self) -> str:
        return f"memory {self.conversation_id} {self.first_seq}..{self.last_seq}"


class LifecycleEvent(models.Model):
    """One line per lifecycle run (evict, archive, summarise, embed, purge) for the dashboard's time series."""

    class Kind(models.TextChoices):
        EVICT = "evict", "evict"
        ARCHIVE = "archive", "archive"
        REHYDRATE = "rehydrate", "rehydrate"
        SUMMARISE = "summarise", "summarise"
        EMBED = "embed", "embed"
        PURGE = "purge", "purge"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    tenant = models.ForeignKey("sessions_app.Tenant", null=True, blank=True, on_delete=models.SET_NULL)
    conversations = models.PositiveIntegerField(default=0)
    items = models.PositiveIntegerField(default=0)
    raw_bytes = models.BigIntegerField(default=0)
    stored_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def metrics_count(self) -> None:
        """Count this run in Prometheus (lifecycle_conversations_total, archived_bytes_total for archives).

        post_save calls it for rows saved one by one; code that bulk-creates events calls it itself
        (bulk_create sends no post_save).
        """
        metrics.lifecycle_conversations.labels(kind=self.kind).inc(self.conversations)
        if self.kind == self.Kind.ARCHIVE:
            metrics.archived_bytes.labels(form="raw").inc(self.raw_bytes)
            metrics.archived_bytes.labels(form="stored").inc(self.stored_bytes)
