"""Upstream token usage per tenant, API key and UTC day, and the daily quota checked before any upstream call."""

from __future__ import annotations

import datetime
import os
import threading

from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from convostore import metrics
from convostore.errors import ApplicationError

from ..models import Tenant, TokenUsage


class QuotaExceeded(ApplicationError):
    """429 ``insufficient_quota`` (the SDK raises RateLimitError), as OpenAI answers a spent quota."""

    status_code = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


_ADD = f"""
INSERT INTO {TokenUsage._meta.db_table} AS u (tenant_id, api_key_id, day, shard, input_tokens, output_tokens, calls)
VALUES (%s, %s, %s, %s, %s, %s, 1)
ON CONFLICT ON CONSTRAINT token_usage_unique DO UPDATE SET
    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    calls = u.calls + 1
"""


SHARDS = 16


def shard() -> int:
    """This worker's counter row: one per process and thread, so two workers never queue on one row lock
    (a single row per tenant and day would serialise every gateway commit of that tenant)."""
    return hash((os.getpid(), threading.get_ident())) % SHARDS


def today(now=None) -> datetime.date:
    return (now or timezone.now()).astimezone(datetime.timezone.utc).date()


def usage_record(*, tenant: Tenant, api_key_id: int | None, usage: dict | None, now=None) -> None:
    """Add one upstream answer's ``usage`` (Responses shape) to today's counters: one upsert, also for store: false."""
    usage = usage or {}
    spent_in, spent_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    with connection.cursor() as cursor:
        cursor.execute(_ADD, [tenant.pk, api_key_id, today(now), shard(), spent_in, spent_out])
    label = str(api_key_id or "none")
    metrics.gateway_tokens.labels(api_key=label, kind="input").inc(spent_in)
    metrics.gateway_tokens.labels(api_key=label, kind="output").inc(spent_out)


def tokens_today(*, tenant: Tenant, now=None) -> int:
    spent = TokenUsage.objects.filter(tenant=tenant, day=today(now)).aggregate(total=Sum(F("input_tokens") + F("output_tokens")))
    return spent["total"] or 0


def quota_check(*, tenant: Tenant, now=None) -> None:
    """Raise QuotaExceeded once today's input + output tokens reach Tenant.daily_token_quota (no query without a quota)."""
    quota = tenant.daily_token_quota
    if quota is None:
        return
    spent = tokens_today(tenant=tenant, now=now)
    if spent >= quota:
        raise QuotaExceeded(
            f"This tenant's daily token quota ({quota}) is spent ({spent} tokens today, UTC); it resets at midnight UTC."
        )
