"""Lifecycle tasks: evict, enforce the hot budget, archive, purge, summarise, embed. Each takes ids and calls one service."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from archive_app.embedders import EmbedderError
from convostore import observability

from ..models import Conversation
from . import archive, drain, eviction, maintenance, selectors  # noqa: F401  (drain: the worker's embed drainer)
from .embeddings import conversation_embed, embed_candidates
from .summaries import summary_candidates, summary_refresh

__all__ = [
    "archive_conversation", "archive_sweep", "embed_conversation", "embed_sweep", "enforce_hot_budget", "evict_idle",
    "purge_expired", "summarise_conversation", "summarise_sweep",
]
ARCHIVE_SWEEP_LIMIT = 5000
ARCHIVE_BATCH = 50


@shared_task(name="convostore.evict_idle")
def evict_idle() -> int:
    """Sweep: conversations idle past their tenant's evict_after_seconds leave Redis."""
    return eviction.evict_idle()


@shared_task(name="convostore.enforce_hot_budget")
def enforce_hot_budget() -> int:
    """Sweep: evict least recently used conversations while Redis holds more than HOT_MAX_BYTES of windows."""
    return eviction.enforce_hot_budget()


@shared_task(name="convostore.archive_sweep")
def archive_sweep() -> int:
    """Sweep: archive every conversation with archivable rows, in batches of one transaction each.

    Rediscovers work whose per-conversation message was lost; a kill loses at most the open batch's
    transaction (rolled back), which the next run redoes. Returns conversations archived.
    """
    pks = list(selectors.archivable_conversations().values_list("pk", flat=True)[:ARCHIVE_SWEEP_LIMIT])
    return sum(
        archive.conversations_archive(conversation_pks=pks[start : start + ARCHIVE_BATCH])
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
    conversation = _conversation(conversation_pk)
    if conversation is None:
        return None
    segment = archive.conversation_archive(conversation=conversation, keep_window=True)
    return segment.pk if segment else None


@shared_task(name="convostore.purge_expired")
def purge_expired() -> int:
    """Sweep: delete conversations past their ttl_seconds or their tenant's retention."""
    return maintenance.purge_expired()


def _conversation(pk: int) -> Conversation | None:
    """The row (None when deleted meanwhile); its tenant and conversation ids go on the task's log lines."""
    conversation = Conversation.objects.select_related("tenant").filter(pk=pk).first()
    if conversation is not None:
        observability.bind(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)
    return conversation


@shared_task(name="convostore.summarise_conversation", autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def summarise_conversation(conversation_pk: int, force: bool = False) -> int | None:
    """Refresh one conversation's summary; answers the seq it now covers (None when nothing changed)."""
    conversation = _conversation(conversation_pk)
    if conversation is None:  # deleted meanwhile
        return None
    summary = summary_refresh(conversation=conversation, force=force)
    return summary.upto_seq if summary else None


@shared_task(name="convostore.summarise_sweep")
def summarise_sweep(limit: int = 500) -> int:
    """Enqueue a summary refresh for every conversation whose older turns may exceed its tenant's threshold."""
    pks = list(summary_candidates(limit))
    for pk in pks:
        summarise_conversation.delay(pk)
    return len(pks)


@shared_task(name="convostore.embed_conversation", autoretry_for=(OSError, EmbedderError), retry_backoff=True, max_retries=3)
def embed_conversation(conversation_pk: int) -> int:
    """Embed one conversation's un-embedded turns and latest summary; answers the Memory rows written."""
    conversation = _conversation(conversation_pk)
    if conversation is None:
        return 0
    return conversation_embed(conversation=conversation)


@shared_task(name="convostore.embed_sweep")
def embed_sweep(limit: int = 500) -> int:
    """Enqueue embedding for every conversation with turns or a summary not yet embedded."""
    pks = list(embed_candidates(limit))
    for pk in pks:
        embed_conversation.delay(pk)
    return len(pks)
