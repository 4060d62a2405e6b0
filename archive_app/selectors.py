"""Reads over the cold and memory tier: archived entries (decoded segments) and semantic recall (pgvector).

Callers pass conversations in: this app never imports sessions_app; a conversation is read only through
its ``pk``, ``lineage``, ``metadata`` and ``path()``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from pgvector.django import CosineDistance

from cache_app.hot_window import Entry

from . import payload
from .embedders import embed_cached, embedder_label, get_embedder
from .gates import get_gate
from .models import ArchiveSegment, CodeTable, Memory
from .segments import segment_raw

SCOPES = ("conversation", "user", "tenant")

_SEGMENT_COLUMNS = ("id", "conversation_id", "first_seq", "last_seq", "item_count", "code_table_id", "raw_bytes", "crc32",
                    "storage_name", "payload")


def _path_segments(path, upto_seq: int, after_seq: int = 0, before_seq: int | None = None, *,
                   first_after: int | None = None, descending: bool = False,
                   limit: int | None = None) -> list[tuple[ArchiveSegment, int | None, int]]:
    """(segment, its code table's id, the seq limit) of the segments of ``path`` holding seqs in (after_seq, upto_seq]
    (below ``before_seq``, starting after ``first_after``), by first seq (descending: newest first), at most ``limit``,
    with their bytes (bytea) or storage names: one query."""
    limits = {pk: upto_seq if upto is None else min(upto, upto_seq) for pk, upto in path}
    if not limits:
        return []
    columns = ", ".join(f"s.{column}" for column in _SEGMENT_COLUMNS)
    where, params = "s.last_seq > %s", [list(limits), list(limits.values()), after_seq]
    for clause, value in (("s.first_seq < %s", before_seq), ("s.first_seq > %s", first_after)):
        if value is not None:
            where, params = f"{where} AND {clause}", params + [value]
    tail = f" ORDER BY s.first_seq{' DESC' if descending else ''}" + ("" if limit is None else f" LIMIT {int(limit)}")
    with connection.cursor() as cursor:  # one lean query on the cold read path
        cursor.execute(
            f"SELECT {columns}, t.table_id FROM {ArchiveSegment._meta.db_table} s "
            f"LEFT JOIN {CodeTable._meta.db_table} t ON t.id = s.code_table_id "
            f"JOIN unnest(%s::bigint[], %s::bigint[]) AS p(cid, lim) ON s.conversation_id = p.cid AND s.first_seq <= p.lim "
            f"WHERE {where}{tail}",
            params,
        )
        rows = cursor.fetchall()
    found = []
    for row in rows:
        segment = ArchiveSegment(**dict(zip(_SEGMENT_COLUMNS, row[:-1])))
        found.append((segment, row[-1], limits[segment.conversation_id]))
    return found


def segment_entries(path, upto_seq: int, after_seq: int = 0) -> list[Entry]:
    """Entries of ``path`` ([(conversation pk, upto seq or None)]) with after_seq < seq <= upto_seq stored in archive
    segments, decoded, oldest first. Decodes only the segments overlapping that range.

    Raises ArchiveCorrupt when a segment is damaged: a context is never answered with missing items.
    """
    entries = []
    for segment, table_uid, limit in _path_segments(path, upto_seq, after_seq):
        raw = segment_raw(segment, table_uid=table_uid)
        entries.extend(Entry(seq, tokens, text) for seq, tokens, text in payload.unpack_entries(raw) if after_seq < seq <= limit)
    return entries


def segment_page(path, *, upto_seq: int, limit: int, after_seq: int = 0, before_seq: int | None = None,
                 descending: bool = False):
    """Up to ``limit`` archived entries of ``path`` with after_seq < seq <= upto_seq and seq < before_seq, oldest
    first (newest first when ``descending``), as an iterator that lists segments a few at a time (keyset on
    first seq, their bytes in the same query: one query per batch, not one per segment) and decodes one at a time:
    a page decodes only the segments holding it, never the whole history.

    Raises ArchiveCorrupt when a segment it needs is damaged.
    """
    found, batch, first_after, first_before = 0, 2, None, before_seq
    while True:
        spans = _path_segments(path, upto_seq, after_seq, first_before, first_after=first_after, descending=descending,
                               limit=batch)
        for segment, table_uid, seq_limit in spans:
            raw = segment_raw(segment, table_uid=table_uid)
            entries = [Entry(seq, tokens, text) for seq, tokens, text in payload.unpack_entries(raw)
                       if after_seq < seq <= seq_limit and (before_seq is None or seq < before_seq)]
            for entry in reversed(entries) if descending else entries:
                yield entry
                found += 1
                if found >= limit:
                    return
        if len(spans) < batch:
            return
        if descending:
            first_before = spans[-1][0].first_seq
        else:
            first_after = spans[-1][0].first_seq
        batch = min(batch * 2, 64)


def archived_items(path, upto_seq: int, after_seq: int = 0) -> list[payload.ArchivedItem]:
    """Every attribute (response pk, created_at, …) of the archived items of ``path`` in (after_seq, upto_seq].

    Raises ArchiveCorrupt when a segment is damaged.
    """
    items = []
    for segment, table_uid, limit in _path_segments(path, upto_seq, after_seq):
        raw = segment_raw(segment, table_uid=table_uid)
        items.extend(item for item in payload.unpack(raw) if after_seq < item.seq <= limit)
    return items


def _segments_holding(path, item_ids) -> list[tuple[ArchiveSegment, int | None]]:
    """Segments of ``path`` whose ``item_ids`` name one of ``item_ids`` (GIN index), plus any written before that
    column existed (null: they must be decoded to know); (segment, seq limit or None)."""
    limits = {pk: upto for pk, upto in path}
    segments = ArchiveSegment.objects.filter(conversation_id__in=list(limits)).filter(
        Q(item_ids__overlap=list(item_ids)) | Q(item_ids__isnull=True)
    ).order_by("first_seq")
    return [(segment, limits[segment.conversation_id]) for segment in segments]


def archived_item_ids(path, item_ids) -> set[str]:
    """Which of ``item_ids`` archive segments hold within ``path`` ([(conversation pk, upto seq or None)]).

    Decodes only the segments that name one of the ids; for the client-id uniqueness check of the write path,
    which sees only Item rows. Call it only when a conversation of the path has archived items.
    """
    wanted = set(item_ids)
    found = set()
    for segment, limit in _segments_holding(path, wanted):
        found.update(
            item.item_id for item in payload.unpack(segment_raw(segment))
            if item.item_id in wanted and (limit is None or item.seq <= limit)
        )
    return found


def archived_entry(path, item_id: str) -> Entry | None:
    """The archived entry with this id within ``path``, decoding only the segment that holds it; None if none does."""
    for segment, limit in _segments_holding(path, [item_id]):
        for item in payload.unpack(segment_raw(segment)):
            if item.item_id == item_id and (limit is None or item.seq <= limit):
                return Entry(item.seq, item.token_count, item.raw)
    return None


# --- recall ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recalled:
    conversation_id: str
    kind: str
    first_seq: int
    last_seq: int
    excerpt: str
    score: float  # cosine similarity, 1 - distance


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
