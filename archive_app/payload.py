"""The raw bytes a segment encodes: a columnar JSON header of item fields, then each item's canonical JSON, one per line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from .codec import ArchiveCorrupt

MAGIC = b"CSSEG1\n"
COLUMNS = ("seq", "item_id", "type", "role", "byte_size", "token_count", "response", "created_us")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ArchivedItem:
    """Everything an Item row holds, so rehydrating restores it exactly."""

    seq: int
    item_id: str
    type: str
    role: str
    byte_size: int
    token_count: int
    response_id: int | None  # Response pk
    created_at: datetime
    raw: str


def to_micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    seconds, micros = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=micros)


def pack(items: list[ArchivedItem]) -> bytes:
    """The raw segment bytes: MAGIC, one line of JSON columns, then the items' canonical JSON joined by newlines.

    Canonical JSON never holds a raw newline (JSON escapes it), so the newline is an unambiguous separator;
    byte_size is checked as well on unpack.
    """
    header = {
        "n": len(items),
        "seq": [item.seq for item in items],
        "item_id": [item.item_id for item in items],
        "type": [item.type for item in items],
        "role": [item.role for item in items],
        "byte_size": [item.byte_size for item in items],
        "token_count": [item.token_count for item in items],
        "response": [item.response_id for item in items],
        "created_us": [to_micros(item.created_at) for item in items],
    }
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body = "\n".join(item.raw for item in items).encode("utf-8")
    return MAGIC + head + b"\n" + body


def _split(data: bytes) -> tuple[dict, list[str]]:
    if not data.startswith(MAGIC):
        raise ArchiveCorrupt("segment payload has an unknown layout (bad payload magic)")
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end])
    n = header["n"]
    raws = data[end + 1 :].decode("utf-8").split("\n") if n else []
    if len(raws) != n or any(len(header[column]) != n for column in COLUMNS):
        raise ArchiveCorrupt("segment payload item count does not match its header")
    return header, raws


def unpack_entries(data: bytes) -> list[tuple[int, int, str]]:
    """(seq, token count, raw) per item: the fast path for reads."""
    try:
        header, raws = _split(data)
        return list(zip(header["seq"], header["token_count"], raws))
    except ArchiveCorrupt:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveCorrupt(f"segment payload is malformed ({type(exc).__name__})") from None


def unpack(data: bytes) -> list[ArchivedItem]:
    """Every item with all its row fields; checks each item's byte size."""
    try:
        header, raws = _split(data)
        items = []
        for index, raw in enumerate(raws):
            item = ArchivedItem(
                seq=header["seq"][index],
                item_id=header["item_id"][index],
                type=header["type"][index],
                role=header["role"][index],
                byte_size=header["byte_size"][index],
                token_count=header["token_count"][index],
                response_id=header["response"][index],
                created_at=from_micros(header["created_us"][index]),
                raw=raw,
            )
            if len(raw.encode("utf-8")) != item.byte_size:
                raise ArchiveCorrupt(f"archived item {item.item_id} has the wrong byte size")
            items.append(item)
        return items
    except ArchiveCorrupt:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ArchiveCorrupt(f"segment payload is malformed ({type(exc).__name__})") from None
