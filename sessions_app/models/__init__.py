"""Tenants, keys, conversations, items and responses (Postgres is the truth), the audit log, gateway routes."""

from .audit import AuditLogEntry
from .conversations import Conversation, IdempotencyRecord, InvalidationOutbox, Item, Response, Tombstone
from .gateway import ModelRoute, TokenUsage
from .tenants import ApiKey, SemanticNamespace, Tenant

__all__ = [
    "ApiKey", "AuditLogEntry", "Conversation", "IdempotencyRecord", "InvalidationOutbox", "Item", "ModelRoute", "Response",
    "SemanticNamespace", "Tenant", "TokenUsage", "Tombstone",
]
