"""The append hot path in one locking statement: create-or-bump the conversation row, CAS and limits included."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from convostore.errors import Conflict, ValidationFailed

from ..models import Conversation, Tenant, Tombstone

# INSERT … ON CONFLICT DO UPDATE both creates the row and takes its row lock, so a new id and an
# existing one cost the same single round trip; the WHERE clause refuses a stale expected_version
# or a conversation over its limits without changing anything (no row comes back).
# Shared by the keyed append (below) and the one-statement append (fast_append.py).
CONVERSATION_COLUMNS = """tenant_id, conversation_id, version, last_seq, parent_id, fork_seq, lineage, tier, item_count,
    byte_count, token_count, archived_upto_seq, metadata, ttl_seconds, created_at, last_active_at, prefix_fingerprint,
    apc_fingerprint_changes"""
NEW_CONVERSATION_VALUES = """%(tenant)s, %(conversation_id)s, 1, %(n)s, NULL, NULL, '[]'::jsonb, 'hot', %(n)s,
    %(bytes)s, %(tokens)s, 0, %(metadata)s::jsonb, %(ttl)s, %(now)s, %(now)s, '', 0"""
BUMP_ON_CONFLICT = """ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
    version = c.version + 1,
    last_seq = c.last_seq + %(n)s,
    item_count = c.item_count + %(n)s,
    byte_count = c.byte_count + %(bytes)s,
    token_count = c.token_count + %(tokens)s,
    last_active_at = EXCLUDED.last_active_at,
    tier = 'hot'
WHERE (%(expected)s::bigint IS NULL OR c.version = %(expected)s::bigint)
    AND c.item_count + %(n)s <= %(max_items)s
    AND c.byte_count + %(bytes)s <= %(max_bytes)s"""

_UPSERT = f"""
INSERT INTO sessions_app_conversation AS c ({CONVERSATION_COLUMNS})
VALUES ({NEW_CONVERSATION_VALUES})
{BUMP_ON_CONFLICT}
RETURNING c.id, c.version, c.last_seq, c.lineage, (c.xmax = 0) AS inserted
"""


@dataclass
class BumpedRow:
    pk: int
    version: int
    previous_last_seq: int
    lineage: list
    created: bool

    def path(self) -> list:
        return [(pk, upto) for pk, upto in self.lineage] + [(self.pk, None)]


def conversation_bump(*, tenant: Tenant, conversation_id: str, n: int, added_bytes: int, added_tokens: int,
                      expected_version: int | None, metadata=None, ttl_seconds=None) -> BumpedRow:
    """Create or lock-and-bump a conversation for an append of ``n`` items; raises the 409/400 the caller answers.

    Must run inside a transaction: the row stays locked until commit.
    """
    if n + 0 > tenant.max_items or added_bytes > tenant.max_bytes:
        raise ValidationFailed("The items exceed this tenant's per-conversation limits.", param="items", code="conversation_full")
    params = {
        "tenant": tenant.pk, "conversation_id": conversation_id, "n": n, "bytes": added_bytes, "tokens": added_tokens,
        "metadata": json.dumps(metadata or {}), "ttl": ttl_seconds, "now": timezone.now(), "expected": expected_version,
        "max_items": tenant.max_items, "max_bytes": tenant.max_bytes,
    }
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, params)
        row = cursor.fetchone()
    if row is None:
        explain_refusal(tenant=tenant, conversation_id=conversation_id, expected_version=expected_version, n=n,
                        added_bytes=added_bytes)
        raise Conflict("The conversation changed concurrently; retry.", param="conversation_id", code="conflict")
    pk, version, last_seq, lineage, created = row
    if isinstance(lineage, str):
        lineage = json.loads(lineage)
    if created:
        if expected_version not in (None, 0):
            raise _version_conflict(expected_version, 0)
        if Tombstone.objects.filter(tenant=tenant, conversation_id=conversation_id, expires_at__gt=params["now"]).exists():
            raise Conflict("This conversation id was deleted recently and cannot be reused yet.",
                           param="conversation_id", code="conversation_deleted")
    return BumpedRow(pk, version, last_seq - n, lineage, created)


def _version_conflict(expected: int, current: int) -> Conflict:
    from convostore import metrics

    metrics.append_conflicts.inc()
    return Conflict(
        f"Expected version {expected} but the conversation is at version {current}.",
        param="expected_version",
        code="version_conflict",
        extra={"current_version": current},
    )


def explain_refusal(*, tenant: Tenant, conversation_id: str, expected_version: int | None, n: int = 0, added_bytes: int = 0) -> None:
    """Raise the 409/400 for an append that changed nothing; returns only if nothing explains it (a race: retry)."""
    current = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).values(
        "version", "item_count", "byte_count").first()
    if current is None:
        if Tombstone.objects.filter(tenant=tenant, conversation_id=conversation_id, expires_at__gt=timezone.now()).exists():
            raise Conflict("This conversation id was deleted recently and cannot be reused yet.",
                           param="conversation_id", code="conversation_deleted")
        if expected_version not in (None, 0):
            raise _version_conflict(expected_version, 0)
        return
    if expected_version is not None and current["version"] != expected_version:
        raise _version_conflict(expected_version, current["version"])
    if current["item_count"] + n > tenant.max_items or current["byte_count"] + added_bytes > tenant.max_bytes:
        raise ValidationFailed(
            f"A conversation may hold at most {tenant.max_items} items and {tenant.max_bytes} bytes.",
            param="items", code="conversation_full",
        )


_REMEMBER = """
INSERT INTO sessions_app_idempotencyrecord AS r (tenant_id, scope, key, request_hash, status_code, response_body, created_at, expires_at)
VALUES (%(tenant)s, %(scope)s, %(key)s, %(hash)s, %(status)s, %(body)s, %(now)s, %(expires)s)
ON CONFLICT (tenant_id, scope, key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE r.expires_at <= %(now)s
RETURNING r.id
"""


class IdempotencyRace(Exception):
    """Another request committed the same Idempotency-Key first; the caller rolls back and replays it."""


def idempotency_remember(*, tenant: Tenant, scope: str, key: str, request_hash: str, status: int, body: str, ttl_seconds: int) -> None:
    """Record the answer under the key (replacing an expired record); a live one raises IdempotencyRace."""
    from datetime import timedelta

    now = timezone.now()
    params = {"tenant": tenant.pk, "scope": scope, "key": key, "hash": request_hash, "status": status, "body": body,
              "now": now, "expires": now + timedelta(seconds=ttl_seconds)}
    with connection.cursor() as cursor:
        cursor.execute(_REMEMBER, params)
        if cursor.fetchone() is None:
            raise IdempotencyRace(key)
