"""Archiving: Item rows → segments under the conversation's row lock, one transaction per call (hot/warm → cold)."""

from __future__ import annotations

import logging
from collections import defaultdict

from celery import current_app
from django.conf import settings
from django.db import connection, transaction

from archive_app import storage
from archive_app.models import ArchiveSegment, LifecycleEvent
from archive_app.payload import ArchivedItem
from archive_app.segments import code_table_latest, segment_encode
from cache_app import eviction
from cache_app.redis_client import RedisUnavailable

from ..models import Conversation, Item, Tenant
from ..services.hot import outbox_record
from . import selectors

logger = logging.getLogger(__name__)
ITEM_TABLE, CONVERSATION_TABLE = Item._meta.db_table, Conversation._meta.db_table
ITEM_FIELDS = ("seq", "item_id", "type", "role", "byte_size", "token_count", "response_id", "created_at", "raw")


def _segment_limits() -> tuple[int, int]:
    return settings.CONVOSTORE.get("SEGMENT_MAX_ITEMS", 1024), settings.CONVOSTORE.get("SEGMENT_MAX_BYTES", 4 * 1024 * 1024)


def _chunks(items: list[ArchivedItem]) -> list[list[ArchivedItem]]:
    max_items, max_bytes = _segment_limits()
    chunks, current, size = [], [], 0
    for item in items:
        if current and (len(current) >= max_items or size + item.byte_size > max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += item.byte_size
    if current:
        chunks.append(current)
    return chunks


def summary_enqueue(conversation_pks: list[int]) -> None:
    """Ask for the conversations' summaries by task name (decoupled); the summarise sweep covers a lost message."""
    try:
        with current_app.producer_or_acquire() as producer:
            for pk in conversation_pks:
                current_app.send_task("convostore.summarise_conversation", args=[pk], producer=producer)
    except Exception:  # the archive is committed; a missing summary is rediscovered by its sweep
        logger.warning("could not enqueue summaries of conversations %s", conversation_pks[:10], exc_info=True)


def conversation_archive(*, conversation: Conversation, keep_window: bool = True) -> ArchiveSegment | None:
    """Pack a conversation's own Item rows into archive segments; returns the last segment written, or None.

    A hot conversation with ``keep_window`` archives only items older than its tenant's window, and only once
    ARCHIVE_MIN_ITEMS of them have accumulated (tier stays hot). An evicted (warm) conversation, or any with
    ``keep_window=False``, archives every row and becomes cold. Segment inserts, the row delete, the
    ``archived_upto_seq`` update and the LifecycleEvent are one transaction under the conversation's row lock,
    so a kill at any line loses and duplicates nothing and a rerun does only what is left.
    """
    with transaction.atomic():
        locked = list(Conversation.objects.select_for_update().filter(pk=conversation.pk))
        written = _archive_locked(locked, keep_window=keep_window)
    if locked:
        conversation.archived_upto_seq, conversation.tier = locked[0].archived_upto_seq, locked[0].tier
    segments = written.get(conversation.pk, [])
    return segments[-1] if segments else None


def conversations_archive(*, conversation_pks: list[int], keep_window: bool = True) -> int:
    """conversation_archive for a batch in one transaction (the sweep's fast path); rows locked by others are skipped.

    Returns how many conversations got new segments.
    """
    with transaction.atomic():
        locked = list(Conversation.objects.select_for_update(skip_locked=True).filter(pk__in=conversation_pks).order_by("pk"))
        return len(_archive_locked(locked, keep_window=keep_window))


def _plan(conversation: Conversation, window_size: int, keep_window: bool) -> tuple[int, bool] | None:
    """(archive rows up to this seq, archive everything?) or None when a hot conversation has too little to archive."""
    full = not keep_window or conversation.tier != Conversation.Tier.HOT
    if full:
        return conversation.last_seq, True
    upto = conversation.last_seq - window_size
    if upto - max(conversation.archived_upto_seq, conversation.fork_seq or 0) < selectors.archive_min_items():
        return None
    return upto, False


def _archive_locked(locked: list[Conversation], *, keep_window: bool) -> dict[int, list[ArchiveSegment]]:
    """The archive itself, for conversations whose rows the caller's transaction has locked."""
    windows = dict(Tenant.objects.filter(pk__in={c.tenant_id for c in locked}).values_list("pk", "window_size"))
    plans = {c.pk: plan for c in locked if (plan := _plan(c, windows[c.tenant_id], keep_window))}
    if not plans:
        return {}
    cids, uptos = list(plans), [upto for upto, _ in plans.values()]
    items = _rows_read(cids, uptos)
    segments = _segments_create([c for c in locked if c.pk in items], items)
    changed = []
    for c in locked:
        if c.pk not in plans:
            continue
        upto, full = plans[c.pk]
        c.archived_upto_seq = max(c.archived_upto_seq, upto)
        if full and (c.pk in segments or c.tier == Conversation.Tier.WARM):
            c.tier = Conversation.Tier.COLD
        changed.append(c)
    _rows_retire(cids, uptos, sum(map(len, items.values())), changed)
    _events(locked, items, segments)
    cold = [(c.tenant_id, c.conversation_id) for c in changed if c.tier == Conversation.Tier.COLD]
    if segments or cold:
        transaction.on_commit(lambda: _after_commit(cold, list(segments)))
    return segments


def _after_commit(cold: list[tuple[int, str]], archived_pks: list[int]) -> None:
    if cold:
        windows_forget(cold)
    if archived_pks:
        summary_enqueue(archived_pks)


def windows_forget(members: list[tuple[int, str]]) -> None:
    """Cold means out of Redis: drop the windows of conversations archived whole (a rehydrate or a read may have
    rebuilt one), so the tier the admin shows is where reads are served from. Redis away: the outbox drops them later.
    """
    try:
        eviction.windows_drop_many(members)
    except RedisUnavailable:
        for tenant_id, conversation_id in members:
            outbox_record(tenant_id=tenant_id, conversation_id=conversation_id, reason="archived: window not dropped")


def _rows_read(cids: list[int], uptos: list[int]) -> dict[int, list[ArchivedItem]]:
    """Item rows up to each conversation's seq, as ArchivedItems (every column, so rehydrate restores them exactly)."""
    items: dict[int, list[ArchivedItem]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.conversation_id, {', '.join('i.' + f for f in ITEM_FIELDS)} FROM {ITEM_TABLE} i "
            f"JOIN unnest(%s::bigint[], %s::bigint[]) AS p(cid, upto) ON i.conversation_id = p.cid AND i.seq <= p.upto "
            f"ORDER BY i.conversation_id, i.seq",
            [cids, uptos],
        )
        for row in cursor.fetchall():
            items[row[0]].append(ArchivedItem(*row[1:-1], raw=row[-1]))
    return items


def _rows_retire(cids: list[int], uptos: list[int], expected: int, changed: list[Conversation]) -> None:
    """Delete the archived rows (exactly ``expected`` of them, else roll back) and record archived_upto_seq and tier."""
    with connection.cursor() as cursor:
        if expected:
            cursor.execute(
                f"DELETE FROM {ITEM_TABLE} i USING unnest(%s::bigint[], %s::bigint[]) AS p(cid, upto) "
                "WHERE i.conversation_id = p.cid AND i.seq <= p.upto",
                [cids, uptos],
            )
            if cursor.rowcount != expected:
                raise RuntimeError("item rows changed under the conversation lock")  # rolls the archive back
        cursor.execute(
            f"UPDATE {CONVERSATION_TABLE} c SET archived_upto_seq = v.upto, tier = v.tier "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS v(id, upto, tier) WHERE c.id = v.id",
            [[c.pk for c in changed], [c.archived_upto_seq for c in changed], [c.tier for c in changed]],
        )


def _segments_create(conversations: list[Conversation], items: dict[int, list[ArchivedItem]]) -> dict[int, list[ArchiveSegment]]:
    tables = {tenant_id: code_table_latest(tenant_id) for tenant_id in {c.tenant_id for c in conversations}}
    pending = []
    for c in conversations:
        for chunk in _chunks(items[c.pk]):
            fields = segment_encode(chunk, table_row=tables[c.tenant_id])
            blob = fields.pop("blob")
            where = storage.payload_put(tenant_id=c.tenant_id, conversation_pk=c.pk, first_seq=fields["first_seq"], blob=blob)
            pending.append(ArchiveSegment(conversation=c, **fields, **where))
    created: dict[int, list[ArchiveSegment]] = defaultdict(list)
    for segment in ArchiveSegment.objects.bulk_create(pending):
        created[segment.conversation_id].append(segment)
    return dict(created)


def _events(locked: list[Conversation], items: dict, segments: dict) -> None:
    """One LifecycleEvent per tenant, in the archive's own transaction (so reruns never double-count)."""
    per_tenant: dict[int, list[int]] = defaultdict(list)
    for c in locked:
        if c.pk in segments:
            per_tenant[c.tenant_id].append(c.pk)
    events = LifecycleEvent.objects.bulk_create(
        LifecycleEvent(
            kind=LifecycleEvent.Kind.ARCHIVE,
            tenant_id=tenant_id,
            conversations=len(pks),
            items=sum(len(items[pk]) for pk in pks),
            raw_bytes=sum(s.raw_bytes for pk in pks for s in segments[pk]),
            stored_bytes=sum(s.stored_bytes for pk in pks for s in segments[pk]),
        )
        for tenant_id, pks in per_tenant.items()
    )
    for event in events:  # bulk_create sends no post_save: count them here
        event.metrics_count()
