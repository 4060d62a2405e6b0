"""Admin for support staff: conversations with transcripts, whole items and actions; the audit log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef, Q
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from archive_app.models import Summary
from convostore.admin_mixins import ReadOnlyAdminMixin, ReplicaListMixin

from ..models import AuditLogEntry, Conversation, Item, Response
from ..selectors import item_records
from . import transcripts
from .audit import audit_record
from .actions import ConversationActionsMixin

SEARCH_ITEM_DAYS = 30


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
class ConversationAdmin(ReplicaListMixin, ConversationActionsMixin, admin.ModelAdmin):
    list_display = ("conversation_id", "tenant", "tier_badge", "item_count", "size", "token_count", "forked", "last_active")
    list_filter = ("tenant", "tier", ("last_active_at", admin.DateFieldListFilter), ForkedFilter)
    list_select_related = ("tenant",)
    search_fields = ("conversation_id", "tenant__name")
    search_help_text = (
        "A conversation id (or part of one), response id, item id, user (the metadata \"user\" value), tenant, metadata text, "
        "or a phrase of items not yet archived (last 30 days) or of a summary. Archived items are found through their "
        "conversation's ids, user, metadata or summary, not by their own text or ids."
    )
    list_per_page = 100
    show_full_result_count = False
    ordering = ("-last_active_at",)
    readonly_fields = (
        "conversation_id", "tenant", "tier", "version", "last_seq", "parent_link", "fork_seq", "item_count", "size",
        "token_count", "archived_upto_seq", "metadata", "ttl_seconds", "prefix_fingerprint", "apc_fingerprint_changes",
        "created_at", "last_active_at",
    )
    fieldsets = [("Conversation fields", {"fields": readonly_fields, "classes": ["collapse"]})]  # the transcript comes first
    change_form_template = "admin/sessions_app/conversation/change_form.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        match = getattr(request, "resolver_match", None)
        if match and match.url_name and match.url_name.endswith("changelist"):
            return queryset.defer("metadata", "lineage", "prefix_fingerprint")
        return queryset.select_related("tenant", "parent")

    def get_search_results(self, request, queryset, search_term):
        """Ids (conversation, response, item), the user, tenant, metadata, and phrases of recent rows or summaries.

        Response and item ids match exactly through their unique indexes; text matches recent Item rows
        (SEARCH_ITEM_DAYS, not yet archived) and summaries, which cover archived turns.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        user_key = settings.CONVOSTORE.get("USER_METADATA_KEY", "user")
        condition = (
            Q(conversation_id__icontains=term)
            | Q(tenant__name__icontains=term)
            | Q(metadata__icontains=term)
            | Q(**{f"metadata__{user_key}": term})
            | Q(Exists(Response.objects.filter(tenant_id=OuterRef("tenant_id"), response_id=term, conversation_id=OuterRef("pk"))))
            | Q(Exists(Item.objects.filter(conversation_id=OuterRef("pk"), item_id=term)))
            | Q(Exists(recent_items_matching(term).filter(conversation_id=OuterRef("pk"))))
            | Q(Exists(Summary.objects.filter(conversation_id=OuterRef("pk"), text__icontains=term)))
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

    @admin.display(description="tier", ordering="tier")
    def tier_badge(self, conversation):
        """hot: window in Redis; warm: rows in Postgres; cold: archived segments."""
        return format_html('<span class="cs-tier cs-tier-{}">{}</span>', conversation.tier, conversation.tier)

    @admin.display(description="last active", ordering="last_active_at")
    def last_active(self, conversation):
        """ISO-like and in UTC, like the transcript's times (Django's default format is three times as wide)."""
        return format_html('<time datetime="{}">{}</time>', conversation.last_active_at.isoformat(),
                           conversation.last_active_at.strftime("%Y-%m-%d %H:%M"))

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

    def get_urls(self):
        view = self.admin_site.admin_view(self.item_raw_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_item_raw"
        return [path("<path:object_id>/item/<int:seq>/raw/", view, name=name), *super().get_urls()]

    def item_raw_view(self, request, object_id, seq):
        """One item of the conversation's context (its own or inherited), whole, as stored: text/plain, UTF-8.

        What a transcript row shows cut or not re-indented (support/rendering.py); audited like a transcript page.
        404 for an unknown conversation or seq, 403 without the view permission."""
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None:
            raise Http404
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        found = item_records(conversation, after_seq=seq - 1, upto_seq=seq) if 0 < seq <= conversation.last_seq else []
        if not found:
            raise Http404
        audit_record(user=request.user, action=AuditLogEntry.Action.VIEW_TRANSCRIPT, conversations=[conversation],
                     extra={"seq": seq, "raw": True})
        response = HttpResponse(found[0].raw, content_type="text/plain; charset=utf-8")
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.transcript_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(self, request, conversation):
        try:
            page = int(request.GET.get("page", "1"))
        except ValueError:
            page = 1
        transcript = transcripts.transcript_page(conversation, page)
        responses = transcripts.response_chain(conversation)
        transcripts.response_links(conversation, responses, transcript.rows)
        audit_record(
            user=request.user,
            action=AuditLogEntry.Action.VIEW_TRANSCRIPT,
            conversations=[conversation],
            extra={"page": transcript.page, "seqs": [transcript.first_seq, transcript.last_seq]},
        )
        return {
            "transcript": transcript,
            "forks": transcripts.forks_of(conversation),
            "summary": transcripts.latest_summary(conversation),
            "responses": responses,
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
    since = timezone.now() - timedelta(days=SEARCH_ITEM_DAYS)
    return Item.objects.filter(created_at__gte=since, raw__icontains=term)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReplicaListMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
