"""Idempotency-Key: a replayable answer per (tenant, scope, key), for appends and stored responses alike.

The record is written in the same transaction as the mutation it answers for, so either both commit or
neither does. A concurrent request with the same key that commits first wins; the loser rolls back
whole and replays the winner's answer (or 409 when its body differs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from convostore import canonical
from convostore.errors import Conflict
from convostore.postgres import prepared_cursor

from ..models import IdempotencyRecord, Tenant


@dataclass
class Outcome:
    """What a mutating call answers: status and body, whether it was a replay, and the Redis work after commit."""

    status: int
    body: dict
    replayed: bool = False
    hot: list = field(default_factory=list, repr=False)


class IdempotencyRace(Exception):
    """Another request committed the same Idempotency-Key first; the caller rolls back and replays it."""


def idempotency_replay(*, tenant: Tenant, scope: str, key: str, request_hash: str) -> Outcome | None:
    """The recorded answer for the key (``replayed=True``), None when there is none; 409 when the body differs."""
    record = IdempotencyRecord.objects.filter(tenant=tenant, scope=scope, key=key, expires_at__gt=timezone.now()).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body.", param="Idempotency-Key", code="idempotency_key_reused"
        )
    return Outcome(record.status_code, json.loads(record.response_body), replayed=True)


_REMEMBER = """
INSERT INTO sessions_app_idempotencyrecord AS r (tenant_id, scope, key, request_hash, status_code, response_body, created_at, expires_at)
VALUES (%(tenant)s, %(scope)s, %(key)s, %(hash)s, %(status)s, %(body)s, %(now)s, %(expires)s)
ON CONFLICT (tenant_id, scope, key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code, response_body = EXCLUDED.response_body,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE r.expires_at <= %(now)s
RETURNING r.id
"""


def idempotency_remember(*, tenant: Tenant, scope: str, key: str, request_hash: str, outcome: Outcome) -> None:
    """Record ``outcome`` under the key (replacing an expired record); a live one raises IdempotencyRace."""
    now = timezone.now()
    params = {"tenant": tenant.pk, "scope": scope, "key": key, "hash": request_hash, "status": outcome.status,
              "body": canonical.dumps(outcome.body), "now": now,
              "expires": now + timedelta(seconds=settings.CONVOSTORE["IDEMPOTENCY_TTL_SECONDS"])}
    with prepared_cursor() as cursor:
        cursor.execute(_REMEMBER, params)
        if cursor.fetchone() is None:
            raise IdempotencyRace(key)


def idempotent(*, tenant: Tenant, scope: str, key: str | None, request_hash: str, run: Callable[[], Outcome]) -> Outcome:
    """``run()`` at most once per key: without a key it simply runs; with one, the replay check, ``run`` and the
    record are one transaction, and a concurrent winner's answer is replayed."""
    if not key:
        return run()
    try:
        with transaction.atomic():
            replay = idempotency_replay(tenant=tenant, scope=scope, key=key, request_hash=request_hash)
            if replay is not None:
                return replay
            outcome = run()
            idempotency_remember(tenant=tenant, scope=scope, key=key, request_hash=request_hash, outcome=outcome)
            return outcome
    except (IdempotencyRace, Conflict):
        # Rolled back whole. A same-key request that committed meanwhile explains any conflict: replay it.
        replay = idempotency_replay(tenant=tenant, scope=scope, key=key, request_hash=request_hash)
        if replay is None:
            raise
        return replay
