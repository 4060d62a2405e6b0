"""Admin for tenants and API keys: keys are created through the service (raw key shown once) and revoked, never edited."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from convostore.admin_mixins import ReadOnlyAdminMixin, ReplicaListMixin

from ..models import ApiKey, AuditLogEntry, SemanticNamespace, Tenant
from ..services import api_key_create, api_key_revoke
from .audit import audit_record


class ApiKeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "name", "created_at", "last_used_at", "revoked_at", "expires_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Tenant)
class TenantAdmin(ReplicaListMixin, admin.ModelAdmin):
    list_display = ("name", "encoding", "window_size", "token_budget", "retention_days", "evict_after_seconds", "created_at")
    search_fields = ("name",)
    inlines = [ApiKeyInline]


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(ReplicaListMixin, admin.ModelAdmin):
    """Keys are created through the service (raw key shown once) and revoked, never edited or deleted."""

    list_display = ("prefix", "tenant", "name", "state", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("tenant",)
    search_fields = ("prefix", "name", "tenant__name")
    readonly_fields = ("prefix", "tenant", "name", "created_at", "last_used_at", "revoked_at", "expires_at")
    actions = ["revoke_keys"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("key_hash")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ApiKeyCreateForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return ApiKeyCreateForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return request.user.has_perm("sessions_app.change_apikey")

    @admin.display(description="state")
    def state(self, key):
        return "revoked" if key.revoked_at else "active"

    def save_model(self, request, obj, form, change):
        issued = api_key_create(tenant=obj.tenant, name=obj.name, expires_at=obj.expires_at)
        for name in ("pk", "prefix", "created_at"):
            setattr(obj, name, getattr(issued.api_key, name))
        obj.key_hash = ""  # the admin never holds key material beyond this response
        obj._state.adding = False
        audit_record(
            user=request.user,
            action=AuditLogEntry.Action.KEY_CREATE,
            objects=[("api key", issued.api_key.pk, issued.api_key.prefix, obj.tenant_id)],
        )
        self.message_user(
            request,
            format_html("New API key for {}: <code>{}</code> — copy it now, it is shown only once.", obj.tenant, issued.raw_key),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected API keys", permissions=["revoke"])
    def revoke_keys(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True).only("pk", "prefix", "tenant_id"))
        for key in keys:
            api_key_revoke(prefix=key.prefix)
        audit_record(
            user=request.user,
            action=AuditLogEntry.Action.KEY_REVOKE,
            objects=[("api key", key.pk, key.prefix, key.tenant_id) for key in keys],
        )
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


@admin.register(SemanticNamespace)
class SemanticNamespaceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Calibrated semantic-cache thresholds, read-only: `manage.py calibrate_semantic_cache` writes them."""

    list_display = ("namespace", "tenant", "threshold", "embedder", "guard", "false_hit_rate", "true_hit_rate", "pairs",
                    "calibrated_at")
    list_filter = ("tenant", "guard")
    list_select_related = ("tenant",)
    search_fields = ("namespace", "tenant__name")
