"""Segments in and out of the codec: pick the tenant's code table, encode items, decode and check a stored segment."""

from __future__ import annotations

import threading
import zlib

from . import codec, payload, storage
from .models import ArchiveSegment, CodeTable

# Code tables are immutable and named by a content-derived id, so a per-process cache is safe.
_tables: dict[int, codec.CodeTable] = {}
_tables_lock = threading.Lock()


def code_table_latest(tenant_id: int) -> CodeTable | None:
    """The tenant's most recently trained code table row, or None (then segments use byte Huffman)."""
    return CodeTable.objects.filter(tenant_id=tenant_id).order_by("-created_at", "-pk").first()


def table_load(*, table_id: int, code_table_pk: int | None = None, row: CodeTable | None = None) -> codec.CodeTable:
    """The codec table with this id, loaded once per process."""
    table = _tables.get(table_id)
    if table is not None:
        return table
    if row is None:
        row = CodeTable.objects.only("payload", "table_id").get(pk=code_table_pk)
    table = codec.load_table(bytes(row.payload))
    if table.table_id != table_id:
        raise codec.ArchiveCorrupt(f"code table row {row.pk} holds table {table.table_id}, not {table_id}")
    with _tables_lock:
        _tables[table_id] = table
    return table


def segment_encode(items: list[payload.ArchivedItem], *, table_row: CodeTable | None) -> dict:
    """Fields of a new ArchiveSegment (minus conversation and payload location) plus ``blob``, the encoded bytes."""
    raw = payload.pack(items)
    table = table_load(table_id=table_row.table_id, row=table_row) if table_row is not None else None
    blob = codec.encode(raw, table=table)
    return {
        "first_seq": items[0].seq,
        "last_seq": items[-1].seq,
        "item_count": len(items),
        "codec": codec.segment_info(blob)["codec"],
        "code_table": table_row,
        "raw_bytes": len(raw),
        "stored_bytes": len(blob),
        "crc32": zlib.crc32(raw),
        "item_ids": [item.item_id for item in items],
        "blob": blob,
    }


def segment_raw(segment: ArchiveSegment, *, table_uid: int | None = None) -> bytes:
    """The raw payload bytes of a segment, decoded and CRC-checked; raises ArchiveCorrupt on any damage."""
    blob = storage.payload_get(segment)
    table = None
    if segment.code_table_id is not None:
        if table_uid is None:
            table_uid = CodeTable.objects.values_list("table_id", flat=True).get(pk=segment.code_table_id)
        table = table_load(table_id=table_uid, code_table_pk=segment.code_table_id)
    raw = codec.decode(blob, table=table)
    if zlib.crc32(raw) != segment.crc32 or len(raw) != segment.raw_bytes:
        raise codec.ArchiveCorrupt(f"segment {segment.pk}: decoded bytes do not match the CRC recorded in its row")
    return raw


def segment_items(segment: ArchiveSegment) -> list[payload.ArchivedItem]:
    """Every archived item of a segment, checked against the row's seq range and count."""
    items = payload.unpack(segment_raw(segment))
    if (
        len(items) != segment.item_count
        or not items
        or items[0].seq != segment.first_seq
        or items[-1].seq != segment.last_seq
    ):
        raise codec.ArchiveCorrupt(f"segment {segment.pk}: items do not match its row's seq range")
    return items


def segment_item_remove(*, conversation_pk: int, tenant_id: int, item_id: str) -> payload.ArchivedItem | None:
    """Remove one archived item by re-encoding the segment that holds it; the item removed, or None.

    Runs in the caller's transaction, which must hold the conversation's row lock; the caller adjusts the
    conversation's counters and version as for any deleted item. A segment left empty is deleted.
    """
    for segment in ArchiveSegment.objects.filter(conversation_id=conversation_pk).order_by("first_seq"):
        items = segment_items(segment)
        gone = next((item for item in items if item.item_id == item_id), None)
        if gone is None:
            continue
        storage.payload_forget(segment)
        kept = [item for item in items if item is not gone]
        if not kept:
            segment.delete()
            return gone
        fields = segment_encode(kept, table_row=segment.code_table)
        blob = fields.pop("blob")
        where = storage.payload_put(tenant_id=tenant_id, conversation_pk=conversation_pk, first_seq=fields["first_seq"], blob=blob)
        for name, value in {**fields, **where}.items():
            setattr(segment, name, value)
        segment.save()
        return gone
    return None
