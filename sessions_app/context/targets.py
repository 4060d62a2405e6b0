"""Where a context ends and which summary opens it: one query, or Redis alone for a hot root conversation."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db import connection

from archive_app.models import ArchiveSegment, Summary
from cache_app.context_cache import Header, read_with_window
from cache_app.hot_window import Window
from cache_app.redis_client import RedisUnavailable
from convostore.errors import NotFound

from ..models import Conversation, Item, Response
from .assembly import SummaryPart


def summary_lookup(conversation, upto_seq: int, keep: int) -> SummaryPart | None:
    """The latest summary of the conversation's path that leaves at least ``keep`` seqs before ``upto_seq``."""
    limit = upto_seq - keep
    if limit < 1:
        return None
    # Plain SQL: this runs on every context read, and the ORM's query compilation costs more than the query.
    bounds = [(conversation.pk, limit)] + [(pk, min(inherited, limit)) for pk, inherited in conversation.lineage]
    where = " OR ".join(["(conversation_id = %s AND upto_seq <= %s)"] * len(bounds))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT upto_seq, text, token_estimate FROM {Summary._meta.db_table} WHERE {where} ORDER BY upto_seq DESC LIMIT 1",
            [value for bound in bounds for value in bound],
        )
        row = cursor.fetchone()
    return SummaryPart(*row) if row else None



_TARGET_SQL = """
SELECT c.*, {upto} AS ctx_upto, s.upto_seq AS s_upto, s.text AS s_text, s.token_estimate AS s_tokens,
    (SELECT max(upto_seq) FROM {summary} WHERE conversation_id = c.id) AS s_latest,
    LEAST((SELECT min(seq) FROM {item} WHERE conversation_id = c.id AND seq > c.archived_upto_seq),
          (SELECT min(first_seq) FROM {segment} WHERE conversation_id = c.id)) AS first_seq
FROM {source}
LEFT JOIN LATERAL (
    SELECT upto_seq, text, token_estimate FROM {summary}
    WHERE conversation_id = c.id AND upto_seq <= {upto} - %s ORDER BY upto_seq DESC LIMIT 1
) s ON true
WHERE {where}
"""


@dataclass(frozen=True)
class ContextTarget:
    conversation: Conversation
    upto_seq: int
    summary: SummaryPart | None
    response_id: str | None = None
    window: Window | None = None  # the hot window already read (cached path)
    cacheable: bool = False  # a root conversation whose chosen summary is its latest (or it has none)
    seen: Window | None = None  # a window read before the row, shorter than the context: its newest entries
    header: Header | None = None  # the context header read with ``seen`` (rewritten only when it changes)


def context_target(*, tenant, conversation_id: str | None = None, response_id: str | None = None) -> ContextTarget:
    """The conversation (by id, or by a response's id), where its context ends, and its summary: one query.
    The conversation carries ``first_seq``, its own first item's seq (rows or segments; two index seeks).

    Raises NotFound (404) for an unknown id or one of another tenant.
    """
    tables = {"summary": Summary._meta.db_table, "item": Item._meta.db_table, "segment": ArchiveSegment._meta.db_table}
    if response_id is None:
        sql = _TARGET_SQL.format(
            upto="c.last_seq", source=f"{Conversation._meta.db_table} c", where="c.tenant_id = %s AND c.conversation_id = %s", **tables
        )
        params, missing = [tenant.window_size, tenant.pk, conversation_id], ("conversation", conversation_id, "conversation_id")
    else:
        source = f"{Response._meta.db_table} r JOIN {Conversation._meta.db_table} c ON c.id = r.conversation_id"
        sql = _TARGET_SQL.format(upto="r.last_seq", source=source, where="r.tenant_id = %s AND r.response_id = %s", **tables)
        params, missing = [tenant.window_size, tenant.pk, response_id], ("response", response_id, "previous_response_id")
    rows = list(Conversation.objects.raw(sql, params))
    if not rows:
        raise NotFound(f"No {missing[0]} found with id {missing[1]!r}.", param=missing[2])
    row = rows[0]
    if row.lineage:  # a fork may build on an ancestor's summary
        summary = summary_lookup(row, row.ctx_upto, tenant.window_size)
    else:
        summary = SummaryPart(row.s_upto, row.s_text, row.s_tokens) if row.s_upto is not None else None
    cacheable = not row.lineage and (row.s_latest is None or row.s_latest == row.s_upto)
    return ContextTarget(row, row.ctx_upto, summary, response_id, cacheable=cacheable)


def context_target_hot(*, tenant, conversation_id: str, upto_seq: int | None = None,
                       response_id: str | None = None, prefetched: dict | None = None) -> ContextTarget | None:
    """The target from Redis alone (window + context header; ``prefetched``: read with the API key, see
    cache_app.context_cache.context_read_query); when the window is there but shorter than the
    context, the row from Postgres (``context_target``) with that window carried along, so the tail read does not
    read it again; None when Postgres must answer alone.

    Raises NotFound (404) only if the conversation was deleted since its window was read.
    """
    try:
        window, header = read_with_window(tenant_id=tenant.pk, conversation_id=conversation_id, prefetched=prefetched)
    except RedisUnavailable:
        return None
    if window is None or header is None:
        return None
    upto = window.last_seq if upto_seq is None else upto_seq
    if upto > window.last_seq:
        return None
    summary = None
    if header.summary_upto >= 0:
        if header.summary_upto > upto - tenant.window_size:
            return None  # the latest summary is too recent here; an older one may apply: ask Postgres
        summary = SummaryPart(header.summary_upto, header.summary_text, header.summary_tokens)
    if not window.holds(summary.upto_seq if summary else 0, upto):
        found = context_target(tenant=tenant, **({"response_id": response_id} if response_id else {"conversation_id": conversation_id}))
        if found.conversation.conversation_id != conversation_id:
            return found  # a response index older than a move of its response: the window is another's
        return replace(found, seen=window, header=header)
    conversation = Conversation(
        pk=header.pk, tenant_id=tenant.pk, conversation_id=conversation_id, version=window.version,
        last_seq=window.last_seq, lineage=[], prefix_fingerprint=header.fingerprint,
    )
    return ContextTarget(conversation, upto, summary, response_id, window=window, cacheable=True)
