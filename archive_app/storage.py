"""Where segment payloads live: the row's bytea by default, a Django Storage backend when configured."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

logger = logging.getLogger(__name__)


def storage_alias() -> str:
    """The STORAGES alias named by CONVOSTORE["SEGMENT_STORAGE"]; empty means bytea in the segment row."""
    return settings.CONVOSTORE.get("SEGMENT_STORAGE", "") or ""


def _backend(alias: str):
    from django.core.files.storage import storages

    return storages[alias]


def payload_put(*, tenant_id: int, conversation_pk: int, first_seq: int, blob: bytes) -> dict:
    """Fields for a new ArchiveSegment holding ``blob``: ``payload`` (bytea) or ``storage_name``.

    With a Storage backend the blob is written before the segment row commits: a crash in between leaves
    an orphaned object (harmless, never a missing one).
    """
    alias = storage_alias()
    if not alias:
        return {"payload": blob, "storage_name": ""}
    name = f"segments/t{tenant_id}/c{conversation_pk}/{first_seq}-{uuid.uuid4().hex}.csar"
    saved = _backend(alias).save(name, ContentFile(blob))
    return {"payload": None, "storage_name": saved}


def payload_get(segment) -> bytes:
    """The encoded bytes of a segment, wherever they live."""
    if not segment.storage_name:
        return bytes(segment.payload or b"")
    with _backend(storage_alias()).open(segment.storage_name, "rb") as handle:
        return handle.read()


def payload_forget(segment) -> None:
    """Drop a segment's stored object once the transaction deleting its row commits (no-op for bytea)."""
    name = segment.storage_name
    if not name:
        return
    alias = storage_alias()

    def delete():
        try:
            _backend(alias).delete(name)
        except Exception:  # an orphaned object costs space, never correctness
            logger.exception("could not delete segment object %s", name)

    transaction.on_commit(delete)


def names_delete(names: list[str]) -> None:
    """Delete stored objects whose segment rows are already gone (a purge that cascaded)."""
    alias = storage_alias()
    for name in names if alias else []:
        try:
            _backend(alias).delete(name)
        except Exception:
            logger.exception("could not delete segment object %s", name)
