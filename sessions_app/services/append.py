"""Appending items: validation, one Postgres statement (or a transaction with an Idempotency-Key), then the hot window."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from cache_app.hot_window import Entry
from convostore.errors import Conflict, ValidationFailed

from .. import canonical
from ..models import Conversation, Item, Tenant
from .fast_append import append_statement
from .parts import (
    HotUpdate,
    Outcome,
    _check_item_ids,
    _constraint,
    _replay,
    apply_hot,
    prepare_items,
)
from .upsert import IdempotencyRace, conversation_bump, explain_refusal, idempotency_remember


# --- append --------------------------------------------------------------------------------------


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

    Idempotent with ``idempotency_key``; with ``expected_version`` a mismatch is 409 ``version_conflict``.
    """
    canonical.validate_conversation_id(conversation_id)
    prepared = prepare_items(items, encoding=tenant.encoding)
    if not prepared:
        raise ValidationFailed("Send at least one item.", param="items", code="empty_items")
    if not idempotency_key:
        outcome = _append_fast(
            tenant=tenant, conversation_id=conversation_id, prepared=prepared, expected_version=expected_version,
            metadata=metadata, ttl_seconds=ttl_seconds,
        )
        apply_hot(outcome.hot)
        return outcome
    try:
        outcome = _append_tx(
            tenant=tenant,
            conversation_id=conversation_id,
            prepared=prepared,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            metadata=metadata,
            ttl_seconds=ttl_seconds,
        )
    except IdempotencyRace:
        # A concurrent request with the same key won; everything here was rolled back.
        outcome = _replay(tenant=tenant, scope=conversation_id, key=idempotency_key, request_hash=request_hash)
    except IntegrityError as exc:
        if _constraint(exc) == "item_id_unique":
            raise Conflict("An item id is already used in this conversation.", param="items", code="item_id_taken") from None
        raise
    apply_hot(outcome.hot)
    return outcome


def _append_fast(*, tenant, conversation_id, prepared, expected_version, metadata, ttl_seconds, retried=False) -> Outcome:
    """No Idempotency-Key: the whole append is one statement (one Postgres round trip, atomic by itself)."""
    added_bytes = sum(p.size for p in prepared)
    if len(prepared) > tenant.max_items or added_bytes > tenant.max_bytes:
        raise ValidationFailed("The items exceed this tenant's per-conversation limits.", param="items", code="conversation_full")
    if any(p.client_id for p in prepared):
        existing = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).first()
        if existing is not None:
            _check_item_ids(existing.path(), prepared)
    try:
        row = append_statement(
            tenant=tenant, conversation_id=conversation_id, prepared=prepared,
            expected_version=expected_version, metadata=metadata, ttl_seconds=ttl_seconds,
        )
    except IntegrityError as exc:
        if _constraint(exc) == "item_id_unique":
            raise Conflict("An item id is already used in this conversation.", param="items", code="item_id_taken") from None
        raise
    if row is None:
        explain_refusal(tenant=tenant, conversation_id=conversation_id, expected_version=expected_version,
                        n=len(prepared), added_bytes=added_bytes)
        if retried:
            raise Conflict("The conversation changed concurrently; retry.", param="conversation_id", code="conflict")
        return _append_fast(tenant=tenant, conversation_id=conversation_id, prepared=prepared,
                            expected_version=expected_version, metadata=metadata, ttl_seconds=ttl_seconds, retried=True)
    pk, version, last_seq, created = row
    first = last_seq - len(prepared) + 1
    entries = [Entry(first + offset, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    body = {
        "conversation_id": conversation_id,
        "version": version,
        "items": [{"id": p.item["id"], "seq": e.seq} for p, e in zip(prepared, entries)],
    }
    outcome = Outcome(201, body)
    outcome.hot = [HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=version, last_seq=last_seq,
                                entries=entries, created_empty=created)]
    return outcome


@transaction.atomic
def _append_tx(*, tenant, conversation_id, prepared, expected_version, idempotency_key, request_hash, metadata, ttl_seconds):
    """One transaction: (replay check), create-or-bump the row (locks it), insert the items, (remember the answer)."""
    replay = _replay(tenant=tenant, scope=conversation_id, key=idempotency_key, request_hash=request_hash)
    if replay is not None:
        return replay
    row = conversation_bump(
        tenant=tenant,
        conversation_id=conversation_id,
        n=len(prepared),
        added_bytes=sum(p.size for p in prepared),
        added_tokens=sum(p.tokens for p in prepared),
        expected_version=expected_version,
        metadata=metadata,
        ttl_seconds=ttl_seconds,
    )
    if any(p.client_id for p in prepared):
        _check_item_ids(row.path(), prepared)
    first = row.previous_last_seq + 1
    Item.objects.bulk_create(
        [
            Item(conversation_id=row.pk, seq=first + offset, item_id=p.item["id"], type=p.item["type"],
                 role=p.item.get("role") or "", raw=p.raw, byte_size=p.size, token_count=p.tokens)
            for offset, p in enumerate(prepared)
        ]
    )
    entries = [Entry(first + offset, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    body = {
        "conversation_id": conversation_id,
        "version": row.version,
        "items": [{"id": p.item["id"], "seq": e.seq} for p, e in zip(prepared, entries)],
    }
    outcome = Outcome(201, body)
    if idempotency_key:
        idempotency_remember(
            tenant=tenant, scope=conversation_id, key=idempotency_key, request_hash=request_hash, status=201,
            body=canonical.dumps(body), ttl_seconds=settings.CONVOSTORE["IDEMPOTENCY_TTL_SECONDS"],
        )
    outcome.hot = [HotUpdate.of(tenant=tenant, conversation_id=conversation_id, version=row.version,
                                last_seq=entries[-1].seq, entries=entries, created_empty=row.created)]
    return outcome
