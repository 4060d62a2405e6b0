"""Admin for support staff: tenants, API keys (hash never shown), conversations with transcripts and actions, audit log."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from . import admin_support
from .admin_actions import ConversationActionsMixin
from .models import ApiKey, AuditLogEntry, Conversation, Response, Tenant

SEARCH_ITEM_DAYS = 30


class ReadOnlyMixin:
    """Rows written only by services: the admin views them, never edits them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApiKeyInline(ReadOnlyMixin, admin.TabularInline):
    model = ApiKey
    fields = ("prefix", "name", "created_at", "last_used_at", "revoked_at", "expires_at")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "encoding", "window_size", "token_budget", "retention_days", "evict_after_seconds", "created_at")
    search_fields = ("name",)
    inlines = [ApiKeyInline]


class ApiKeyCreateForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ("tenant", "name", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
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
        from .services import api_key_create

        issued = api_key_create(tenant=obj.tenant, name=obj.name, expires_at=obj.expires_at)
        for name in ("pk", "prefix", "created_at"):
            setattr(obj, name, getattr(issued.api_key, name))
        obj.key_hash = ""  # the admin never holds key material beyond this response
        obj._state.adding = False
        admin_support.audit_record(
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
        from .services import api_key_revoke

        keys = list(queryset.filter(revoked_at__isnull=True).only("pk", "prefix", "tenant_id"))
        for key in keys:
            api_key_revoke(prefix=key.prefix)
        admin_support.audit_record(
            user=request.user,
            action=AuditLogEntry.Action.KEY_REVOKE,
            objects=[("api key", key.pk, key.prefix, key.tenant_id) for key in keys],
        )
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


class ForkedFilter(admin.SimpleListFilter):
    title = "forked"
    parameter_name = "forked"

    def lookups(self, request, model_admin):
        return [("yes", "forked"), ("no", "not forked")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(parent__isnull=False)
        if self.value() == "no":
            return queryset.filter(parent__isnull=True)
        return queryset


@admin.register(Conversation)
class ConversationAdmin(ConversationActionsMixin, admin.ModelAdmin):
    list_display = ("conversation_id", "tenant", "tier", "item_count", "size", "token_count", "forked", "last_active_at")
    list_filter = ("tenant", "tier", ("last_active_at", admin.DateFieldListFilter), ForkedFilter)
    list_select_related = ("tenant",)
    search_fields = ("conversation_id", "tenant__name")
    search_help_text = "Conversation id, tenant, metadata values, or text of items not yet archived."
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-last_active_at",)
    readonly_fields = (
        "conversation_id", "tenant", "tier", "version", "last_seq", "parent_link", "fork_seq", "item_count", "size",
        "token_count", "archived_upto_seq", "metadata", "ttl_seconds", "prefix_fingerprint", "apc_fingerprint_changes",
        "created_at", "last_active_at",
    )
    fields = readonly_fields
    change_form_template = "admin/sessions_app/conversation/change_form.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match and match.url_name and match.url_name.endswith("changelist"):
            return queryset.defer("metadata", "lineage", "prefix_fingerprint")
        return queryset.select_related("tenant", "parent")

    def get_search_results(self, request, queryset, search_term):
        """Id, tenant name, metadata values, or text of recent items (still in Postgres, not archived)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = (
            Q(conversation_id__icontains=term)
            | Q(tenant__name__icontains=term)
            | Q(metadata__icontains=term)
            | Q(Exists(recent_items_matching(term).filter(conversation_id=OuterRef("pk"))))
        )
        if term.isdigit():
            condition |= Q(pk=int(term))
        return queryset.filter(condition), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # purge (below) deletes forks, Redis keys and writes tombstones

    @admin.display(description="bytes", ordering="byte_count")
    def size(self, conversation):
        return filesizeformat(conversation.byte_count)

    @admin.display(description="forked", boolean=True)
    def forked(self, conversation):
        return conversation.parent_id is not None

    @admin.display(description="parent")
    def parent_link(self, conversation):
        if conversation.parent_id is None:
            return "—"
        url = reverse("admin:sessions_app_conversation_change", args=[conversation.parent_id])
        return format_html('<a href="{}">{}</a> (inherits up to seq {})', url, conversation.parent, conversation.fork_seq)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.transcript_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(self, request, conversation):
        try:
            page = int(request.GET.get("page", "1"))
        except ValueError:
            page = 1
        transcript = admin_support.transcript_page(conversation, page)
        admin_support.audit_record(
            user=request.user,
            action=AuditLogEntry.Action.VIEW_TRANSCRIPT,
            conversations=[conversation],
            extra={"page": transcript.page, "seqs": [transcript.first_seq, transcript.last_seq]},
        )
        return {
            "transcript": transcript,
            "forks": admin_support.forks_of(conversation),
            "summary": admin_support.latest_summary(conversation),
            "responses": admin_support.response_chain(conversation),
            "object_actions": self.object_actions(request),
            "changelist_url": reverse("admin:sessions_app_conversation_changelist"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }

    def response_action(self, request, queryset):
        response = super().response_action(request, queryset)
        back = request.POST.get("_return_to", "")
        if (
            isinstance(response, HttpResponseRedirect)
            and back
            and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
        ):
            return HttpResponseRedirect(back)
        return response


def recent_items_matching(term: str):
    """Items created in the last SEARCH_ITEM_DAYS days (not yet archived) whose JSON contains ``term``."""
    from .models import Item

    since = timezone.now() - timedelta(days=SEARCH_ITEM_DAYS)
    return Item.objects.filter(created_at__gte=since, raw__icontains=term)


@admin.register(Response)
class ResponseAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("response_id", "tenant", "conversation", "previous_response_id", "model", "status", "last_seq", "created_at")
    list_select_related = ("tenant", "conversation")
    list_filter = ("tenant", "status")
    search_fields = ("response_id", "previous_response_id", "conversation__conversation_id")
    show_full_result_count = False


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Superusers only: who opened which transcript or ran which action."""

    list_display = ("created_at", "username", "action", "object_type", "object_repr", "tenant")
    list_filter = ("action", "object_type")
    list_select_related = ("tenant",)
    search_fields = ("username", "object_repr", "object_id")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser



from .gateway import admin as gateway_admin  # noqa: E402,F401  (registers the gateway's model routes and token usage)
