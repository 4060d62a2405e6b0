"""Conversation admin actions: each calls the same service as its management command and reports counts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Sum
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils import timezone

from archive_app.models import ArchiveSegment
from convostore.errors import ApplicationError

from ..lifecycle import conversation_archive, conversation_evict, conversation_rehydrate, segments_verify, summary_refresh
from ..models import AuditLogEntry
from ..services import conversation_delete
from .audit import audit_record

SAFE_PERMISSION = "sessions_app.run_safe_actions"
PURGE_PERMISSION = "sessions_app.delete_conversation"


class ConversationActionsMixin:
    actions = ["evict_now", "archive_now", "rehydrate", "verify_archives", "summarise_now", "purge"]

    def has_safe_permission(self, request):
        return request.user.has_perm(SAFE_PERMISSION)

    def has_purge_permission(self, request):
        return request.user.has_perm(PURGE_PERMISSION)

    def object_actions(self, request):
        """(action name, label) the user may run, for the buttons on the change page."""
        return [(name, description) for name, (_, _, description) in self.get_actions(request).items()]

    def _each(self, request, queryset, *, action, call):
        """Run ``call(conversation)`` for every selected conversation; returns the results (failures are reported)."""
        conversations = list(queryset.select_related("tenant"))
        results, failures = [], []
        for conversation in conversations:
            try:
                results.append(call(conversation))
            except ApplicationError as exc:
                failures.append(f"{conversation.conversation_id}: {exc}")
        audit_record(
            user=request.user, action=action, conversations=conversations, extra={"failures": failures[:20]}
        )
        if failures:
            self.message_user(request, f"{len(failures)} failed: " + "; ".join(failures[:5]), messages.WARNING)
        return results

    @admin.action(description="Evict now (drop hot windows from Redis)", permissions=["safe"])
    def evict_now(self, request, queryset):
        results = self._each(request, queryset, action=AuditLogEntry.Action.EVICT, call=lambda c: conversation_evict(conversation=c))
        evicted = sum(1 for r in results if r)
        self.message_user(request, f"Evicted {evicted} of {len(results)} conversation(s) from Redis.", messages.SUCCESS)

    @admin.action(description="Archive now (pack items into segments)", permissions=["safe"])
    def archive_now(self, request, queryset):
        started = timezone.now()
        results = self._each(request, queryset, action=AuditLogEntry.Action.ARCHIVE, call=lambda c: conversation_archive(conversation=c, keep_window=False))
        made = ArchiveSegment.objects.filter(conversation__in=queryset, created_at__gte=started).aggregate(
            segments=Count("id"), items=Sum("item_count"), raw=Sum("raw_bytes"), stored=Sum("stored_bytes")
        )
        self.message_user(
            request,
            f"Archived {made['items'] or 0} item(s) of {sum(1 for s in results if s is not None)} conversation(s) "
            f"into {made['segments']} segment(s): {filesizeformat(made['raw'] or 0)} → {filesizeformat(made['stored'] or 0)}.",
            messages.SUCCESS,
        )

    @admin.action(description="Rehydrate (rebuild hot windows)", permissions=["safe"])
    def rehydrate(self, request, queryset):
        results = self._each(request, queryset, action=AuditLogEntry.Action.REHYDRATE, call=lambda c: conversation_rehydrate(conversation=c))
        self.message_user(
            request, f"Rehydrated {len(results)} conversation(s), {sum(results)} item(s) loaded.", messages.SUCCESS
        )

    @admin.action(description="Verify archives (decode and check CRCs)", permissions=["safe"])
    def verify_archives(self, request, queryset):
        conversations = list(queryset)
        report = segments_verify(conversations=conversations)
        audit_record(
            user=request.user, action=AuditLogEntry.Action.VERIFY, conversations=conversations,
            extra={key: value for key, value in report.items() if isinstance(value, (int, str, list))},
        )
        corrupt = report.get("corrupt", 0)
        text = f"Verified segments of {len(conversations)} conversation(s): {report.get('ok', 0)} ok, {corrupt} corrupt."
        if corrupt:
            text += f" Corrupt segment ids: {', '.join(map(str, report.get('corrupt_ids', [])[:20]))}."
        self.message_user(request, text, messages.ERROR if corrupt else messages.SUCCESS)

    @admin.action(description="Summarise now", permissions=["safe"])
    def summarise_now(self, request, queryset):
        results = self._each(request, queryset, action=AuditLogEntry.Action.SUMMARISE, call=lambda c: summary_refresh(conversation=c, force=True))
        made = sum(1 for r in results if r is not None)
        self.message_user(request, f"Summarised {made} of {len(results)} conversation(s).", messages.SUCCESS)

    @admin.action(description="Purge (delete with forks, everywhere)", permissions=["purge"])
    def purge(self, request, queryset):
        conversations = list(queryset.select_related("tenant"))
        if request.POST.get("post") != "yes":
            return TemplateResponse(
                request,
                "admin/sessions_app/conversation/purge_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Purge conversations?",
                    "opts": self.model._meta,
                    "conversations": conversations,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        deleted, failures = [], []
        for conversation in conversations:
            try:
                deleted += conversation_delete(tenant=conversation.tenant, conversation_id=conversation.conversation_id)
            except ApplicationError as exc:  # already gone as a fork of another selected one
                failures.append(f"{conversation.conversation_id}: {exc}")
        audit_record(
            user=request.user, action=AuditLogEntry.Action.PURGE, conversations=conversations,
            extra={"deleted": deleted[:1000], "failures": failures[:20]},
        )
        self.message_user(
            request, f"Purged {len(conversations)} conversation(s), {len(deleted)} deleted with their forks.", messages.SUCCESS
        )
