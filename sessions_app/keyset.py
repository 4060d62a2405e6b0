"""Reads that cost O(page), not O(conversation): keyset pages and newest-first tails over rows and archive segments.

Item rows are read by ``(conversation_id, seq)`` (the ``item_seq_unique`` index) with ``seq`` bounds and a
LIMIT; archived items through segment metadata, decoding only the segments that hold the page
(``archive_app.selectors.segment_page``). An ``after`` cursor (an item id) is found through the
``item_id_unique`` index, or for an archived item through ``ArchiveSegment.item_ids`` (GIN).
"""

from __future__ import annotations

import heapq
from itertools import islice
from typing import Iterator

from django.db import connection

from archive_app.models import ArchiveSegment
from archive_app.selectors import archived_entry, segment_page
from cache_app.hot_window import Entry
from convostore.errors import NotFound

from .models import Conversation, Item

TAIL_PAGE = 256  # rows per keyset step of a newest-first tail (then doubled)


def has_archive(conversation: Conversation) -> bool:
    """Whether any conversation of the context path has archived items (one query only for a fork)."""
    if conversation.archived_upto_seq:
        return True
    ancestors = [pk for pk, _ in conversation.lineage]
    return bool(ancestors) and Conversation.objects.filter(pk__in=ancestors, archived_upto_seq__gt=0).exists()


def entry_find(conversation: Conversation, item_id: str) -> Entry | None:
    """The context's item with this id (rows by index, else the one archive segment naming it), or None."""
    row = (
        Item.objects.for_path(conversation.path(), conversation.last_seq)
        .filter(item_id=item_id).values_list("seq", "token_count", "raw").first()
    )
    if row is not None:
        return Entry(*row)
    if conversation.archived_upto_seq or conversation.lineage:
        path = [(pk, conversation.last_seq if upto is None else min(upto, conversation.last_seq))
                for pk, upto in conversation.path()]
        return archived_entry(path, item_id)
    return None


def rows_page(path, *, upto_seq: int, limit: int, after_seq: int = 0, before_seq: int | None = None,
              descending: bool = False) -> list[Entry]:
    """Up to ``limit`` item rows of ``path`` with after_seq < seq <= upto_seq and seq < before_seq, by seq: one
    index range scan with LIMIT."""
    rows = Item.objects.for_path(path, upto_seq)
    if after_seq:
        rows = rows.filter(seq__gt=after_seq)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    rows = rows.order_by("-seq" if descending else "seq").values_list("seq", "token_count", "raw")[:limit]
    return [Entry(seq, tokens, raw) for seq, tokens, raw in rows]


def context_page(conversation: Conversation, *, limit: int, after_seq: int = 0, before_seq: int | None = None,
                 descending: bool = False, archived: bool | None = None) -> list[Entry]:
    """Up to ``limit`` entries of the context (rows and archived items merged by seq) in the given bounds."""
    path, upto = conversation.path(), conversation.last_seq
    bounds = dict(upto_seq=upto, limit=limit, after_seq=after_seq, before_seq=before_seq, descending=descending)
    entries = rows_page(path, **bounds)
    if archived if archived is not None else has_archive(conversation):
        entries = list(islice(heapq.merge(entries, segment_page(path, **bounds),
                                          key=lambda e: -e.seq if descending else e.seq), limit))
    return entries


def cursor_seq(conversation: Conversation, item_id: str) -> int:
    """The seq of the ``after`` cursor; raises NotFound (404, param ``after``) when the context has no such item."""
    entry = entry_find(conversation, item_id)
    if entry is None:
        raise NotFound(f"No item found with id {item_id!r} in this conversation.", param="after")
    return entry.seq


def context_tail(conversation: Conversation, *, upto_seq: int, after_seq: int = 0,
                 newest: list[Entry] = ()) -> Iterator[Entry]:
    """The context's entries with after_seq < seq <= upto_seq, newest first, read lazily: ``newest`` (entries the
    caller already holds, e.g. from the hot window: a contiguous newest part, newest first) then steps over seq
    ranges of ``TAIL_PAGE`` seqs (then doubled), rows merged with the archived items of the same range. Each step
    bounds seq on both sides, so it reads at most its range's rows whatever plan Postgres picks (with only an
    upper bound, stale statistics on a fast-growing conversation made it a bitmap scan of every older row, then a
    sort). The consumer stops when it has enough."""
    below = upto_seq + 1
    for entry in newest:
        if after_seq < entry.seq < below:
            yield entry
            below = entry.seq
    archived = has_archive(conversation)
    path = [(pk, upto) for pk, upto in conversation.path()]
    size = TAIL_PAGE
    while below - 1 > after_seq:
        older = max(after_seq, below - 1 - size)  # this step reads seqs older < seq < below: at most ``size`` of them
        rows = rows_page(path, upto_seq=upto_seq, limit=size, after_seq=older, before_seq=below, descending=True)
        if archived:
            tail = segment_page(path, upto_seq=upto_seq, limit=10**9, after_seq=older, before_seq=below, descending=True)
            yield from heapq.merge(rows, tail, key=lambda e: -e.seq)
        else:
            yield from rows
        below, size = older + 1, size * 2


def context_first_seq(conversation: Conversation) -> int | None:
    """The first seq of a root conversation's context (rows or segments): two index seeks, one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT LEAST((SELECT min(seq) FROM {Item._meta.db_table} WHERE conversation_id = %s), "
            f"(SELECT min(first_seq) FROM {ArchiveSegment._meta.db_table} WHERE conversation_id = %s))",
            [conversation.pk, conversation.pk],
        )
        return cursor.fetchone()[0]
