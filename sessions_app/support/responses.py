"""Admin for stored responses: read-only; the request's JSON columns are read as text and shown bounded."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils.html import format_html

from convostore.admin_mixins import ReadOnlyAdminMixin, ReplicaListMixin

from ..models import Response
from . import rendering

# Tenant-controlled JSON columns: Postgres hands them over as text, so a value nested as deep as the API
# accepted is never parsed (nor re-encoded) by a page; rendering.json_text decides whether to re-indent.
JSON_COLUMNS = ("usage", "tools", "metadata", "params")


@admin.register(Response)
class ResponseAdmin(ReplicaListMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("response_id", "tenant", "conversation", "previous_response_id", "model", "status", "last_seq", "created_at")
    list_select_related = ("tenant", "conversation")
    list_filter = ("tenant", "status")
    search_fields = ("response_id", "previous_response_id", "conversation__conversation_id")
    show_full_result_count = False
    fields = ("response_id", "tenant", "conversation", "previous_response_id", "input_first_seq", "output_first_seq",
              "last_seq", "model", "status", "created_at", "usage_shown", "instructions_shown", "tools_shown",
              "metadata_shown", "params_shown")
    readonly_fields = fields

    def get_queryset(self, request):
        texts = {f"{name}_text": Cast(name, TextField()) for name in JSON_COLUMNS}
        return (
            super().get_queryset(request)
            .defer(*JSON_COLUMNS, "instructions", "conversation__metadata", "conversation__lineage")
            .annotate(**texts, instructions_text=Cast("instructions", TextField()))
        )

    @staticmethod
    def _shown(text, *, as_json: bool = True):
        """The column's text in a <pre> (escaped), re-indented when rendering allows, with rendering's note."""
        if text is None:
            return "—"
        shown = rendering.json_text(text) if as_json else rendering.cut(text)
        note = format_html('<p class="cs-note">{}</p>', shown.note) if shown.note else ""
        return format_html('<pre class="cs-raw">{}</pre>{}', shown.text, note)

    @admin.display(description="usage")
    def usage_shown(self, response):
        return self._shown(response.usage_text)

    @admin.display(description="instructions")
    def instructions_shown(self, response):
        return self._shown(response.instructions_text, as_json=False)

    @admin.display(description="tools")
    def tools_shown(self, response):
        return self._shown(response.tools_text)

    @admin.display(description="metadata")
    def metadata_shown(self, response):
        return self._shown(response.metadata_text)

    @admin.display(description="params")
    def params_shown(self, response):
        return self._shown(response.params_text)
