"""Embeddings for recall: a Memory row (pgvector) per turn and per latest summary, written by the embed sweep and tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from archive_app.embedders import embed_cached, embedder_label, get_embedder
from archive_app.models import LifecycleEvent, Memory, Summary
from archive_app.summarisers import item_text
from archive_app.vector_columns import MEMORY_TABLE, column_dimensions
from cache_app import embed_queue

from ..models import Conversation
from ..selectors import context_entries

EMBED_BATCH = 64


@dataclass(frozen=True)
class Span:
    first_seq: int
    last_seq: int
    excerpt: str


def turn_spans(entries) -> list[Span]:
    """A turn is a user message and everything up to the next one (assistant replies, tool calls and outputs)."""
    limit = settings.CONVOSTORE.get("RECALL_EXCERPT_CHARS", 2000)
    groups: list[list] = []
    for entry in entries:
        if not groups or ('"role":"user"' in entry.raw and json.loads(entry.raw).get("role") == "user"):
            groups.append([])
        groups[-1].append(entry)
    spans = []
    for group in groups:
        text = "\n".join(item_text(json.loads(entry.raw)) for entry in group)
        spans.append(Span(group[0].seq, group[-1].seq, text[:limit] or "(empty)"))
    return spans


def _user_key(conversation: Conversation) -> str:
    value = (conversation.metadata or {}).get(settings.CONVOSTORE.get("USER_METADATA_KEY", "user"))
    return value[:512] if isinstance(value, str) else ""


def _embed(tenant_id: int, texts: list[str], embedder):
    vectors = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(embed_cached(tenant_id=tenant_id, texts=texts[start : start + EMBED_BATCH], embedder=embedder))
    return vectors


def conversation_embed(*, conversation: Conversation, embedder=None) -> int:
    """Embed the conversation's own turns (and its latest summary) that have no Memory row yet; returns rows written.

    Idempotent: spans already embedded by the same embedder are skipped; a turn that grew since is replaced.
    """
    embedder = embedder or get_embedder()
    label = embedder_label(embedder)
    own = [e for e in context_entries(conversation, conversation.last_seq) if e.seq > (conversation.fork_seq or 0)]
    spans = turn_spans(own)
    existing = {
        (first, last): used
        for first, last, used in Memory.objects.filter(conversation=conversation, kind=Memory.Kind.TURN).values_list(
            "first_seq", "last_seq", "embedder"
        )
    }
    wanted = {(s.first_seq, s.last_seq) for s in spans}
    todo = [s for s in spans if existing.get((s.first_seq, s.last_seq)) != label]
    stale = [key for key, lab in existing.items() if key not in wanted or lab != label]
    rows = _turn_rows(conversation, todo, embedder, label) if todo else []
    with transaction.atomic():
        if stale:
            doomed = Q()
            for first, last in stale:
                doomed |= Q(first_seq=first, last_seq=last)
            Memory.objects.filter(conversation=conversation, kind=Memory.Kind.TURN).filter(doomed).delete()
        Memory.objects.bulk_create(rows, ignore_conflicts=True)
    written = len(rows) + _summary_embed(conversation, embedder, label)
    if written:
        LifecycleEvent.objects.create(kind=LifecycleEvent.Kind.EMBED, tenant_id=conversation.tenant_id, conversations=1, items=written)
    return written


def _turn_rows(conversation: Conversation, spans: list[Span], embedder, label: str) -> list[Memory]:
    vectors = _embed(conversation.tenant_id, [s.excerpt for s in spans], embedder)
    user_key = _user_key(conversation)
    return [
        Memory(tenant_id=conversation.tenant_id, conversation=conversation, kind=Memory.Kind.TURN, first_seq=s.first_seq,
               last_seq=s.last_seq, user_key=user_key, excerpt=s.excerpt, embedder=label, embedding=vector)
        for s, vector in zip(spans, vectors)
    ]


def _summary_embed(conversation: Conversation, embedder, label: str) -> int:
    """The latest own summary becomes the conversation's one summary memory (earlier ones are subsumed)."""
    summary = Summary.objects.filter(conversation=conversation).order_by("-upto_seq").first()
    if summary is None:
        return 0
    current = Memory.objects.filter(conversation=conversation, kind=Memory.Kind.SUMMARY, first_seq=1, last_seq=summary.upto_seq, embedder=label)
    if summary.embedding is not None and current.exists():
        return 0
    vector = _embed(conversation.tenant_id, [summary.text], embedder)[0]
    with transaction.atomic():
        Summary.objects.filter(pk=summary.pk).update(embedding=vector)
        Memory.objects.filter(conversation=conversation, kind=Memory.Kind.SUMMARY).delete()
        Memory.objects.create(
            tenant_id=conversation.tenant_id,
            conversation=conversation,
            kind=Memory.Kind.SUMMARY,
            first_seq=1,
            last_seq=summary.upto_seq,
            user_key=_user_key(conversation),
            excerpt=summary.text,
            embedder=label,
            embedding=vector,
        )
    return 1


def embed_pending(*, limit: int = 64) -> int:
    """Embed the conversations the append pipeline queued (cache_app.embed_queue); the number taken.

    Raises RedisUnavailable when the queue cannot be read. A conversation whose embedding fails is left to
    the embed sweep, which finds every turn without a Memory row.
    """
    taken = embed_queue.take(limit)
    for tenant_id, conversation_id in taken:
        conversation = Conversation.objects.select_related("tenant").filter(tenant_id=tenant_id, conversation_id=conversation_id).first()
        if conversation is not None:
            conversation_embed(conversation=conversation)
    return len(taken)


def embed_candidates(limit: int = 500):
    """Conversations with turns past their last embedded one, or whose latest summary has no embedding yet."""
    latest_turn = Memory.objects.filter(conversation=OuterRef("pk"), kind=Memory.Kind.TURN).order_by("-last_seq").values("last_seq")[:1]
    latest_summary = Summary.objects.filter(conversation=OuterRef("pk")).order_by("-upto_seq").values("upto_seq")[:1]
    unembedded = Summary.objects.filter(conversation=OuterRef("pk"), upto_seq=OuterRef("summary_upto"), embedding__isnull=True)
    return (
        Conversation.objects.annotate(embedded=Coalesce(Subquery(latest_turn), F("fork_seq"), 0), summary_upto=Subquery(latest_summary))
        .filter(Q(last_seq__gt=F("embedded")) | Exists(unembedded))
        .order_by("-last_active_at")
        .values_list("pk", flat=True)[:limit]
    )


def memories_reindex(*, tenant=None, embedder=None, batch_size: int = 256, progress=None) -> int:
    """Re-embed every memory (and summary) with the current embedder; needed after a model change.

    ``progress`` is called with the number of rows done after each batch (a tqdm ``update``).
    The vector column has one dimension (CONVOSTORE_EMBEDDING_DIM; archive_app.vector_columns): an embedder
    of another dimension is refused here (ValueError); ``reindex_embeddings --resize`` changes the column first.
    """
    embedder = embedder or get_embedder()
    column = column_dimensions(connection).get(MEMORY_TABLE)
    if embedder.dimensions != column:
        raise ValueError(
            f"embedder {embedder_label(embedder)} makes {embedder.dimensions}-d vectors but the column holds "
            f"{column}-d; set CONVOSTORE_EMBEDDING_DIM to {embedder.dimensions} and run reindex_embeddings --resize"
        )
    label = embedder_label(embedder)
    done = 0
    memories = Memory.objects.order_by("tenant_id", "pk")
    if tenant is not None:
        memories = memories.filter(tenant=tenant)
    last = (0, 0)
    while True:
        batch = list(
            memories.filter(Q(tenant_id__gt=last[0]) | Q(tenant_id=last[0], pk__gt=last[1])).only("pk", "tenant_id", "excerpt")[:batch_size]
        )
        if not batch:
            break
        by_tenant: dict[int, list[Memory]] = {}
        for memory in batch:
            by_tenant.setdefault(memory.tenant_id, []).append(memory)
        for tenant_id, group in by_tenant.items():
            for memory, vector in zip(group, _embed(tenant_id, [m.excerpt for m in group], embedder)):
                memory.embedding, memory.embedder = vector, label
            Memory.objects.bulk_update(group, ["embedding", "embedder"])
        done += len(batch)
        last = (batch[-1].tenant_id, batch[-1].pk)
        if progress:
            progress(len(batch))
    _summaries_reindex(tenant, embedder)
    return done


def _summaries_reindex(tenant, embedder) -> None:
    summaries = Summary.objects.exclude(embedding=None)
    if tenant is not None:
        summaries = summaries.filter(conversation__tenant=tenant)
    for summary in summaries.select_related("conversation").only("pk", "text", "conversation__tenant_id").iterator():
        vector = _embed(summary.conversation.tenant_id, [summary.text], embedder)[0]
        Summary.objects.filter(pk=summary.pk).update(embedding=vector)
