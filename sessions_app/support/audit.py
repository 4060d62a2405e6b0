"""The audit log: who opened which transcript or ran which admin action (transcripts are customer data)."""

from __future__ import annotations

from ..models import AuditLogEntry


def audit_record(*, user, action: str, conversations=(), objects=(), extra: dict | None = None) -> None:
    """One audit row per object acted on (one INSERT); ``objects`` are (type, id, repr, tenant_id)."""
    rows = [("conversation", c.pk, c.conversation_id, c.tenant_id) for c in conversations] + list(objects)
    if not rows:
        rows = [("", "", "", None)]
    AuditLogEntry.objects.bulk_create(
        AuditLogEntry(
            user=user if user.is_authenticated else None,
            username=user.get_username(),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=str(object_repr)[:200],
            tenant_id=tenant_id,
            extra=extra or {},
        )
        for object_type, object_id, object_repr, tenant_id in rows
    )
