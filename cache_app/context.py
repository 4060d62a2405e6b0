"""Context assembly: frozen instructions, the latest summary, recalled spans, then recent turns within a token budget."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

from . import tokens
from .hot_window import Entry

# Stable delimiters: these strings are part of the bytes a gateway caches; changing
# them changes every prefix fingerprint, so treat them as a format version.
SUMMARY_HEADER = "Summary of the earlier conversation (items 1-{upto}):\n"
RECALL_HEADER = "Recalled from earlier history ({conversation} items {first}-{last}):\n"


@dataclass(frozen=True)
class SummaryPart:
    upto_seq: int
    text: str
    tokens: int = 0  # tokens of summary_message(); 0 = count it now


@dataclass(frozen=True)
class RecalledSpan:
    conversation_id: str
    kind: str
    first_seq: int
    last_seq: int
    excerpt: str
    score: float

    def describe(self) -> dict:
        return {
            "conversation_id": self.conversation_id,
            "kind": self.kind,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "score": round(self.score, 6),
        }


@dataclass
class Assembly:
    """What assembly decided: the message bytes, the fingerprint of the prefix and what was left out."""

    prefix: list[str]  # canonical JSON of each message before the verbatim turns
    verbatim: list[Entry]
    estimated_input_tokens: int
    prefix_fingerprint: str
    truncated: dict
    summary_upto_seq: int | None
    recalled: list[RecalledSpan] = field(default_factory=list)

    def messages_json(self) -> str:
        return "[" + ",".join(self.prefix + [entry.raw for entry in self.verbatim]) + "]"


def normalise_text(text: str) -> str:
    """One line-ending convention (LF), so the same words always give the same bytes."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def dumps(value) -> str:
    """Canonical JSON (sorted keys, no whitespace, UTF-8): the same as sessions_app.canonical.dumps."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def system_message(text: str) -> dict:
    return {"content": normalise_text(text), "role": "system", "type": "message"}


def summary_message(upto_seq: int, text: str) -> dict:
    return system_message(SUMMARY_HEADER.format(upto=upto_seq) + text)


def recalled_message(span: RecalledSpan) -> dict:
    header = RECALL_HEADER.format(conversation=span.conversation_id, first=span.first_seq, last=span.last_seq)
    return system_message(header + span.excerpt)


@lru_cache(maxsize=1024)
def _count_message(text: str, encoding: str) -> int:
    # Process-local memo of a pure function: instructions repeat on every request of a gateway.
    return tokens.count_item(json.loads(text), encoding=encoding)


def message_tokens(message: dict, *, encoding: str) -> int:
    return _count_message(dumps(message), encoding)


def fingerprint(prefix: list[str]) -> str:
    """SHA-256 of the canonical bytes of the messages before the verbatim turns (a JSON array)."""
    return hashlib.sha256(("[" + ",".join(prefix) + "]").encode("utf-8")).hexdigest()


def blocked_cuts(entries: list[Entry]) -> list[bool]:
    """blocked[c] is True when starting the verbatim turns at entries[c] would split a call from its output.

    A ``*_call_output`` whose call is not among ``entries`` (it lies in the summary) blocks every cut
    up to it, so an orphaned output is never sent.
    """
    n = len(entries)
    diff = [0] * (n + 2)
    calls: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if '"call_id"' not in entry.raw:
            continue
        item = json.loads(entry.raw)
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            continue
        if str(item.get("type", "")).endswith("_output"):
            start = calls.get(call_id)
            low = 0 if start is None else start + 1
            diff[low] += 1
            diff[index + 1] -= 1
        else:
            calls.setdefault(call_id, index)
    blocked, running = [], 0
    for c in range(n + 1):
        running += diff[c]
        blocked.append(running > 0)
    return blocked


def verbatim_cut(entries: list[Entry], budget: int, recent_k: int | None = None, blocked: list[bool] | None = None) -> int:
    """The smallest index c such that entries[c:] fits ``budget``, holds at most ``recent_k`` items and splits no pair."""
    n = len(entries)
    blocked = blocked if blocked is not None else blocked_cuts(entries)
    low = max(0, n - recent_k) if recent_k is not None else 0
    best, total = n, 0
    for index in range(n - 1, low - 1, -1):
        total += entries[index].tokens
        if total > budget:
            break
        if not blocked[index]:
            best = index
    return best


def assemble(
    entries: list[Entry],
    *,
    max_tokens: int,
    encoding: str = tokens.DEFAULT_ENCODING,
    instructions: str | None = None,
    summary: SummaryPart | None = None,
    recalled: list[RecalledSpan] = (),
    recent_k: int | None = None,
) -> Assembly:
    """Pure assembly. ``entries`` are the context items after the summary (oldest first, tokens cached).

    Priority when the budget is short: instructions (never cut), the summary, recalled spans (at most
    half of what is left), then the most recent turns. Only instructions may push the estimate past
    ``max_tokens``; then nothing else is sent.
    """
    prefix: list[str] = []
    used = tokens.TOKENS_REPLY_PRIMING
    truncated = {"items": 0, "tokens": 0, "first_seq": None, "last_seq": None, "summary": False, "recalled": 0}
    if instructions:
        message = system_message(instructions)
        prefix.append(dumps(message))
        used += message_tokens(message, encoding=encoding)
    summary_upto = None
    if summary is not None:
        message = summary_message(summary.upto_seq, summary.text)
        cost = summary.tokens or message_tokens(message, encoding=encoding)
        if used + cost <= max_tokens:
            prefix.append(dumps(message))
            used += cost
            summary_upto = summary.upto_seq
        else:
            truncated["summary"] = True
    kept_spans, share = [], max(0, max_tokens - used) // 2
    for span in recalled:
        message = recalled_message(span)
        cost = message_tokens(message, encoding=encoding)
        if cost <= share:
            prefix.append(dumps(message))
            kept_spans.append(span)
            share -= cost
            used += cost
        else:
            truncated["recalled"] += 1
    cut = verbatim_cut(entries, max(0, max_tokens - used), recent_k) if used <= max_tokens else len(entries)
    verbatim, dropped = entries[cut:], entries[:cut]
    if dropped:
        truncated.update(items=len(dropped), tokens=sum(e.tokens for e in dropped), first_seq=dropped[0].seq, last_seq=dropped[-1].seq)
    total = used + sum(entry.tokens for entry in verbatim)
    estimated = total if (prefix or verbatim) else 0
    return Assembly(prefix, verbatim, estimated, fingerprint(prefix), truncated, summary_upto, kept_spans)


def render(
    *, conversation_id: str, response_id: str | None, version: int, assembly: Assembly, with_recall: bool, reindex_pending: bool = False
) -> str:
    """The response body: canonical JSON (sorted keys) with the stored item bytes spliced in unchanged."""
    fields = {
        "conversation_id": dumps(conversation_id),
        "estimated_input_tokens": dumps(assembly.estimated_input_tokens),
        "messages": assembly.messages_json(),
        "prefix_fingerprint": dumps(assembly.prefix_fingerprint),
        "summary_upto_seq": dumps(assembly.summary_upto_seq),
        "truncated": dumps(assembly.truncated),
        "version": dumps(version),
    }
    if response_id is not None:
        fields["response_id"] = dumps(response_id)
    if with_recall:
        fields["recalled"] = dumps([span.describe() for span in assembly.recalled])
        fields["recall_reindex_pending"] = dumps(reindex_pending)
    return "{" + ",".join(f"{dumps(name)}:{fields[name]}" for name in sorted(fields)) + "}"


# --- the read path: entries from the hot window (Postgres when it does not cover), summary, recall ---------


@dataclass(frozen=True)
class ContextRequest:
    max_tokens: int
    recent_k: int | None = None
    instructions: str | None = None
    recall_k: int = 0
    query: str | None = None
    recall_scope: str = "conversation"
    user_key: str = "user"


def summary_lookup(conversation, upto_seq: int, keep: int) -> SummaryPart | None:
    """The latest summary of the conversation's path that leaves at least ``keep`` seqs before ``upto_seq``."""
    from django.db import connection

    from archive_app.models import Summary

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


def entries_after(tenant, conversation, *, upto_seq: int, after_seq: int) -> list[Entry]:
    """Context items with after_seq < seq <= upto_seq: the hot window when it holds them all, else Postgres."""
    from sessions_app import selectors

    from .hot_window import window_read
    from .redis_client import RedisUnavailable

    try:
        window = window_read(tenant_id=tenant.pk, conversation_id=conversation.conversation_id)
        if (
            window is not None
            and window.version == conversation.version
            and upto_seq <= window.last_seq
            and (window.full or (window.entries and window.entries[0].seq <= after_seq + 1))
        ):
            return [entry for entry in window.entries if after_seq < entry.seq <= upto_seq]
    except RedisUnavailable:
        pass
    entries = selectors.context_entries(conversation, upto_seq)
    if upto_seq >= conversation.last_seq:
        selectors.window_refresh(tenant, conversation, entries)
    return [entry for entry in entries if entry.seq > after_seq]


def _recall_spans(tenant, conversation, request: ContextRequest, entries: list[Entry], upto_seq: int, first_free: int) -> list:
    from archive_app.recall import recall

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


_TARGET_SQL = """
SELECT c.*, {upto} AS ctx_upto, s.upto_seq AS s_upto, s.text AS s_text, s.token_estimate AS s_tokens,
    (SELECT max(upto_seq) FROM {summary} WHERE conversation_id = c.id) AS s_latest
FROM {source}
LEFT JOIN LATERAL (
    SELECT upto_seq, text, token_estimate FROM {summary}
    WHERE conversation_id = c.id AND upto_seq <= {upto} - %s ORDER BY upto_seq DESC LIMIT 1
) s ON true
WHERE {where}
"""


@dataclass(frozen=True)
class ContextTarget:
    conversation: object  # sessions_app.models.Conversation
    upto_seq: int
    summary: SummaryPart | None
    response_id: str | None = None
    window: object = None  # the hot window already read (cached path)
    cacheable: bool = False  # a root conversation whose chosen summary is its latest (or it has none)


def context_target(*, tenant, conversation_id: str | None = None, response_id: str | None = None) -> ContextTarget:
    """The conversation (by id, or by a response's id), where its context ends, and its summary: one query.

    Raises NotFound (404) for an unknown id or one of another tenant.
    """
    from archive_app.models import Summary
    from convostore.errors import NotFound
    from sessions_app.models import Conversation, Response

    tables = {"summary": Summary._meta.db_table}
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
                       response_id: str | None = None) -> ContextTarget | None:
    """The target from Redis alone (window + context header), or None when Postgres must answer."""
    from sessions_app.models import Conversation

    from .context_cache import read_with_window
    from .redis_client import RedisUnavailable

    try:
        window, header = read_with_window(tenant_id=tenant.pk, conversation_id=conversation_id)
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
    after = summary.upto_seq if summary else 0
    if not (window.full or (window.entries and window.entries[0].seq <= after + 1)):
        return None
    conversation = Conversation(
        pk=header.pk, tenant_id=tenant.pk, conversation_id=conversation_id, version=window.version,
        last_seq=window.last_seq, lineage=[], prefix_fingerprint=header.fingerprint,
    )
    return ContextTarget(conversation, upto, summary, response_id, window=window, cacheable=True)


def context_build(*, tenant, target: ContextTarget, request: ContextRequest) -> str:
    """The context body for ``target``; remembers the fingerprint handed out (an UPDATE only when it changes)."""
    conversation, upto_seq, summary = target.conversation, target.upto_seq, target.summary
    after_seq = summary.upto_seq if summary else 0
    if target.window is not None:
        entries = [entry for entry in target.window.entries if after_seq < entry.seq <= upto_seq]
    else:
        entries = entries_after(tenant, conversation, upto_seq=upto_seq, after_seq=after_seq)
    parts = dict(
        max_tokens=request.max_tokens,
        encoding=tenant.encoding,
        instructions=request.instructions,
        summary=summary,
        recent_k=request.recent_k,
    )
    recalled, pending = [], False
    if request.recall_k > 0:
        from archive_app.recall import reindex_pending

        # Recall may only bring back what the verbatim turns cannot hold: exclude the widest window first.
        widest = assemble(entries, **parts)
        recalled = _recall_spans(tenant, conversation, request, entries, upto_seq, len(entries) - len(widest.verbatim))
        pending = reindex_pending(tenant_id=tenant.pk)
    assembly = assemble(entries, recalled=recalled, **parts)
    differs = conversation.prefix_fingerprint != assembly.prefix_fingerprint
    fingerprint_remember(conversation, assembly.prefix_fingerprint)
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
    from .context_cache import Header, header_store

    latest = target.summary
    header = Header(
        pk=conversation.pk, fingerprint=conversation.prefix_fingerprint,
        summary_upto=latest.upto_seq if latest else -1, summary_tokens=latest.tokens if latest else 0,
        summary_text=latest.text if latest else "",
    )
    header_store(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, header=header)


def fingerprint_remember(conversation, value: str) -> bool:
    """Store the fingerprint handed out and count a change (a prefix-cache miss); no write when unchanged."""
    from django.db.models import F

    from sessions_app.models import Conversation

    previous = conversation.prefix_fingerprint
    if previous == value:
        return False
    changed = Conversation.objects.filter(pk=conversation.pk, prefix_fingerprint=previous).update(
        prefix_fingerprint=value, apc_fingerprint_changes=F("apc_fingerprint_changes") + (1 if previous else 0)
    )
    conversation.prefix_fingerprint = value
    return bool(changed)
