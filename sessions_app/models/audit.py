"""The audit log of support staff's reads and actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .tenants import Tenant


class AuditLogEntry(models.Model):
    """Who opened which transcript or ran which admin action, and when: transcripts are customer data."""

    class Action(models.TextChoices):
        VIEW_TRANSCRIPT = "view_transcript", "opened transcript"
        EVICT = "evict", "evict now"
        ARCHIVE = "archive", "archive now"
        REHYDRATE = "rehydrate", "rehydrate"
        VERIFY = "verify", "verify archives"
        SUMMARISE = "summarise", "summarise now"
        PURGE = "purge", "purge"
        KEY_CREATE = "key_create", "create API key"
        KEY_REVOKE = "key_revoke", "revoke API key"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150, help_text="Kept when the user row is deleted.")
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=50, help_text="Model name of the object acted on.")
    object_id = models.CharField(max_length=100, blank=True, help_text="Primary key of the object (it may be gone since).")
    object_repr = models.CharField(max_length=200, blank=True, help_text="Conversation id, key prefix, …")
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    extra = models.JSONField(default=dict, blank=True, help_text="Counts, page number, action result.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at"]
        default_permissions = ()
        permissions = [("run_safe_actions", "Can run the safe conversation actions (evict, archive, rehydrate, verify, summarise)")]

    def __str__(self) -> str:
        return f"{self.username} {self.action} {self.object_repr}"
