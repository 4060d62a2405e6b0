"""Admin for gateway mode: model routes (operators edit them; keys only by variable name) and token usage (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Sum

from convostore.admin_mixins import ReadOnlyAdminMixin

from ..models import ModelRoute, TokenUsage


@admin.register(ModelRoute)
class ModelRouteAdmin(admin.ModelAdmin):
    """Saving checks the URL against CONVOSTORE_UPSTREAM_ALLOWED_HOSTS and the key variable's name (ModelRoute.clean)."""

    list_display = ("model", "tenant", "api", "base_url", "upstream_model", "key_variable", "context_window", "updated_at")
    list_select_related = ("tenant",)
    list_filter = ("api", "tenant")
    search_fields = ("model", "upstream_model", "base_url", "tenant__name")
    fields = ("tenant", "model", "api", "base_url", "upstream_model", "api_key_env", "context_window", "timeout_seconds",
              "connect_timeout_seconds", "max_retries")

    @admin.display(description="api key env")  # shown, never sortable: the key's variable name is not a sort order
    def key_variable(self, route):
        return route.api_key_env or "—"


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Upstream tokens per tenant, API key and UTC day; the change list shows the sums of what is filtered."""

    list_display = ("day", "tenant", "api_key", "input_tokens", "output_tokens", "total_tokens", "calls")
    list_select_related = ("tenant", "api_key")
    list_filter = ("tenant", "day")
    date_hierarchy = "day"
    show_full_result_count = False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            sums = changelist.queryset.aggregate(input=Sum("input_tokens"), output=Sum("output_tokens"))
            self.message_user(request, f"Filtered rows: {sums['input'] or 0} input + {sums['output'] or 0} output tokens.")
        return response
