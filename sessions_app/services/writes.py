"""The one write path for items: a single SQL statement creates or bumps the conversation, inserts the items
(and the response that produced them), CAS and limits included.

The conversation upsert, the optional response row and the item rows are data-modifying CTEs of one
INSERT, so in autocommit the statement is its own transaction (an append without an Idempotency-Key is
one round trip) and inside a caller's transaction it is one step of it. ``INSERT … ON CONFLICT DO UPDATE``
both creates the row and takes its row lock, so a new id and an existing one cost the same. A refusal
(stale ``expected_version``, limits, a tombstoned id, a missing conversation, a fork id already taken)
produces no row and changes nothing; ``explain_refusal`` then reads why and raises the 4xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import IntegrityError
from django.utils import timezone

from archive_app.payload import ArchivedItem
from convostore import metrics
from convostore.errors import Conflict, NotFound, ValidationFailed
from convostore.postgres import prepared_cursor

from ..models import Conversation, Tenant, Tombstone
from .items import PreparedItem, item_id_taken

_CONVERSATION = """
    INSERT INTO sessions_app_conversation AS c (tenant_id, conversation_id, version, last_seq, parent_id, fork_seq, lineage,
        tier, item_count, byte_count, token_count, archived_upto_seq, metadata, ttl_seconds, created_at, last_active_at,
        prefix_fingerprint, apc_fingerprint_changes)
    SELECT %(tenant)s, %(conversation_id)s, %(initial_version)s, %(base_seq)s + %(n)s, %(parent)s, %(fork_seq)s,
        %(lineage)s::jsonb, 'hot', %(n)s, %(bytes)s, %(tokens)s, 0, %(metadata)s::jsonb, %(ttl)s, %(now)s, %(now)s, '', 0
    WHERE NOT EXISTS (
            SELECT 1 FROM sessions_app_tombstone t
            WHERE t.tenant_id = %(tenant)s AND t.conversation_id = %(conversation_id)s AND t.expires_at > %(now)s)
        AND (%(create)s OR EXISTS (
            SELECT 1 FROM sessions_app_conversation e WHERE e.tenant_id = %(tenant)s AND e.conversation_id = %(conversation_id)s))
        AND (%(expected)s::bigint IS NULL OR %(expected)s::bigint = 0 OR EXISTS (
            SELECT 1 FROM sessions_app_conversation e WHERE e.tenant_id = %(tenant)s AND e.conversation_id = %(conversation_id)s))
        AND %(n)s <= %(max_items)s AND %(bytes)s <= %(max_bytes)s
    ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
        version = c.version + 1,
        last_seq = c.last_seq + %(n)s,
        item_count = c.item_count + %(n)s,
        byte_count = c.byte_count + %(bytes)s,
        token_count = c.token_count + %(tokens)s,
        last_active_at = EXCLUDED.last_active_at,
        tier = CASE WHEN %(n)s > 0 THEN 'hot' ELSE c.tier END
    WHERE NOT %(must_create)s
        AND (%(expected)s::bigint IS NULL OR c.version = %(expected)s::bigint)
        AND c.item_count + %(n)s <= %(max_items)s
        AND c.byte_count + %(bytes)s <= %(max_bytes)s
    RETURNING c.id, c.version, c.last_seq, c.lineage, (c.xmax = 0) AS inserted, c.byte_count"""
_RESPONSE = """
    INSERT INTO sessions_app_response (tenant_id, response_id, conversation_id, previous_response_id, input_first_seq,
        output_first_seq, last_seq, model, usage, status, created_at, instructions, metadata, tools, params)
    SELECT %(tenant)s, %(response_id)s, conv.id, %(previous_response_id)s,
        CASE WHEN %(n_input)s > 0 THEN conv.last_seq - %(n)s + 1 END,
        CASE WHEN %(n)s > %(n_input)s THEN conv.last_seq - %(n)s + %(n_input)s + 1 END,
        conv.last_seq, %(model)s, %(usage)s::jsonb, %(status)s, %(now)s, %(instructions)s, %(response_metadata)s::jsonb,
        %(tools)s::jsonb, %(response_params)s::jsonb
    FROM conv
    RETURNING id"""
_ITEMS = """
    INSERT INTO sessions_app_item (conversation_id, seq, item_id, type, role, raw, byte_size, token_count, response_id, created_at)
    SELECT conv.id, conv.last_seq - %(n)s + i.ord, i.item_id, i.type, i.role, i.raw, i.byte_size, i.token_count, {response}, %(now)s
    FROM conv CROSS JOIN unnest(%(item_ids)s::text[], %(types)s::text[], %(roles)s::text[], %(raws)b::text[],
                                %(sizes)s::int[], %(token_counts)s::int[])
        WITH ORDINALITY AS i(item_id, type, role, raw, byte_size, token_count, ord)
    RETURNING 1"""
_WITH_RESPONSE = (
    f"WITH conv AS ({_CONVERSATION}\n), resp AS ({_RESPONSE}\n), items AS ({_ITEMS.format(response='(SELECT id FROM resp)')}\n)\n"
    "SELECT conv.id, conv.version, conv.last_seq, conv.lineage, conv.inserted, (SELECT count(*) FROM items), conv.byte_count FROM conv"
)
_WITHOUT_RESPONSE = (
    f"WITH conv AS ({_CONVERSATION}\n), items AS ({_ITEMS.format(response='NULL')}\n)\n"
    "SELECT conv.id, conv.version, conv.last_seq, conv.lineage, conv.inserted, (SELECT count(*) FROM items), conv.byte_count FROM conv"
)


@dataclass(frozen=True)
class ResponseRow:
    """The stored response an item write produces (its seqs are filled in by the statement)."""

    response_id: str
    previous_response_id: str
    input_count: int  # the first ``input_count`` items are its input, the rest its output
    model: str = ""
    usage: dict | None = None
    status: str = "completed"
    instructions: str | None = None  # the rest is what gateway mode's Responses object echoes
    metadata: dict | None = None
    tools: list | None = None
    params: dict | None = None


@dataclass(frozen=True)
class Written:
    pk: int
    version: int
    last_seq: int
    lineage: list
    created: bool

    def first_seq(self, n: int) -> int:
        """The seq of the first of the ``n`` items just written."""
        return self.last_seq - n + 1


def conversation_write(
    *,
    tenant: Tenant,
    conversation_id: str,
    prepared: list[PreparedItem],
    create: bool = True,
    must_create: bool = False,
    expected_version: int | None = None,
    metadata: dict | None = None,
    ttl_seconds: int | None = None,
    parent: Conversation | None = None,
    fork_seq: int | None = None,
    response: ResponseRow | None = None,
) -> Written:
    """Write ``prepared`` to ``conversation_id`` (created when ``create`` and missing; a fork of ``parent`` at
    ``fork_seq`` when given; only when new with ``must_create``): version + 1, seqs continue from the last.

    Raises 409 ``version_conflict`` / ``conversation_deleted`` / ``conversation_exists`` / ``item_id_taken`` /
    ``response_id_taken``, 400 ``conversation_full``, 404 for a missing conversation without ``create``.
    """
    params = _params(tenant, conversation_id, prepared, create, must_create, expected_version, metadata, ttl_seconds,
                     parent, fork_seq, response)
    for attempt in (1, 2):
        try:
            with prepared_cursor() as cursor:  # parsed and planned once per connection (convostore.postgres)
                cursor.execute(_WITH_RESPONSE if response else _WITHOUT_RESPONSE, params)
                row = cursor.fetchone()
        except IntegrityError as exc:
            raise _constraint_error(exc, response) from None
        if row is not None:
            pk, version, last_seq, lineage, created, inserted, byte_count = row
            assert inserted == len(prepared), "items and conversation row must move together"
            metrics.session_size_bytes.observe(byte_count)
            return Written(pk, version, last_seq, json.loads(lineage) if isinstance(lineage, str) else lineage, created)
        explain_refusal(tenant=tenant, conversation_id=conversation_id, expected_version=expected_version, n=len(prepared),
                        added_bytes=params["bytes"], create=create, must_create=must_create)
    raise Conflict("The conversation changed concurrently; retry.", param="conversation_id", code="conflict")


def _params(tenant, conversation_id, prepared, create, must_create, expected_version, metadata, ttl_seconds, parent,
            fork_seq, response) -> dict:
    lineage = parent.fork_lineage(fork_seq) if parent is not None else []
    params = {
        "tenant": tenant.pk, "conversation_id": conversation_id, "n": len(prepared),
        "bytes": sum(p.size for p in prepared), "tokens": sum(p.tokens for p in prepared),
        "initial_version": 1 if prepared or response else 0, "base_seq": fork_seq or 0,
        "parent": parent.pk if parent is not None else None, "fork_seq": fork_seq, "lineage": json.dumps(lineage),
        "metadata": json.dumps(metadata or {}), "ttl": ttl_seconds, "now": timezone.now(), "expected": expected_version,
        "create": create, "must_create": must_create, "max_items": tenant.max_items, "max_bytes": tenant.max_bytes,
        "item_ids": [p.item["id"] for p in prepared], "types": [p.item["type"] for p in prepared],
        "roles": [p.item.get("role") or "" for p in prepared], "raws": [p.raw for p in prepared],
        "sizes": [p.size for p in prepared], "token_counts": [p.tokens for p in prepared],
    }
    if response is not None:
        params.update(response_id=response.response_id, previous_response_id=response.previous_response_id,
                      n_input=response.input_count, model=response.model, status=response.status,
                      usage=None if response.usage is None else json.dumps(response.usage),
                      instructions=response.instructions, response_metadata=json.dumps(response.metadata or {}),
                      tools=json.dumps(response.tools or []), response_params=json.dumps(response.params or {}))
    return params


def response_id_taken(response_id: str) -> Conflict:
    return Conflict(f"Response id {response_id!r} is already taken.", param="response_id", code="response_id_taken")


def _constraint_error(exc: IntegrityError, response: ResponseRow | None) -> Exception:
    constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
    if constraint == "item_id_unique":
        return item_id_taken(param="input" if response else "items")
    if constraint == "response_id_unique_per_tenant" and response is not None:
        return response_id_taken(response.response_id)
    return exc


def version_conflict(expected: int, current: int) -> Conflict:
    metrics.append_conflicts.inc()
    return Conflict(
        f"Expected version {expected} but the conversation is at version {current}.",
        param="expected_version",
        code="version_conflict",
        extra={"current_version": current},
    )


def conversation_deleted() -> Conflict:
    return Conflict("This conversation id was deleted recently and cannot be reused yet.", param="conversation_id",
                    code="conversation_deleted")


def explain_refusal(*, tenant: Tenant, conversation_id: str, expected_version: int | None, n: int = 0, added_bytes: int = 0,
                    create: bool = True, must_create: bool = False) -> None:
    """Raise the 4xx for a write that changed nothing; returns only if nothing explains it (a race: retry)."""
    current = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).values(
        "version", "item_count", "byte_count").first()
    if current is None:
        if Tombstone.objects.filter(tenant=tenant, conversation_id=conversation_id, expires_at__gt=timezone.now()).exists():
            raise conversation_deleted()
        if not create:
            raise NotFound(f"No conversation found with id {conversation_id!r}.", param="conversation_id")
        if expected_version not in (None, 0):
            raise version_conflict(expected_version, 0)
        current = {"version": 0, "item_count": 0, "byte_count": 0}
    elif must_create:
        raise Conflict(f"Conversation {conversation_id!r} already exists.", param="conversation_id", code="conversation_exists")
    elif expected_version is not None and current["version"] != expected_version:
        raise version_conflict(expected_version, current["version"])
    if current["item_count"] + n > tenant.max_items or current["byte_count"] + added_bytes > tenant.max_bytes:
        raise ValidationFailed(
            f"A conversation may hold at most {tenant.max_items} items and {tenant.max_bytes} bytes.",
            param="items", code="conversation_full",
        )


def items_restore(*, conversation_pk: int, items: list[ArchivedItem]) -> None:
    """Insert rows exactly as they were (seq, ids, response pk, created_at): rehydrating segments, importing an export.

    No counters or version change: the caller restores those. A model save would stamp created_at with now.
    """
    if not items:
        return
    columns = [
        [conversation_pk] * len(items),
        [i.seq for i in items],
        [i.item_id for i in items],
        [i.type for i in items],
        [i.role for i in items],
        [i.raw for i in items],
        [i.byte_size for i in items],
        [i.token_count for i in items],
        [i.response_id for i in items],
        [i.created_at for i in items],
    ]
    with prepared_cursor() as cursor:  # the raw bodies go in binary (%b): no per-character array quoting
        cursor.execute(
            "INSERT INTO sessions_app_item (conversation_id, seq, item_id, type, role, raw, byte_size, token_count, "
            "response_id, created_at) SELECT c, s, i, t, r, w, b, k, "
            "(SELECT id FROM sessions_app_response WHERE id = p), a FROM unnest("
            "%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %b::text[], %s::int[], %s::int[], "
            "%s::bigint[], %s::timestamptz[]) AS u(c, s, i, t, r, w, b, k, p, a)",
            columns,
        )
