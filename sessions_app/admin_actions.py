"""Conversation admin actions: each calls the same service as its management command and reports counts."""

from __future__ import annotations

import importlib

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, Sum
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils import timezone

from convostore.errors import ApplicationError

from . import admin_support
from .models import AuditLogEntry

SAFE_PERMISSION = "sessions_app.run_safe_actions"
PURGE_PERMISSION = "sessions_app.delete_conversation"


def _service(module: str, name: str):
    """The service function, imported at call time so the admin loads before every service has landed."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


class ConversationActionsMixin:
    actions = ["evict_now", "archive_now", "rehydrate", "verify_archives", "summarise_now", "purge"]

    def has_safe_permission(self, request):
        return request.user.has_perm(SAFE_PERMISSION)

    def has_purge_permission(self, request):
        return request.user.has_perm(PURGE_PERMISSION)

    def object_actions(self, request):
        """(action name, label) the user may run, for the buttons on the change page."""
        return [(name, description) for name, (_, _, description) in self.get_actions(request).items()]

    def _each(self, request, queryset, *, action, module, name, call):
        """Run ``call(service, conversation)`` for every selected conversation; returns (results, failures) or None."""
        service = _service(module, name)
        if service is None:
            self.message_user(request, f"{module}.{name} is not available in this deployment.", messages.ERROR)
            return None
        conversations = list(queryset.select_related("tenant"))
        results, failures = [], []
        for conversation in conversations:
            try:
                results.append(call(service, conversation))
            except ApplicationError as exc:
                failures.append(f"{conversation.conversation_id}: {exc}")
        admin_support.audit_record(
            user=request.user, action=action, conversations=conversations, extra={"failures": failures[:20]}
        )
        if failures:
            self.message_user(request, f"{len(failures)} failed: " + "; ".join(failures[:5]), messages.WARNING)
        return results

    @admin.action(description="Evict now (drop hot windows from Redis)", permissions=["safe"])
    def evict_now(self, request, queryset):
        results = self._each(
            request, queryset, action=AuditLogEntry.Action.EVICT, module="archive_app.services.lifecycle",
            name="conversation_evict", call=lambda service, c: service(conversation=c),
        )
        if results is not None:
            evicted = sum(1 for r in results if r)
            self.message_user(request, f"Evicted {evicted} of {len(results)} conversation(s) from Redis.", messages.SUCCESS)

    @admin.action(description="Archive now (pack items into segments)", permissions=["safe"])
    def archive_now(self, request, queryset):
        from archive_app.models import ArchiveSegment

        started = timezone.now()
        results = self._each(
            request, queryset, action=AuditLogEntry.Action.ARCHIVE, module="archive_app.services.lifecycle",
            name="conversation_archive", call=lambda service, c: service(conversation=c, keep_window=False),
        )
        if results is not None:
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
        results = self._each(
            request, queryset, action=AuditLogEntry.Action.REHYDRATE, module="archive_app.services.lifecycle",
            name="conversation_rehydrate", call=lambda service, c: service(conversation=c),
        )
        if results is not None:
            self.message_user(
                request, f"Rehydrated {len(results)} conversation(s), {sum(results)} item(s) loaded.", messages.SUCCESS
            )

    @admin.action(description="Verify archives (decode and check CRCs)", permissions=["safe"])
    def verify_archives(self, request, queryset):
        service = _service("archive_app.services.lifecycle", "segments_verify")
        if service is None:
            self.message_user(request, "archive_app.services.lifecycle.segments_verify is not available.", messages.ERROR)
            return
        conversations = list(queryset)
        report = service(conversations=conversations)
        admin_support.audit_record(
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
        results = self._each(
            request, queryset, action=AuditLogEntry.Action.SUMMARISE, module="archive_app.services.memory",
            name="summary_refresh", call=lambda service, c: service(conversation=c, force=True),
        )
        if results is not None:
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
        delete = _service("sessions_app.services", "conversation_delete")
        deleted, failures = [], []
        for conversation in conversations:
            try:
                deleted += delete(tenant=conversation.tenant, conversation_id=conversation.conversation_id)
            except ApplicationError as exc:  # already gone as a fork of another selected one
                failures.append(f"{conversation.conversation_id}: {exc}")
        admin_support.audit_record(
            user=request.user, action=AuditLogEntry.Action.PURGE, conversations=conversations,
            extra={"deleted": deleted[:1000], "failures": failures[:20]},
        )
        self.message_user(
            request, f"Purged {len(conversations)} conversation(s), {len(deleted)} deleted with their forks.", messages.SUCCESS
        )
