"""Memory tasks: summarise and embed conversations, and the sweeps that rediscover missing work."""

from __future__ import annotations

from celery import shared_task

from sessions_app.models import Conversation

from ..embedders import EmbedderError
from ..services import memory as memory_services

__all__ = ["summarise_conversation", "summarise_sweep", "embed_conversation", "embed_sweep"]


def _conversation(pk: int) -> Conversation | None:
    return Conversation.objects.select_related("tenant").filter(pk=pk).first()


@shared_task(name="convostore.summarise_conversation", autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def summarise_conversation(conversation_pk: int, force: bool = False) -> int | None:
    """Refresh one conversation's summary; answers the seq it now covers (None when nothing changed)."""
    conversation = _conversation(conversation_pk)
    if conversation is None:  # deleted meanwhile
        return None
    summary = memory_services.summary_refresh(conversation=conversation, force=force)
    return summary.upto_seq if summary else None


@shared_task(name="convostore.summarise_sweep")
def summarise_sweep(limit: int = 500) -> int:
    """Enqueue a summary refresh for every conversation whose older turns may exceed its tenant's threshold."""
    pks = list(memory_services.summary_candidates(limit))
    for pk in pks:
        summarise_conversation.delay(pk)
    return len(pks)


@shared_task(name="convostore.embed_conversation", autoretry_for=(OSError, EmbedderError), retry_backoff=True, max_retries=3)
def embed_conversation(conversation_pk: int) -> int:
    """Embed one conversation's un-embedded turns and latest summary; answers the Memory rows written."""
    conversation = _conversation(conversation_pk)
    if conversation is None:
        return 0
    return memory_services.conversation_embed(conversation=conversation)


@shared_task(name="convostore.embed_sweep")
def embed_sweep(limit: int = 500) -> int:
    """Enqueue embedding for every conversation with turns or a summary not yet embedded."""
    pks = list(memory_services.embed_candidates(limit))
    for pk in pks:
        embed_conversation.delay(pk)
    return len(pks)
