"""Appending items to a conversation (created if new): one statement, or one transaction with an Idempotency-Key."""

from __future__ import annotations

from cache_app.hot_window import Entry
from convostore import canonical
from convostore.errors import ValidationFailed

from ..models import Conversation, Tenant
from .hot import HotUpdate, apply_hot
from .idempotency import Outcome, idempotent
from .items import PreparedItem, check_item_ids, prepare_items
from .writes import conversation_write


def conversation_append(
    *,
    tenant: Tenant,
    conversation_id: str,
    items,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    metadata: dict | None = None,
    ttl_seconds: int | None = None,
) -> Outcome:
    """Append items to a conversation (created if new): Postgres commits, then the hot window is extended.

    Answers 201 ``{"conversation_id", "version", "items": [{"id", "seq"}, …]}``. Idempotent with
    ``idempotency_key`` (a replay answers the original body); with ``expected_version`` a mismatch is
    409 ``version_conflict``. Without a key the whole append is one Postgres statement.
    """
    canonical.validate_conversation_id(conversation_id)
    prepared = prepare_items(items, encoding=tenant.encoding)
    if not prepared:
        raise ValidationFailed("Send at least one item.", param="items", code="empty_items")
    outcome = idempotent(
        tenant=tenant, scope=conversation_id, key=idempotency_key, request_hash=request_hash,
        run=lambda: _append(tenant, conversation_id, prepared, expected_version, metadata, ttl_seconds),
    )
    apply_hot(outcome.hot)
    return outcome


def _append(tenant: Tenant, conversation_id: str, prepared: list[PreparedItem], expected_version, metadata, ttl_seconds) -> Outcome:
    if any(p.client_id for p in prepared):
        existing = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).only("pk", "lineage").first()
        if existing is not None:
            check_item_ids(existing.path(), prepared)
    written = conversation_write(tenant=tenant, conversation_id=conversation_id, prepared=prepared,
                                 expected_version=expected_version, metadata=metadata, ttl_seconds=ttl_seconds)
    first = written.first_seq(len(prepared))
    entries = [Entry(first + offset, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    body = {
        "conversation_id": conversation_id,
        "version": written.version,
        "items": [{"id": p.item["id"], "seq": e.seq} for p, e in zip(prepared, entries)],
    }
    outcome = Outcome(201, body)
    outcome.hot = [HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=written.version,
                                last_seq=written.last_seq, entries=entries, created_empty=written.created)]
    return outcome
