"""The context answer: entries from the hot window (Postgres when it does not hold them), recall, assembly, fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Count, F, Min, Sum
from django.db.models.functions import Coalesce

from archive_app.selectors import recall, reindex_pending, segment_entries
from cache_app import hot_window
from cache_app.context_cache import Header, header_store
from cache_app.hot_window import Entry
from cache_app.redis_client import RedisUnavailable
from convostore import metrics

from ..models import Conversation, Item
from ..keyset import context_first_seq, context_tail, has_archive
from .assembly import RecalledSpan, Skipped, assemble, render, verbatim_room
from .targets import ContextTarget


@dataclass(frozen=True)
class ContextRequest:
    max_tokens: int
    recent_k: int | None = None
    instructions: str | None = None
    recall_k: int = 0
    query: str | None = None
    recall_scope: str = "conversation"
    user_key: str = "user"


def _recall_spans(tenant, conversation, request: ContextRequest, entries: list[Entry], upto_seq: int, first_free: int) -> list:
    query = request.query or _last_user_text(entries)
    if not query:
        return []
    exclude = [entry.seq for entry in entries[first_free:]]
    found = recall(
        tenant=tenant,
        conversation=conversation,
        query=query,
        k=request.recall_k,
        scope=request.recall_scope,
        exclude_seqs=exclude,
        upto_seq=upto_seq,
        user_key=request.user_key,
    )
    return [RecalledSpan(r.conversation_id, r.kind, r.first_seq, r.last_seq, r.excerpt, r.score) for r in found]


def _last_user_text(entries: list[Entry]) -> str:
    for entry in reversed(entries):
        if '"role":"user"' in entry.raw:
            content = json.loads(entry.raw).get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def context_build(*, tenant, target: ContextTarget, request: ContextRequest) -> str:
    """The context body for ``target``; remembers the fingerprint handed out (an UPDATE only when it changes)."""
    conversation, upto_seq, summary = target.conversation, target.upto_seq, target.summary
    after_seq = summary.upto_seq if summary else 0
    skipped = None
    if target.window is not None:
        entries = [entry for entry in target.window.entries if after_seq < entry.seq <= upto_seq]
    else:
        entries, skipped = _tail_read(tenant, target, request, after_seq)
    parts = dict(
        max_tokens=request.max_tokens,
        encoding=tenant.encoding,
        instructions=request.instructions,
        summary=summary,
        recent_k=request.recent_k,
        skipped=skipped,
    )
    recalled, pending = [], False
    if request.recall_k > 0:
        # Recall may only bring back what the verbatim turns cannot hold: exclude the widest window first.
        widest = assemble(entries, **parts)
        recalled = _recall_spans(tenant, conversation, request, entries, upto_seq, len(entries) - len(widest.verbatim))
        pending = reindex_pending(tenant_id=tenant.pk)
    assembly = assemble(entries, recalled=recalled, **parts)
    differs = conversation.prefix_fingerprint != assembly.prefix_fingerprint
    fingerprint_remember(conversation, assembly.prefix_fingerprint)
    metrics.estimated_input_tokens.observe(assembly.estimated_input_tokens)
    if target.cacheable and (differs or target.window is None):
        _remember_header(tenant, conversation, target)
    return render(
        conversation_id=conversation.conversation_id,
        response_id=target.response_id,
        version=conversation.version,
        assembly=assembly,
        with_recall=request.recall_k > 0,
        reindex_pending=pending,
    )


def _tail_read(tenant, target: ContextTarget, request: ContextRequest, after_seq: int) -> tuple[list[Entry], Skipped | None]:
    """The newest entries of the context, oldest first, read backwards only until assembly's walk would stop
    (more than the verbatim room, more than ``recent_k`` items, and, for recall without a query, a user
    message found), plus what was not read (``Skipped``): O(budget) rows and segments, not O(conversation)."""
    conversation, upto_seq = target.conversation, target.upto_seq
    room = verbatim_room(max_tokens=request.max_tokens, encoding=tenant.encoding, instructions=request.instructions,
                         summary=target.summary)
    need_user = request.recall_k > 0 and not request.query
    newest = _window_newest(tenant, conversation, after_seq, upto_seq, target.seen)
    tail, total = [], 0
    for entry in context_tail(conversation, upto_seq=upto_seq, after_seq=after_seq, newest=newest):
        tail.append(entry)
        total += entry.tokens
        need_user = need_user and not _last_user_text([entry])
        if (total > room or (request.recent_k is not None and len(tail) > request.recent_k)) and not need_user:
            break
    else:
        entries = tail[::-1]
        if after_seq == 0 and upto_seq >= conversation.last_seq:
            hot_window.window_fill(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, version=conversation.version,
                                   last_seq=conversation.last_seq, window_size=tenant.window_size, entries=entries)
        return entries, None
    if not newest:  # a window read whole at this version is already what the refill would write
        _window_keep(tenant, conversation, tail, upto_seq, after_seq)
    return tail[::-1], _skipped(conversation, after_seq, upto_seq, tail)


def _window_newest(tenant, conversation, after_seq: int, upto_seq: int, seen=None) -> list[Entry]:
    """The hot window's entries in (after_seq, upto_seq], newest first, when it is complete at this version
    (``seen``: the window already read in this request, else one read)."""
    try:
        window = seen or hot_window.window_read(tenant_id=tenant.pk, conversation_id=conversation.conversation_id)
    except RedisUnavailable:
        return []
    if window is None or window.version != conversation.version or window.last_seq < upto_seq:
        return []
    return window.between(after_seq, upto_seq)[::-1]


def _window_keep(tenant, conversation, tail: list[Entry], upto_seq: int, after_seq: int) -> None:
    """Refill the window from a tail that ends at the last seq and holds a window's worth (root conversations:
    their context tokens are the row's ``token_count``); only when newer than what Redis holds."""
    if conversation.lineage or upto_seq < conversation.last_seq or len(tail) < tenant.window_size or after_seq:
        return
    try:
        hot_window.window_rebuild(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, version=conversation.version,
                                  last_seq=conversation.last_seq, tokens=conversation.token_count,
                                  window_size=tenant.window_size, entries=tail[::-1], full=False)
    except RedisUnavailable:
        pass


def _skipped(conversation, after_seq: int, upto_seq: int, tail: list[Entry]) -> Skipped:
    """Count, tokens and first seq of the context items in (after_seq, oldest read) without reading them.

    A root conversation's whole context: its row's counters minus what was read, and two index seeks for the
    first seq. Otherwise (a summary, a fork, a response's context) an aggregate over that range: an index
    scan of the rows and the segments in it, O(range) but no item bytes sent to Python for rows.
    """
    oldest = tail[-1].seq
    if not conversation.lineage and after_seq == 0 and upto_seq >= conversation.last_seq:
        first = getattr(conversation, "first_seq", None) or context_first_seq(conversation)
        return Skipped(conversation.item_count - len(tail), conversation.token_count - sum(e.tokens for e in tail), first)
    path = conversation.path()
    rows = Item.objects.for_path(path, oldest - 1).filter(seq__gt=after_seq).order_by()
    found = rows.aggregate(n=Count("pk"), t=Coalesce(Sum("token_count"), 0), f=Min("seq"))
    count, tokens, first = found["n"], found["t"], found["f"]
    if has_archive(conversation):
        archived = segment_entries(path, oldest - 1, after_seq)
        count, tokens = count + len(archived), tokens + sum(e.tokens for e in archived)
        first = min([seq for seq in (first, archived[0].seq if archived else None) if seq is not None], default=None)
    return Skipped(count, tokens, first)


def _remember_header(tenant, conversation, target: ContextTarget) -> None:
    latest = target.summary
    header = Header(
        pk=conversation.pk, fingerprint=conversation.prefix_fingerprint,
        summary_upto=latest.upto_seq if latest else -1, summary_tokens=latest.tokens if latest else 0,
        summary_text=latest.text if latest else "",
    )
    if header != target.header:  # the one read with the window this request is still there and the same
        header_store(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, header=header)


def fingerprint_remember(conversation, value: str) -> bool:
    """Store the fingerprint handed out and count a change (a prefix-cache miss); no write when unchanged."""
    previous = conversation.prefix_fingerprint
    if previous == value:
        return False
    changed = Conversation.objects.filter(pk=conversation.pk, prefix_fingerprint=previous).update(
        prefix_fingerprint=value, apc_fingerprint_changes=F("apc_fingerprint_changes") + (1 if previous else 0)
    )
    conversation.prefix_fingerprint = value
    if changed and previous:
        metrics.apc_fingerprint_changes.inc()
    return bool(changed)
