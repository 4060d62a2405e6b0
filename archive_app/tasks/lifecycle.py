"""Lifecycle tasks: evict, enforce the hot budget, archive, purge. Each takes ids and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from archive_app import selectors
from archive_app.services import lifecycle
from sessions_app.models import Conversation

__all__ = ["archive_conversation", "archive_sweep", "enforce_hot_budget", "evict_idle", "purge_expired"]
ARCHIVE_SWEEP_LIMIT = 5000
ARCHIVE_BATCH = 50


@shared_task(name="convostore.evict_idle")
def evict_idle() -> int:
    """Sweep: conversations idle past their tenant's evict_after_seconds leave Redis."""
    return lifecycle.evict_idle()


@shared_task(name="convostore.enforce_hot_budget")
def enforce_hot_budget() -> int:
    """Sweep: evict least recently used conversations while Redis holds more than HOT_MAX_BYTES of windows."""
    return lifecycle.enforce_hot_budget()


@shared_task(name="convostore.archive_sweep")
def archive_sweep() -> int:
    """Sweep: archive every conversation with archivable rows, in batches of one transaction each.

    Rediscovers work whose per-conversation message was lost; a kill loses at most the open batch's
    transaction (rolled back), which the next run redoes. Returns conversations archived.
    """
    pks = list(selectors.archivable_conversations().values_list("pk", flat=True)[:ARCHIVE_SWEEP_LIMIT])
    return sum(
        lifecycle.conversations_archive(conversation_pks=pks[start : start + ARCHIVE_BATCH])
        for start in range(0, len(pks), ARCHIVE_BATCH)
    )


@shared_task(
    name="convostore.archive_conversation",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def archive_conversation(conversation_pk: int) -> int | None:
    """Archive one conversation (idempotent: a rerun archives only what is left). Returns the last segment's pk."""
    conversation = Conversation.objects.filter(pk=conversation_pk).first()
    if conversation is None:
        return None
    segment = lifecycle.conversation_archive(conversation=conversation, keep_window=True)
    return segment.pk if segment else None


@shared_task(name="convostore.purge_expired")
def purge_expired() -> int:
    """Sweep: delete conversations past their ttl_seconds or their tenant's retention."""
    return lifecycle.purge_expired()
