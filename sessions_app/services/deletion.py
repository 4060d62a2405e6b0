"""Deleting conversations: rows, forks, idempotency records, every Redis key, and a tombstone."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from archive_app.models import ArchiveSegment
from archive_app.storage import names_delete
from cache_app import hot_window, semantic_purge
from cache_app.redis_client import RedisUnavailable
from convostore.errors import NotFound

from ..models import Conversation, IdempotencyRecord, Response, Tenant, Tombstone
from .hot import outbox_record
from .tenants import api_keys_forget

logger = logging.getLogger(__name__)


def conversation_descendants(conversation: Conversation) -> list[Conversation]:
    """The conversation and every fork below it (lineage holds each fork's ancestors)."""
    found = [conversation]
    frontier = [conversation.pk]
    while frontier:
        children = list(Conversation.objects.filter(parent_id__in=frontier).only("pk", "conversation_id", "tenant_id"))
        found.extend(children)
        frontier = [c.pk for c in children]
    return found


def conversation_delete(*, tenant: Tenant, conversation_id: str) -> list[str]:
    """Delete a conversation and its forks everywhere (GDPR); returns the deleted conversation ids.

    Postgres first (one transaction, with tombstones); then Redis, with the outbox as the fallback.
    """
    removed, stored_names = _delete_tx(tenant=tenant, conversation_id=conversation_id)
    if stored_names:  # segment payloads kept in a Storage backend go after the rows that named them
        names_delete(stored_names)
    for deleted_id, response_ids in removed:
        redis_forget(tenant_id=tenant.pk, conversation_id=deleted_id, response_ids=response_ids)
    semantic_forget(tenant_id=tenant.pk, conversation_ids=[deleted_id for deleted_id, _ in removed])
    return [deleted_id for deleted_id, _ in removed]


@transaction.atomic
def _delete_tx(*, tenant: Tenant, conversation_id: str):
    conversation = Conversation.objects.select_for_update().filter(tenant=tenant, conversation_id=conversation_id).first()
    if conversation is None:
        raise NotFound(f"No conversation found with id {conversation_id!r}.", param="conversation_id")
    doomed = conversation_descendants(conversation)
    pks = [c.pk for c in doomed]
    ids = [c.conversation_id for c in doomed]
    responses: dict[int, list[str]] = {pk: [] for pk in pks}
    for pk, response_id in Response.objects.filter(conversation_id__in=pks).values_list("conversation_id", "response_id"):
        responses[pk].append(response_id)
    stored_names = list(
        ArchiveSegment.objects.filter(conversation_id__in=pks).exclude(storage_name="").values_list("storage_name", flat=True)
    )
    IdempotencyRecord.objects.filter(tenant=tenant, scope__in=ids).delete()
    Conversation.objects.filter(pk=conversation.pk).delete()  # forks, items, responses cascade
    expires = timezone.now() + timedelta(seconds=settings.CONVOSTORE["TOMBSTONE_TTL_SECONDS"])
    for deleted_id in ids:
        Tombstone.objects.update_or_create(tenant=tenant, conversation_id=deleted_id, defaults={"expires_at": expires})
    return [(c.conversation_id, responses[c.pk]) for c in doomed], stored_names


def redis_forget(*, tenant_id: int, conversation_id: str, response_ids=()) -> None:
    try:
        hot_window.window_drop(tenant_id=tenant_id, conversation_id=conversation_id, response_ids=response_ids, forget_lru=True)
    except RedisUnavailable as exc:
        outbox_record(tenant_id=tenant_id, conversation_id=conversation_id, response_ids=response_ids, reason=f"delete: {exc}"[:200])


def semantic_forget(*, tenant_id: int, conversation_ids: list[str]) -> None:
    """Semantic-cache entries stored with these conversations go too; if Redis is down the outbox retries."""
    try:
        semantic_purge.purge_conversations(tenant_id=tenant_id, conversation_ids=conversation_ids)
    except RedisUnavailable as exc:
        for conversation_id in conversation_ids:
            outbox_record(tenant_id=tenant_id, conversation_id=conversation_id, reason=f"delete: {exc}"[:200])


def tenant_purge(*, tenant: Tenant, keep_tenant: bool = False, progress=None) -> int:
    """Delete every conversation of a tenant through the GDPR path (and the tenant itself unless kept).

    Returns conversations deleted, forks included; ``progress(n)`` is called after each root conversation.
    """
    roots = list(Conversation.objects.filter(tenant=tenant, parent__isnull=True).values_list("conversation_id", flat=True))
    removed = 0
    for conversation_id in roots:
        try:
            ids = conversation_delete(tenant=tenant, conversation_id=conversation_id)
        except NotFound:  # deleted concurrently
            continue
        removed += len(ids)
        if progress:
            progress(len(ids))
    purge_tenant_caches(tenant_id=tenant.pk)
    if not keep_tenant:
        api_keys_forget(tenant)
        tenant.delete()
    return removed


def purge_tenant_caches(*, tenant_id: int) -> None:
    """Tenant-wide Redis data outside conversations (semantic and embedding caches)."""
    try:
        semantic_purge.purge_tenant(tenant_id=tenant_id)
    except RedisUnavailable:
        logger.warning("semantic/embedding caches of tenant %s not purged (Redis down); entries expire by TTL", tenant_id)
