"""Every write to conversations, tenants and keys; views, tasks and commands call these, nothing else writes."""

from .append import conversation_append
from .conversations import (
    conversation_create,
    conversation_items_create,
    conversation_update_metadata,
    item_delete,
    response_delete,
)
from .deletion import conversation_delete, redis_forget, tenant_purge
from .hot import apply_hot, outbox_record
from .idempotency import Outcome
from .items import prepare_items
from .responses import response_store
from .tenants import api_key_create, api_key_revoke, api_key_rotate, tenant_create

__all__ = [
    "Outcome",
    "api_key_create",
    "api_key_revoke",
    "api_key_rotate",
    "apply_hot",
    "conversation_append",
    "conversation_create",
    "conversation_delete",
    "conversation_items_create",
    "conversation_update_metadata",
    "item_delete",
    "outbox_record",
    "prepare_items",
    "redis_forget",
    "response_delete",
    "response_store",
    "tenant_create",
    "tenant_purge",
]
