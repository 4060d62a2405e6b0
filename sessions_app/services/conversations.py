"""Writes behind the OpenAI Conversations API: create, metadata, item create/delete, response delete."""

from __future__ import annotations

import json

from django.db import transaction
from django.utils import timezone

from archive_app.segments import segment_item_remove
from cache_app import hot_window, keys
from cache_app.hot_window import Entry
from cache_app.redis_client import RedisUnavailable, guarded
from cache_app.response_places import place_forget
from convostore import canonical
from convostore.errors import NotFound, ValidationFailed

from ..models import Conversation, Item, Response, Tenant
from ..selectors import context_entries, window_refresh
from .deletion import conversation_descendants
from .hot import HotUpdate, apply_hot, outbox_record
from .items import check_item_ids, prepare_items
from .writes import conversation_write


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"No conversation found with id {conversation_id!r}.", param="conversation_id")


def _lock_existing(tenant: Tenant, conversation_id: str) -> Conversation:
    conversation = Conversation.objects.select_for_update().filter(tenant=tenant, conversation_id=conversation_id).first()
    if conversation is None:
        raise _not_found(conversation_id)
    return conversation


# --- conversations -------------------------------------------------------------------------------


def conversation_create(*, tenant: Tenant, items=None, metadata: dict | None = None) -> Conversation:
    """A new ``conv_…`` conversation, optionally with items: version 1 with items, 0 without."""
    prepared = prepare_items(items or [], encoding=tenant.encoding)
    conversation_id = canonical.new_id("conv")
    written = conversation_write(tenant=tenant, conversation_id=conversation_id, prepared=prepared, must_create=True,
                                 metadata=metadata or {})
    entries = [Entry(offset + 1, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    if entries:
        apply_hot([HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=written.version,
                                last_seq=written.last_seq, entries=entries, created_empty=True)])
    return Conversation.objects.get(pk=written.pk)


def conversation_update_metadata(*, tenant: Tenant, conversation_id: str, metadata: dict) -> Conversation:
    """Replace a conversation's metadata; a mutation (version + 1), the window's meta follows."""
    conversation, hot = _metadata_tx(tenant=tenant, conversation_id=conversation_id, metadata=metadata)
    apply_hot(hot)
    return conversation


@transaction.atomic
def _metadata_tx(*, tenant, conversation_id, metadata):
    conversation = _lock_existing(tenant, conversation_id)
    conversation.metadata = metadata
    conversation.version += 1
    conversation.last_active_at = timezone.now()
    conversation.save(update_fields=["metadata", "version", "last_active_at"])
    # An empty extension moves the window's version along without touching its items.
    return conversation, [HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=conversation.version,
                                       last_seq=conversation.last_seq, entries=[])]


def conversation_items_create(*, tenant: Tenant, conversation_id: str, items) -> list[Entry]:
    """Append items to an existing conversation (404 when missing, unlike the native append); one mutation.

    Returns the entries written, oldest first.
    """
    prepared = prepare_items(items, encoding=tenant.encoding)
    if not prepared:
        raise ValidationFailed("Send at least one item.", param="items", code="empty_items")
    existing = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).only("pk", "lineage").first()
    if existing is None:
        raise _not_found(conversation_id)
    check_item_ids(existing.path(), prepared)
    written = conversation_write(tenant=tenant, conversation_id=conversation_id, prepared=prepared, create=False)
    first = written.first_seq(len(prepared))
    entries = [Entry(first + offset, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    apply_hot([HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=written.version,
                            last_seq=written.last_seq, entries=entries)])
    return entries


# --- item deletion -------------------------------------------------------------------------------


def item_delete(*, tenant: Tenant, conversation_id: str, item_id: str) -> Conversation:
    """Delete one of the conversation's own items (Item row or archived); other seqs are unchanged.

    A mutation (version + 1, counters down). The hot window is rebuilt from the committed state and the
    windows of forks below are dropped (they inherit the item). Items inherited from a parent: 400 ``item_inherited``.
    """
    conversation, entries, forks = _item_delete_tx(tenant=tenant, conversation_id=conversation_id, item_id=item_id)
    try:
        for fork_id in [conversation.conversation_id, *forks]:
            hot_window.window_drop(tenant_id=tenant.pk, conversation_id=fork_id)
    except RedisUnavailable as exc:
        for fork_id in [conversation.conversation_id, *forks]:
            outbox_record(tenant_id=tenant.pk, conversation_id=fork_id, reason=f"item_delete: {exc}"[:200])
        return conversation
    window_refresh(tenant, conversation, entries)
    return conversation


@transaction.atomic
def _item_delete_tx(*, tenant, conversation_id, item_id):
    conversation = _lock_existing(tenant, conversation_id)
    gone = Item.objects.filter(conversation=conversation, item_id=item_id).first()
    if gone is not None:
        gone.delete()
    else:
        gone = _archived_item_delete(conversation, item_id)
    if gone is None:
        if conversation.parent_id and _find(context_entries(conversation, conversation.fork_seq), item_id):
            raise ValidationFailed(
                "This item is inherited from the conversation this one was forked from; delete it there.",
                param="item_id",
                code="item_inherited",
            )
        raise NotFound(f"No item found with id {item_id!r} in this conversation.", param="item_id")
    conversation.item_count = max(conversation.item_count - 1, 0)
    conversation.byte_count = max(conversation.byte_count - gone.byte_size, 0)
    conversation.token_count = max(conversation.token_count - gone.token_count, 0)
    conversation.version += 1
    conversation.last_active_at = timezone.now()
    conversation.save(update_fields=["version", "item_count", "byte_count", "token_count", "last_active_at"])
    # Read under the lock, so the rebuilt window is exactly this version.
    entries = context_entries(conversation, conversation.last_seq)
    forks = [fork.conversation_id for fork in conversation_descendants(conversation)[1:]]
    return conversation, entries, forks


def _find(entries: list[Entry], item_id: str) -> Entry | None:
    return next((entry for entry in entries if json.loads(entry.raw).get("id") == item_id), None)


def _archived_item_delete(conversation: Conversation, item_id: str):
    """The archived item removed from its segment (re-encoded), or None when no segment holds it."""
    if not conversation.archived_upto_seq:
        return None
    return segment_item_remove(conversation_pk=conversation.pk, tenant_id=conversation.tenant_id, item_id=item_id)


# --- responses -----------------------------------------------------------------------------------


def response_delete(*, tenant: Tenant, response_id: str) -> None:
    """Forget a stored response (row and Redis index entry); its items stay in the conversation."""
    conversation_id = _response_delete_tx(tenant=tenant, response_id=response_id)
    place_forget(tenant.pk, response_id)  # this process's guess of its place (cache_app.response_places)
    try:
        with guarded("response_forget") as client:
            client.delete(keys.response_index(tenant.pk, response_id))
    except RedisUnavailable as exc:
        outbox_record(tenant_id=tenant.pk, conversation_id=conversation_id, response_ids=[response_id], reason=f"response_delete: {exc}"[:200])


@transaction.atomic
def _response_delete_tx(*, tenant, response_id):
    response = Response.objects.select_for_update(of=("self",)).select_related("conversation").filter(tenant=tenant, response_id=response_id).first()
    if response is None:
        raise NotFound(f"No response found with id {response_id!r}.", param="response_id")
    conversation_id = response.conversation.conversation_id
    response.delete()  # Item.response is SET_NULL: the items stay
    return conversation_id
