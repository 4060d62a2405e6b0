"""Reads that cost O(page), not O(conversation): keyset pages and newest-first tails over rows and archive segments.

Item rows are read by ``(conversation_id, seq)`` (the ``item_seq_unique`` index) with ``seq`` bounded on both
sides and a LIMIT, in steps that double (``context_steps``); archived items through segment metadata, decoding only the segments that hold the page
(``archive_app.selectors.segment_page``). An ``after`` cursor (an item id) is found through the
``item_id_unique`` index, or for an archived item through ``ArchiveSegment.item_ids`` (GIN).
"""

from __future__ import annotations

import heapq
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


def rows_page(path, *, upto_seq: int, limit: int, after_seq: int, before_seq: int, descending: bool = False) -> list[Entry]:
    """Up to ``limit`` item rows of ``path`` with after_seq < seq < before_seq (and seq <= upto_seq), by seq: one
    index range scan, bounded on both sides (see context_steps)."""
    rows = Item.objects.for_path(path, upto_seq).filter(seq__gt=after_seq, seq__lt=before_seq)
    rows = rows.order_by("-seq" if descending else "seq").values_list("seq", "token_count", "raw")[:limit]
    return [Entry(seq, tokens, raw) for seq, tokens, raw in rows]


def context_steps(conversation: Conversation, *, upto_seq: int, size: int, after_seq: int = 0,
                  before_seq: int | None = None, descending: bool = False, most: int | None = None) -> Iterator[Entry]:
    """The context's entries with after_seq < seq <= upto_seq and seq < before_seq, by seq (newest first when
    ``descending``), at most ``most`` (None: until the consumer stops), read lazily in steps over seq ranges of
    ``size`` seqs (then doubled) from the side the reading starts: each step's rows merged with the archived items
    of the same range, no more of either than are still wanted. An items page of ``limit`` asks ``size = most =
    limit + 1``: one step unless items were deleted there.

    Every step bounds seq on both sides, so it reads at most its range's rows whatever plan Postgres picks: with
    only one bound, a conversation written faster than autoanalyze saw it (a burst, a bulk import) got a bitmap
    scan of every row on that side, then a sort. A gap (deleted items) costs one more step each time the range
    doubles: O(log gap) steps, never a scan of the rest of the conversation.
    """
    archived = has_archive(conversation)
    path = conversation.path()
    low, high = after_seq, upto_seq if before_seq is None else min(upto_seq, before_seq - 1)  # seqs in (low, high]
    wanted = most if most is not None else float("inf")
    while high > low and wanted > 0:
        if descending:
            start, end = max(low, high - size), high
            high = start
        else:
            start, end = low, min(high, low + size)
            low = end
        bounds = dict(upto_seq=upto_seq, limit=min(size, wanted), after_seq=start, before_seq=end + 1, descending=descending)
        step = rows_page(path, **bounds)
        if archived:
            step = heapq.merge(step, segment_page(path, **bounds), key=lambda e: -e.seq if descending else e.seq)
        for entry in step:
            yield entry
            wanted -= 1
            if not wanted:
                return
        size *= 2


def cursor_seq(conversation: Conversation, item_id: str) -> int:
    """The seq of the ``after`` cursor; raises NotFound (404, param ``after``) when the context has no such item."""
    entry = entry_find(conversation, item_id)
    if entry is None:
        raise NotFound(f"No item found with id {item_id!r} in this conversation.", param="after")
    return entry.seq


def context_tail(conversation: Conversation, *, upto_seq: int, after_seq: int = 0,
                 newest: list[Entry] = ()) -> Iterator[Entry]:
    """The context's entries with after_seq < seq <= upto_seq, newest first, read lazily: ``newest`` (entries the
    caller already holds, e.g. from the hot window: a contiguous newest part, newest first) then context_steps
    from ``TAIL_PAGE`` seqs below them. The consumer stops when it has enough."""
    below = upto_seq + 1
    for entry in newest:
        if after_seq < entry.seq < below:
            yield entry
            below = entry.seq
    yield from context_steps(conversation, upto_seq=upto_seq, size=TAIL_PAGE, after_seq=after_seq, before_seq=below,
                             descending=True)


def context_first_seq(conversation: Conversation) -> int | None:
    """The first seq of a root conversation's context (rows or segments): two index seeks, one round trip.

    Rows start after ``archived_upto_seq`` (archiving deletes every row up to it in the transaction that sets it,
    rehydration resets it to 0 with the rows back): the seek starts there, not across the index entries of the
    rows just archived, which stay until vacuum (~30 ms to step over at 100 000 items).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT LEAST((SELECT min(seq) FROM {Item._meta.db_table} WHERE conversation_id = %s AND seq > %s), "
            f"(SELECT min(first_seq) FROM {ArchiveSegment._meta.db_table} WHERE conversation_id = %s))",
            [conversation.pk, conversation.archived_upto_seq, conversation.pk],
        )
        return cursor.fetchone()[0]
