"""Operator services over the archive: verify every segment, per-codec statistics, code-table training, purge."""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db.models import Count, Sum
from django.utils import timezone

from archive_app import codec, storage
from archive_app.models import ArchiveSegment, CodeTable, LifecycleEvent
from archive_app.segments import segment_items
from convostore.errors import NotFound, ValidationFailed

from ..models import Conversation, Item, Tenant
from ..services import conversation_delete
from . import selectors

logger = logging.getLogger(__name__)
CODEC_NAMES = {codec.CODEC_BYTE_HUFFMAN: "byte-huffman", codec.CODEC_TOKEN_HUFFMAN: "token-huffman"}
TRAIN_MAX_ITEMS = 5000
TRAIN_MAX_BYTES = 8 * 1024 * 1024


def segments_verify(*, conversations=None, progress=None) -> dict:
    """Decode every segment (of ``conversations`` when given), check CRCs and seq ranges.

    Returns ``{"checked", "ok", "corrupt", "corrupt_ids", "items", "errors"}``; ``errors`` maps a corrupt
    segment id to the reason. Never raises for a damaged segment: it is counted and listed.
    """
    queryset = ArchiveSegment.objects.order_by("pk")
    if conversations is not None:
        queryset = queryset.filter(conversation__in=conversations)
    pks = list(queryset.values_list("pk", flat=True))
    report = {"checked": 0, "ok": 0, "corrupt": 0, "corrupt_ids": [], "items": 0, "errors": {}}
    for pk in progress(pks) if progress else pks:
        segment = ArchiveSegment.objects.filter(pk=pk).first()
        if segment is None:  # deleted (rehydrated, purged) since the list was taken
            continue
        report["checked"] += 1
        try:
            report["items"] += len(segment_items(segment))
            report["ok"] += 1
        except Exception as exc:  # ArchiveCorrupt, or a storage backend that lost the object
            report["corrupt"] += 1
            report["corrupt_ids"].append(pk)
            report["errors"][pk] = str(exc)
            logger.error("segment %s is corrupt: %s", pk, exc)
    return report


def archive_stats() -> list[dict]:
    """Per codec: segments, items, raw vs stored bytes and ratio (stored / raw; lower is better)."""
    rows = (
        ArchiveSegment.objects.values("codec")
        .annotate(segments=Count("pk"), items=Sum("item_count"), raw_bytes=Sum("raw_bytes"), stored_bytes=Sum("stored_bytes"))
        .order_by("codec")
    )
    return [
        {
            "codec": row["codec"],
            "codec_name": CODEC_NAMES.get(row["codec"], str(row["codec"])),
            "segments": row["segments"],
            "items": row["items"] or 0,
            "raw_bytes": row["raw_bytes"] or 0,
            "stored_bytes": row["stored_bytes"] or 0,
            "ratio": round((row["stored_bytes"] or 0) / row["raw_bytes"], 4) if row["raw_bytes"] else 0.0,
        }
        for row in rows
    ]


def _training_samples(tenant: Tenant) -> list[bytes]:
    samples, size = [], 0
    raws = Item.objects.filter(conversation__tenant=tenant).order_by("-pk").values_list("raw", flat=True)[:TRAIN_MAX_ITEMS]
    for raw in raws:
        samples.append(raw.encode("utf-8"))
        size += len(samples[-1])
        if size >= TRAIN_MAX_BYTES:
            return samples
    for segment in ArchiveSegment.objects.filter(conversation__tenant=tenant).order_by("-pk")[:200]:
        if len(samples) >= TRAIN_MAX_ITEMS or size >= TRAIN_MAX_BYTES:
            break
        try:
            for item in segment_items(segment):
                samples.append(item.raw.encode("utf-8"))
                size += len(samples[-1])
        except codec.ArchiveCorrupt:
            continue
    return samples


def code_table_train(*, tenant: Tenant) -> CodeTable:
    """Train a token-Huffman code table on the tenant's recent items (rows, then archived ones) and store it.

    New segments of the tenant use it from then on; older segments keep naming the table they were coded with.
    Raises ValidationFailed (``no_samples``) when the tenant has no text yet.
    """
    samples = _training_samples(tenant)
    if not samples:
        raise ValidationFailed("This tenant has no items to train a code table on.", param="tenant", code="no_samples")
    table = codec.train_table(samples, encoding=tenant.encoding)
    row, _ = CodeTable.objects.get_or_create(
        table_id=table.table_id,
        defaults={"tenant": tenant, "encoding": table.encoding, "payload": table.to_bytes(), "sample_bytes": sum(map(len, samples))},
    )
    return row


def purge_expired(*, now=None, progress=None) -> int:
    """Delete conversations past their ttl_seconds or their tenant's retention (rows, forks, segments, Redis).

    Goes through sessions_app's conversation_delete, so Redis keys and tombstones follow. Returns conversations deleted.
    ``progress(n)`` is called after each expired conversation (with the forks deleted along with it).
    """
    now = now or timezone.now()
    deleted: dict[int, int] = defaultdict(int)
    for conversation in list(selectors.expired_conversations(now)[:1000]):
        names = _stored_objects(conversation)
        try:
            ids = conversation_delete(tenant=conversation.tenant, conversation_id=conversation.conversation_id)
        except NotFound:  # went with an expired ancestor earlier in this run
            continue
        deleted[conversation.tenant_id] += len(ids)
        storage.names_delete(names)
        if progress:
            progress(len(ids))
    for tenant_id, count in deleted.items():
        LifecycleEvent.objects.create(kind=LifecycleEvent.Kind.PURGE, tenant_id=tenant_id, conversations=count)
    return sum(deleted.values())


def _stored_objects(conversation: Conversation) -> list[str]:
    """Storage-backend names of the segments of a conversation and its forks (bytea segments need nothing)."""
    if not storage.storage_alias():
        return []
    pks, frontier = [conversation.pk], [conversation.pk]
    while frontier:
        frontier = list(Conversation.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        pks.extend(frontier)
    return list(ArchiveSegment.objects.filter(conversation_id__in=pks).exclude(storage_name="").values_list("storage_name", flat=True))
