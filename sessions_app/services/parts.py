"""Shared parts of every conversation write: item preparation, row helpers, and the post-commit Redis step."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from cache_app import hot_window, tokens
from cache_app.hot_window import Entry
from cache_app.redis_client import RedisUnavailable
from convostore.errors import Conflict, ValidationFailed

from .. import canonical
from ..models import Conversation, IdempotencyRecord, InvalidationOutbox, Item, Tenant, Tombstone

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a mutating call answers: status and body, and whether it was a replay."""

    status: int
    body: dict
    replayed: bool = False
    hot: list = field(default_factory=list, repr=False)


@dataclass
class PreparedItem:
    item: dict
    raw: str
    tokens: int
    client_id: bool = False
    size: int = 0  # bytes of ``raw`` as UTF-8, measured once


def prepare_items(items, *, encoding: str, param: str = "items") -> list[PreparedItem]:
    """Validate and canonicalise items before any row is touched (bad input changes nothing)."""
    limit = settings.CONVOSTORE_MAX_ITEMS_PER_APPEND
    if not isinstance(items, list):
        raise ValidationFailed("'items' must be a list of items.", param=param, code="invalid_type")
    if len(items) > limit:
        raise ValidationFailed(f"At most {limit} items per call.", param=param, code="too_many_items")
    prepared, seen = [], set()
    for index, item in enumerate(items):
        where = f"{param}[{index}]"
        client_id = isinstance(item, dict) and item.get("id") is not None
        normalised = canonical.normalise_item(item, where)
        if normalised["id"] in seen:
            raise ValidationFailed("Item ids must be unique.", param=f"{where}.id", code="duplicate_item_id")
        seen.add(normalised["id"])
        raw = canonical.encode_item(normalised, where)
        prepared.append(PreparedItem(
            normalised, raw, tokens.count_item(normalised, encoding=encoding), client_id, len(raw.encode("utf-8"))
        ))
    return prepared


# --- conversation rows ---------------------------------------------------------------------------


def _lock_or_create(*, tenant: Tenant, conversation_id: str, metadata=None, ttl_seconds=None, parent=None, fork_seq=None):
    """INSERT … ON CONFLICT DO NOTHING, then SELECT … FOR UPDATE: two concurrent creators are safe."""
    now = timezone.now()
    lineage = []
    if parent is not None:
        lineage = [[pk, min(upto, fork_seq)] for pk, upto in parent.lineage] + [[parent.pk, fork_seq]]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sessions_app_conversation (tenant_id, conversation_id, version, last_seq, parent_id, fork_seq, "
            "lineage, tier, item_count, byte_count, token_count, archived_upto_seq, metadata, ttl_seconds, created_at, last_active_at, "
            "prefix_fingerprint, apc_fingerprint_changes) "
            "VALUES (%s, %s, 0, %s, %s, %s, %s, 'hot', 0, 0, 0, 0, %s, %s, %s, %s, '', 0) "
            "ON CONFLICT (tenant_id, conversation_id) DO NOTHING RETURNING id",
            [
                tenant.pk,
                conversation_id,
                fork_seq or 0,
                parent.pk if parent else None,
                fork_seq,
                json.dumps(lineage),
                json.dumps(metadata or {}),
                ttl_seconds,
                now,
                now,
            ],
        )
        created = cursor.fetchone() is not None
    if created and Tombstone.objects.filter(tenant=tenant, conversation_id=conversation_id, expires_at__gt=now).exists():
        raise Conflict(
            "This conversation id was deleted recently and cannot be reused yet.", param="conversation_id", code="conversation_deleted"
        )
    conversation = Conversation.objects.select_for_update().get(tenant=tenant, conversation_id=conversation_id)
    return conversation, created


def _replay(*, tenant, scope, key, request_hash):
    if not key:
        return None
    record = IdempotencyRecord.objects.filter(tenant=tenant, scope=scope, key=key, expires_at__gt=timezone.now()).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body.", param="Idempotency-Key", code="idempotency_key_reused"
        )
    return Outcome(record.status_code, json.loads(record.response_body), replayed=True)


def _check_limits(tenant: Tenant, conversation: Conversation, prepared: list[PreparedItem]) -> None:
    if conversation.item_count + len(prepared) > tenant.max_items:
        raise ValidationFailed(f"A conversation may hold at most {tenant.max_items} items.", param="items", code="conversation_full")
    added = sum(p.size for p in prepared)
    if conversation.byte_count + added > tenant.max_bytes:
        raise ValidationFailed(f"A conversation may hold at most {tenant.max_bytes} bytes.", param="items", code="conversation_full")


def _insert_items(conversation: Conversation, prepared: list[PreparedItem], response=None) -> list[Entry]:
    """Rows with the next seqs; bumps version (by exactly one), counters and activity."""
    first = conversation.last_seq + 1
    rows = []
    for offset, p in enumerate(prepared):
        rows.append(
            Item(
                conversation=conversation,
                seq=first + offset,
                item_id=p.item["id"],
                type=p.item["type"],
                role=p.item.get("role") or "",
                raw=p.raw,
                byte_size=p.size,
                token_count=p.tokens,
                response=response,
            )
        )
    if any(p.client_id for p in prepared):
        existing = set(
            Item.objects.filter(conversation__in=[pk for pk, _ in conversation.path()], item_id__in=[r.item_id for r in rows])
            .values_list("item_id", flat=True)
        )
        if existing:
            taken = sorted(existing)[0]
            raise Conflict(f"Item id {taken!r} is already used in this conversation.", param="items", code="item_id_taken")
    if rows:
        Item.objects.bulk_create(rows)
    conversation.last_seq += len(rows)
    conversation.version += 1
    conversation.item_count += len(rows)
    conversation.byte_count += sum(r.byte_size for r in rows)
    conversation.token_count += sum(r.token_count for r in rows)
    conversation.last_active_at = timezone.now()
    if rows:  # an active conversation is hot again: eviction decides when it leaves
        conversation.tier = Conversation.Tier.HOT
    conversation.save(
        update_fields=["last_seq", "version", "item_count", "byte_count", "token_count", "last_active_at", "tier"]
    )
    return [Entry(r.seq, r.token_count, r.raw) for r in rows]


@dataclass
class HotUpdate:
    """The Redis step that follows a committed mutation (every mutation bumps the version by exactly one)."""

    tenant_id: int
    conversation_id: str
    version: int
    last_seq: int
    window_size: int
    entries: list
    created_empty: bool = False
    responses: list = field(default_factory=list)
    tokens_added: int | None = None  # default: the tokens of ``entries``

    def __post_init__(self):
        if self.tokens_added is None:
            self.tokens_added = sum(entry.tokens for entry in self.entries)

    @property
    def previous_version(self) -> int:
        return self.version - 1

    @classmethod
    def of(cls, *, tenant, conversation_id: str, version: int, last_seq: int, entries, created_empty=False, responses=()):
        return cls(tenant.pk, conversation_id, version, last_seq, tenant.window_size, entries, created_empty, list(responses))


def apply_hot(updates: list[HotUpdate]) -> None:
    """After commit: extend hot windows; a Redis failure goes to the outbox, never to the caller."""
    for update in updates:
        try:
            hot_window.window_extend(
                tenant_id=update.tenant_id,
                conversation_id=update.conversation_id,
                previous_version=update.previous_version,
                version=update.version,
                last_seq=update.last_seq,
                tokens_added=update.tokens_added,
                window_size=update.window_size,
                entries=update.entries,
                created_empty=update.created_empty,
                responses=update.responses,
            )
        except RedisUnavailable as exc:
            outbox_record(
                tenant_id=update.tenant_id,
                conversation_id=update.conversation_id,
                response_ids=[r for r, _ in update.responses],
                reason=f"window_extend: {exc}"[:200],
            )


def outbox_record(*, tenant_id: int, conversation_id: str, response_ids=(), reason: str = "") -> None:
    """Remember a conversation whose Redis copy may be stale; the beat sweep drops it."""
    try:
        InvalidationOutbox.objects.create(
            tenant_id_value=tenant_id, conversation_id=conversation_id, response_ids=list(response_ids), reason=reason
        )
    except Exception:  # the write is already acknowledged; the window TTL still bounds staleness
        logger.exception("could not record outbox entry for %s", conversation_id)


def _constraint(exc: IntegrityError) -> str:
    return getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""


def _check_item_ids(path, prepared) -> None:
    """Client-chosen ids must be new in the whole context, archived items included."""
    ids = [p.item["id"] for p in prepared if p.client_id]
    pks = [pk for pk, _ in path]
    taken = Item.objects.filter(conversation__in=pks, item_id__in=ids).values_list("item_id", flat=True).first()
    if not taken and Conversation.objects.filter(pk__in=pks, archived_upto_seq__gt=0).exists():
        from archive_app.selectors import archived_item_ids

        taken = next(iter(sorted(archived_item_ids(pks, ids))), None)
    if taken:
        raise Conflict(f"Item id {taken!r} is already used in this conversation.", param="items", code="item_id_taken")
