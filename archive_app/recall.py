"""Semantic recall over Memory rows (pgvector HNSW, cosine), scoped to a conversation, an end user or a tenant."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils.module_loading import import_string
from pgvector.django import CosineDistance

from .models import Memory
from .summarisers import SummariserError, chat_completion

logger = logging.getLogger(__name__)

SCOPES = ("conversation", "user", "tenant")


@dataclass(frozen=True)
class Recalled:
    conversation_id: str
    kind: str
    first_seq: int
    last_seq: int
    excerpt: str
    score: float  # cosine similarity, 1 - distance


def embedder_label(embedder) -> str:
    """What Memory.embedder stores: vectors are only ever compared with vectors of the same embedder and model."""
    return f"{embedder.name}:{embedder.model}"[:200]


def _path_filter(conversation, upto_seq: int | None) -> Q:
    condition = Q()
    for pk, inherited in conversation.lineage:
        limit = inherited if upto_seq is None else min(inherited, upto_seq)
        condition |= Q(conversation_id=pk, last_seq__lte=limit)
    own = Q(conversation_id=conversation.pk)
    if upto_seq is not None:
        own &= Q(last_seq__lte=upto_seq)
    return condition | own


def _scope_filter(conversation, scope: str, upto_seq: int | None, user_key: str) -> Q:
    if scope == "tenant":
        return Q()
    if scope == "user":
        user = (conversation.metadata or {}).get(user_key)
        if isinstance(user, str) and user:
            if user_key == settings.CONVOSTORE.get("USER_METADATA_KEY", "user"):
                return Q(user_key=user)
            return Q(conversation__metadata__contains={user_key: user})
    # conversation scope, and user scope for a conversation that names no user
    return _path_filter(conversation, upto_seq)


def _exclusions(conversation, exclude_seqs) -> Q:
    """What recall never answers: the path's own summaries (already in the context) and the verbatim items."""
    path_pks = [pk for pk, _ in conversation.path()]
    excluded = Q(conversation_id__in=path_pks, kind=Memory.Kind.SUMMARY)
    seqs = list(exclude_seqs)
    if seqs:
        excluded |= Q(conversation_id__in=path_pks, last_seq__gte=min(seqs), first_seq__lte=max(seqs))
    return excluded


def recall(
    *,
    tenant,
    conversation,
    query: str,
    k: int,
    scope: str = "conversation",
    exclude_seqs=(),
    upto_seq: int | None = None,
    user_key: str = "user",
    gate=None,
    embedder=None,
) -> list[Recalled]:
    """The ``k`` memories nearest to ``query`` within ``scope`` (never another tenant), best first.

    ``exclude_seqs`` are seqs of the conversation's path already sent verbatim; spans touching them are skipped.
    ``gate`` (a RelevanceGate, default from settings, None = off) may drop candidates afterwards.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown recall scope {scope!r}")
    if k <= 0 or not query or not query.strip():
        return []
    from .embedders import embed_cached, get_embedder

    embedder = embedder or get_embedder()
    gate = gate if gate is not None else get_gate()
    vector = embed_cached(tenant_id=tenant.pk, texts=[query], embedder=embedder)[0]
    queryset = (
        Memory.objects.filter(tenant=tenant, embedder=embedder_label(embedder))
        .filter(_scope_filter(conversation, scope, upto_seq, user_key))
        .exclude(_exclusions(conversation, exclude_seqs))
    )
    found = nearest(queryset, vector, k * 3 if gate else k)
    if gate:
        found = gate.filter(query=query, candidates=found)
    return found[:k]


REINDEX_PENDING_CACHE_SECONDS = 60.0
_reindex_pending: dict[tuple[int, str], tuple[float, bool]] = {}


def reindex_pending(*, tenant_id: int, embedder=None) -> bool:
    """Whether some of the tenant's memories hold another embedder's vectors (a model change not yet followed
    by ``reindex_embeddings``): recall skips those rows, and the context answer says so.

    Two index seeks on (tenant, embedder); the answer is kept REINDEX_PENDING_CACHE_SECONDS per process.
    """
    from .embedders import get_embedder

    label = embedder_label(embedder or get_embedder())
    now = time.monotonic()
    cached = _reindex_pending.get((tenant_id, label))
    if cached is not None and cached[0] > now:
        return cached[1]
    memories = Memory.objects.filter(tenant_id=tenant_id)
    pending = memories.filter(embedder__lt=label).exists() or memories.filter(embedder__gt=label).exists()
    if len(_reindex_pending) > 10_000:
        _reindex_pending.clear()
    _reindex_pending[(tenant_id, label)] = (now + REINDEX_PENDING_CACHE_SECONDS, pending)
    return pending


def nearest(queryset, vector, k: int) -> list[Recalled]:
    """ORDER BY embedding <=> vector LIMIT k, served by the HNSW index (iterative scan keeps filtered queries full)."""
    ef_search = max(int(settings.CONVOSTORE.get("RECALL_EF_SEARCH", 100)), k)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {ef_search}")
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = list(
            queryset.annotate(distance=CosineDistance("embedding", vector))
            .order_by("distance")
            .values_list("conversation__conversation_id", "kind", "first_seq", "last_seq", "excerpt", "distance")[:k]
        )
    # relaxed_order may hand rows slightly out of order; ties are broken by position for stable output.
    rows.sort(key=lambda row: (row[5], row[0], row[2], row[1]))
    return [Recalled(cid, kind, first, last, excerpt, 1.0 - float(distance)) for cid, kind, first, last, excerpt, distance in rows]


class RelevanceGate:
    """Keeps or drops each recall candidate before it is used."""

    def filter(self, *, query: str, candidates: list[Recalled]) -> list[Recalled]:
        return candidates


class OpenAICompatibleRelevanceGate(RelevanceGate):
    """Asks an OpenAI-compatible chat endpoint which candidates are relevant to the new message.

    Fails open: when the endpoint is down or answers nonsense, the candidates are used ungated.
    """

    prompt = (
        "You filter memories for an assistant. Given the user's new message and numbered memories, answer with "
        'JSON only: {"keep": [numbers of the memories that help answer the message]}.'
    )

    def __init__(self, *, base_url=None, api_key=None, model=None, timeout=None, retries=None, backoff=None):
        config = settings.CONVOSTORE
        self.base_url = base_url if base_url is not None else config.get("OPENAI_BASE_URL", "")
        self.api_key = api_key if api_key is not None else config.get("OPENAI_API_KEY", "")
        self.model = model or config.get("RECALL_GATE_MODEL") or config.get("SUMMARY_MODEL", "gpt-4o-mini")
        self.timeout = timeout if timeout is not None else config.get("RECALL_GATE_TIMEOUT_SECONDS", 5.0)
        self.retries = retries if retries is not None else 0
        self.backoff = backoff if backoff is not None else 0.2

    def filter(self, *, query: str, candidates: list[Recalled]) -> list[Recalled]:
        if not candidates:
            return candidates
        listing = "\n".join(f"{number}. {candidate.excerpt[:1000]}" for number, candidate in enumerate(candidates, 1))
        messages = [
            {"role": "system", "content": self.prompt},
            {"role": "user", "content": f"New message:\n{query}\n\nMemories:\n{listing}"},
        ]
        try:
            answer = chat_completion(
                base_url=self.base_url,
                api_key=self.api_key,
                model=self.model,
                messages=messages,
                timeout=self.timeout,
                retries=self.retries,
                backoff=self.backoff,
                max_tokens=200,
            )
            keep = _kept_numbers(answer)
        except (SummariserError, ValueError) as exc:
            logger.warning("relevance gate failed, using candidates ungated: %s", exc)
            return candidates
        return [candidate for number, candidate in enumerate(candidates, 1) if number in keep]


def _kept_numbers(answer: str) -> set[int]:
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if not match:
        raise ValueError(f"gate answer is not JSON: {answer[:100]!r}")
    keep = json.loads(match.group(0)).get("keep")
    if not isinstance(keep, list):
        raise ValueError("gate answer has no 'keep' list")
    return {int(number) for number in keep if isinstance(number, (int, str)) and str(number).isdigit()}


def get_gate() -> RelevanceGate | None:
    """The configured relevance gate (CONVOSTORE["RECALL_GATE"], a dotted path), or None: off by default."""
    path = settings.CONVOSTORE.get("RECALL_GATE", "")
    return import_string(path)() if path else None
