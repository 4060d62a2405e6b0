"""An append without an Idempotency-Key in one statement: one round trip to Postgres, atomic on its own.

The conversation upsert (create, or lock + CAS + limits + bump) and the item rows are data-modifying
CTEs of a single INSERT, so in autocommit the statement is its own transaction: either everything is
written or nothing is. A refusal (stale expected_version, limits, a tombstoned id) simply produces
no row and the caller explains it with a read; nothing was changed.
"""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from ..models import Tenant
from .upsert import BUMP_ON_CONFLICT, CONVERSATION_COLUMNS, NEW_CONVERSATION_VALUES

_APPEND = f"""
WITH conv AS (
    INSERT INTO sessions_app_conversation AS c ({CONVERSATION_COLUMNS})
    SELECT {NEW_CONVERSATION_VALUES}
    WHERE NOT EXISTS (
            SELECT 1 FROM sessions_app_tombstone t
            WHERE t.tenant_id = %(tenant)s AND t.conversation_id = %(conversation_id)s AND t.expires_at > %(now)s)
        AND (%(expected)s::bigint IS NULL OR %(expected)s::bigint = 0 OR EXISTS (
            SELECT 1 FROM sessions_app_conversation e
            WHERE e.tenant_id = %(tenant)s AND e.conversation_id = %(conversation_id)s))
    {BUMP_ON_CONFLICT}
    RETURNING c.id, c.version, c.last_seq, (c.xmax = 0) AS inserted
), items AS (
    INSERT INTO sessions_app_item (conversation_id, seq, item_id, type, role, raw, byte_size, token_count, response_id, created_at)
    SELECT conv.id, conv.last_seq - %(n)s + i.ord, i.item_id, i.type, i.role, i.raw, i.byte_size, i.token_count, NULL, %(now)s
    FROM conv CROSS JOIN unnest(%(item_ids)s::text[], %(types)s::text[], %(roles)s::text[], %(raws)s::text[],
                                %(sizes)s::int[], %(token_counts)s::int[])
        WITH ORDINALITY AS i(item_id, type, role, raw, byte_size, token_count, ord)
    RETURNING 1
)
SELECT conv.id, conv.version, conv.last_seq, conv.inserted, (SELECT count(*) FROM items) FROM conv
"""


def append_statement(*, tenant: Tenant, conversation_id: str, prepared, expected_version, metadata, ttl_seconds):
    """Run the one-statement append; (pk, version, last_seq, created) or None when refused (nothing written)."""
    params = {
        "tenant": tenant.pk,
        "conversation_id": conversation_id,
        "n": len(prepared),
        "bytes": sum(p.size for p in prepared),
        "tokens": sum(p.tokens for p in prepared),
        "metadata": json.dumps(metadata or {}),
        "ttl": ttl_seconds,
        "now": timezone.now(),
        "expected": expected_version,
        "max_items": tenant.max_items,
        "max_bytes": tenant.max_bytes,
        "item_ids": [p.item["id"] for p in prepared],
        "types": [p.item["type"] for p in prepared],
        "roles": [p.item.get("role") or "" for p in prepared],
        "raws": [p.raw for p in prepared],
        "sizes": [p.size for p in prepared],
        "token_counts": [p.tokens for p in prepared],
    }
    with connection.cursor() as cursor:
        cursor.execute(_APPEND, params)
        row = cursor.fetchone()
    if row is None:
        return None
    pk, version, last_seq, created, inserted_items = row
    assert inserted_items == len(prepared), "items and conversation row must move together"
    return pk, version, last_seq, created
