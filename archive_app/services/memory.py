"""Memory writes: incremental summaries of turns that left the verbatim window, and Memory rows (embeddings) for recall."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from cache_app.context import message_tokens, normalise_text, summary_message
from sessions_app.models import Conversation
from sessions_app.selectors import context_entries

from ..models import LifecycleEvent, Memory, Summary
from ..recall import embedder_label
from ..summarisers import SummariserError, get_summariser, item_text

logger = logging.getLogger(__name__)

EMBED_BATCH = 64


# --- summaries --------------------------------------------------------------------------------------


def summary_previous(conversation: Conversation, upto_seq: int) -> Summary | None:
    """The latest summary of the conversation's path covering at most ``upto_seq`` (a fork builds on its parent's)."""
    condition = Q(conversation_id=conversation.pk, upto_seq__lte=upto_seq)
    for pk, inherited in conversation.lineage:
        condition |= Q(conversation_id=pk, upto_seq__lte=min(inherited, upto_seq))
    return Summary.objects.filter(condition).order_by("-upto_seq").first()


def summary_refresh(*, conversation: Conversation, force: bool = False, summariser=None) -> Summary | None:
    """Summarise the turns that left the verbatim window (the tenant's window_size newest items stay verbatim).

    next summary = summarise(previous summary + turns after it). Runs when those turns exceed the tenant's
    summary_threshold_tokens, or always with ``force`` (archive time). Idempotent: an existing summary to
    the same seq is returned as is. A summariser failure returns None and leaves the previous summary in place.
    """
    tenant = conversation.tenant
    entries = context_entries(conversation, conversation.last_seq)
    older = entries[: max(0, len(entries) - tenant.window_size)]
    if not older:
        return None
    upto = older[-1].seq
    previous = summary_previous(conversation, upto)
    fresh = [entry for entry in older if entry.seq > (previous.upto_seq if previous else 0)]
    if not fresh:
        return None
    if not force and sum(entry.tokens for entry in fresh) < tenant.summary_threshold_tokens:
        return None
    summariser = summariser or get_summariser()
    try:
        text = summariser.summarise(previous=previous.text if previous else "", turns=[json.loads(e.raw) for e in fresh])
    except SummariserError as exc:
        logger.warning("summary of %s to seq %s failed, previous summary kept: %s", conversation.pk, upto, exc)
        return None
    text = normalise_text(text)
    summary, created = Summary.objects.get_or_create(
        conversation=conversation,
        upto_seq=upto,
        defaults={
            "text": text,
            "token_estimate": message_tokens(summary_message(upto, text), encoding=tenant.encoding),
            "summariser": summariser.label[:200],
        },
    )
    if created:
        LifecycleEvent.objects.create(kind=LifecycleEvent.Kind.SUMMARISE, tenant=tenant, conversations=1, items=len(fresh))
    return summary


def summary_candidates(limit: int = 500):
    """Conversations whose turns past the last summary exceed the verbatim window (and hold enough tokens)."""
    latest = Summary.objects.filter(conversation=OuterRef("pk")).order_by("-upto_seq").values("upto_seq")[:1]
    return (
        Conversation.objects.annotate(summarised=Coalesce(Subquery(latest), F("fork_seq"), 0))
        .filter(last_seq__gt=F("summarised") + F("tenant__window_size"), token_count__gt=F("tenant__summary_threshold_tokens"))
        .order_by("-last_active_at")
        .values_list("pk", flat=True)[:limit]
    )


# --- embeddings -------------------------------------------------------------------------------------


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
    from ..embedders import embed_cached

    vectors = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(embed_cached(tenant_id=tenant_id, texts=texts[start : start + EMBED_BATCH], embedder=embedder))
    return vectors


def conversation_embed(*, conversation: Conversation, embedder=None) -> int:
    """Embed the conversation's own turns (and its latest summary) that have no Memory row yet; returns rows written.

    Idempotent: spans already embedded by the same embedder are skipped; a turn that grew since is replaced.
    """
    from ..embedders import get_embedder

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
    rows = []
    if todo:
        vectors = _embed(conversation.tenant_id, [s.excerpt for s in todo], embedder)
        user_key = _user_key(conversation)
        rows = [
            Memory(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                kind=Memory.Kind.TURN,
                first_seq=s.first_seq,
                last_seq=s.last_seq,
                user_key=user_key,
                excerpt=s.excerpt,
                embedder=label,
                embedding=vector,
            )
            for s, vector in zip(todo, vectors)
        ]
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
    from django.db import connection

    from ..embedders import get_embedder
    from ..vector_columns import MEMORY_TABLE, column_dimensions

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
    summaries = Summary.objects.exclude(embedding=None)
    if tenant is not None:
        summaries = summaries.filter(conversation__tenant=tenant)
    for summary in summaries.select_related("conversation").only("pk", "text", "conversation__tenant_id").iterator():
        vector = _embed(summary.conversation.tenant_id, [summary.text], embedder)[0]
        Summary.objects.filter(pk=summary.pk).update(embedding=vector)
    return done
