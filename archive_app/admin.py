"""Read-only admin for archive segments, code tables, summaries, memories and lifecycle events; vectors never rendered."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.db.models.functions import Length
from django.template.defaultfilters import filesizeformat, truncatechars

from convostore.admin_mixins import ReadOnlyAdminMixin

from .models import ArchiveSegment, CodeTable, LifecycleEvent, Memory, Summary


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows written only by the lifecycle services."""

    show_full_result_count = False


def _ratio(stored, raw) -> str:
    return f"{stored / raw:.1%}" if raw else "—"


@admin.register(ArchiveSegment)
class ArchiveSegmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "tenant", "first_seq", "last_seq", "item_count", "codec", "code_table_id",
                    "raw", "stored", "ratio_display", "created_at")
    list_select_related = ("conversation__tenant",)
    list_filter = ("codec", ("conversation__tenant", admin.RelatedOnlyFieldListFilter))
    search_fields = ("conversation__conversation_id",)
    fields = ("conversation", "first_seq", "last_seq", "item_count", "codec", "code_table", "raw", "stored",
              "ratio_display", "crc32", "storage_name", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload", "conversation__metadata", "conversation__lineage")

    @admin.display(description="tenant", ordering="conversation__tenant__name")
    def tenant(self, segment):
        return segment.conversation.tenant

    @admin.display(description="raw", ordering="raw_bytes")
    def raw(self, segment):
        return filesizeformat(segment.raw_bytes)

    @admin.display(description="stored", ordering="stored_bytes")
    def stored(self, segment):
        return filesizeformat(segment.stored_bytes)

    @admin.display(description="stored / raw")
    def ratio_display(self, segment):
        return _ratio(segment.stored_bytes, segment.raw_bytes)


@admin.register(CodeTable)
class CodeTableAdmin(ReadOnlyAdmin):
    list_display = ("table_id", "tenant", "encoding", "sample", "table_size", "created_at")
    list_select_related = ("tenant",)
    fields = ("table_id", "tenant", "encoding", "sample", "table_size", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload").annotate(payload_size=Length("payload"))

    @admin.display(description="trained on", ordering="sample_bytes")
    def sample(self, table):
        return filesizeformat(table.sample_bytes)

    @admin.display(description="table size", ordering="payload_size")
    def table_size(self, table):
        return filesizeformat(table.payload_size or 0)


@admin.register(Summary)
class SummaryAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "upto_seq", "token_estimate", "summariser", "excerpt", "embedded", "created_at")
    list_select_related = ("conversation",)
    search_fields = ("conversation__conversation_id", "text")
    fields = ("conversation", "upto_seq", "token_estimate", "summariser", "text", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super().get_queryset(request)
            .defer("embedding", "conversation__metadata", "conversation__lineage")
            .annotate(embedded_flag=Q(embedding__isnull=False))
        )

    @admin.display(description="text")
    def excerpt(self, summary):
        return truncatechars(summary.text, 120)

    @admin.display(description="embedded", boolean=True)
    def embedded(self, summary):
        # the vector stays deferred; the database answers whether there is one
        return summary.embedded_flag


@admin.register(Memory)
class MemoryAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "tenant", "kind", "first_seq", "last_seq", "user_key", "short_excerpt", "embedder", "created_at")
    list_select_related = ("conversation", "tenant")
    list_filter = ("kind",)
    # not the excerpt: item text is searched only on the conversation list (recent rows, docs/admin.md)
    search_fields = ("conversation__conversation_id", "user_key")
    fields = ("conversation", "tenant", "kind", "first_seq", "last_seq", "user_key", "excerpt", "embedder", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("embedding", "conversation__metadata", "conversation__lineage")

    @admin.display(description="excerpt")
    def short_excerpt(self, memory):
        return truncatechars(memory.excerpt, 120)


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "tenant", "conversations", "items", "raw", "stored", "ratio_display")
    list_select_related = ("tenant",)
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    date_hierarchy = "created_at"

    @admin.display(description="raw", ordering="raw_bytes")
    def raw(self, event):
        return filesizeformat(event.raw_bytes)

    @admin.display(description="stored", ordering="stored_bytes")
    def stored(self, event):
        return filesizeformat(event.stored_bytes)

    @admin.display(description="stored / raw")
    def ratio_display(self, event):
        return _ratio(event.stored_bytes, event.raw_bytes)
