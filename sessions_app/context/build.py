"""The context answer: entries from the hot window (Postgres when it does not hold them), recall, assembly, fingerprint."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import F

from archive_app.selectors import recall, reindex_pending
from cache_app.context_cache import Header, header_store
from cache_app.hot_window import Entry
from convostore import metrics

from ..models import Conversation
from ..selectors import window_load
from .assembly import RecalledSpan, assemble, render
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
    if target.window is not None:
        entries = [entry for entry in target.window.entries if after_seq < entry.seq <= upto_seq]
    else:
        entries = window_load(tenant, conversation, upto_seq=upto_seq, after_seq=after_seq)
    parts = dict(
        max_tokens=request.max_tokens,
        encoding=tenant.encoding,
        instructions=request.instructions,
        summary=summary,
        recent_k=request.recent_k,
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


def _remember_header(tenant, conversation, target: ContextTarget) -> None:
    latest = target.summary
    header = Header(
        pk=conversation.pk, fingerprint=conversation.prefix_fingerprint,
        summary_upto=latest.upto_seq if latest else -1, summary_tokens=latest.tokens if latest else 0,
        summary_text=latest.text if latest else "",
    )
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
