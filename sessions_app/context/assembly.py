"""Context assembly, pure: frozen instructions, the latest summary, recalled spans, then recent turns within a token budget.

No I/O here: sessions_app.context.reads gathers the entries, the summary and recalled spans and calls ``assemble``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

from cache_app.hot_window import Entry
from convostore import canonical, tokens

from .groups import blocked_cuts

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


@dataclass(frozen=True)
class Skipped:
    """Context items older than the entries assembly was given, never read because the budget was full before
    them (they cannot be sent): how many, their tokens and the first one's seq, for ``truncated``."""

    items: int
    tokens: int
    first_seq: int | None


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
    return _count_message(canonical.dumps(message), encoding)


def fingerprint(prefix: list[str]) -> str:
    """SHA-256 of the canonical bytes of the messages before the verbatim turns (a JSON array)."""
    return hashlib.sha256(("[" + ",".join(prefix) + "]").encode("utf-8")).hexdigest()


def verbatim_cut(entries: list[Entry], budget: int, recent_k: int | None = None, blocked: list[bool] | None = None) -> int:
    """The smallest index c such that entries[c:] fits ``budget``, holds at most ``recent_k`` items and splits no
    group of items the OpenAI API requires together (sessions_app.context.groups)."""
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


def _fixed_prefix(instructions, summary, max_tokens: int, encoding: str, truncated: dict) -> tuple[list[str], int, int | None]:
    """(prefix messages, tokens used, summary upto seq or None): instructions (never cut), then the summary if it fits."""
    prefix: list[str] = []
    used = tokens.TOKENS_REPLY_PRIMING
    if instructions:
        message = system_message(instructions)
        prefix.append(canonical.dumps(message))
        used += message_tokens(message, encoding=encoding)
    summary_upto = None
    if summary is not None:
        cost = summary.tokens or message_tokens(summary_message(summary.upto_seq, summary.text), encoding=encoding)
        if used + cost <= max_tokens:
            prefix.append(canonical.dumps(summary_message(summary.upto_seq, summary.text)))
            used, summary_upto = used + cost, summary.upto_seq
        else:
            truncated["summary"] = True
    return prefix, used, summary_upto


def verbatim_room(*, max_tokens: int, encoding: str = tokens.DEFAULT_ENCODING, instructions: str | None = None,
                  summary: SummaryPart | None = None) -> int:
    """Tokens the verbatim turns may use before recall takes its share (recall only narrows it): a reader of the
    newest entries can stop once it holds more than this (see ``assemble``'s ``skipped``)."""
    _, used, _ = _fixed_prefix(instructions, summary, max_tokens, encoding, {})
    return max(0, max_tokens - used)


def assemble(
    entries: list[Entry],
    *,
    max_tokens: int,
    encoding: str = tokens.DEFAULT_ENCODING,
    instructions: str | None = None,
    summary: SummaryPart | None = None,
    recalled: list[RecalledSpan] = (),
    recent_k: int | None = None,
    skipped: Skipped | None = None,
) -> Assembly:
    """Pure assembly. ``entries`` are the context items after the summary (oldest first, tokens cached).

    Priority when the budget is short: instructions (never cut), the summary, recalled spans (at most
    half of what is left), then the most recent turns. Only instructions may push the estimate past
    ``max_tokens``; then nothing else is sent.

    ``skipped`` describes older context items the caller did not read: it may leave them out only when the
    entries it passes go back past the point where the newest-first walk stops (more than
    ``verbatim_room`` tokens, or more than ``recent_k`` items), so the cut is the same as over every item.
    """
    truncated = {"items": 0, "tokens": 0, "first_seq": None, "last_seq": None, "summary": False, "recalled": 0}
    prefix, used, summary_upto = _fixed_prefix(instructions, summary, max_tokens, encoding, truncated)
    kept_spans, spent = _recalled_prefix(recalled, max(0, max_tokens - used) // 2, encoding, prefix)
    used += spent
    truncated["recalled"] = len(recalled) - len(kept_spans)
    cut = verbatim_cut(entries, max(0, max_tokens - used), recent_k) if used <= max_tokens else len(entries)
    verbatim = entries[cut:]
    truncated.update(_dropped(entries[:cut], skipped))
    total = used + sum(entry.tokens for entry in verbatim)
    estimated = total if (prefix or verbatim) else 0
    return Assembly(prefix, verbatim, estimated, fingerprint(prefix), truncated, summary_upto, kept_spans)


def _dropped(dropped: list[Entry], skipped: Skipped | None = None) -> dict:
    """The ``truncated`` fields describing the items left out (``skipped`` ones are older than ``dropped``)."""
    if skipped is not None and skipped.items:
        return {"items": skipped.items + len(dropped), "tokens": skipped.tokens + sum(e.tokens for e in dropped),
                "first_seq": skipped.first_seq, "last_seq": dropped[-1].seq}
    if not dropped:
        return {}
    return {"items": len(dropped), "tokens": sum(e.tokens for e in dropped), "first_seq": dropped[0].seq, "last_seq": dropped[-1].seq}


def _recalled_prefix(recalled, share: int, encoding: str, prefix: list[str]) -> tuple[list[RecalledSpan], int]:
    """Append the recalled spans that fit ``share`` tokens to ``prefix``; (spans kept, tokens spent)."""
    kept, spent = [], 0
    for span in recalled:
        message = recalled_message(span)
        cost = message_tokens(message, encoding=encoding)
        if spent + cost <= share:
            prefix.append(canonical.dumps(message))
            kept.append(span)
            spent += cost
    return kept, spent


def render(
    *, conversation_id: str, response_id: str | None, version: int, assembly: Assembly, with_recall: bool, reindex_pending: bool = False
) -> str:
    """The response body: canonical JSON (sorted keys) with the stored item bytes spliced in unchanged."""
    fields = {
        "conversation_id": canonical.dumps(conversation_id),
        "estimated_input_tokens": canonical.dumps(assembly.estimated_input_tokens),
        "messages": assembly.messages_json(),
        "prefix_fingerprint": canonical.dumps(assembly.prefix_fingerprint),
        "summary_upto_seq": canonical.dumps(assembly.summary_upto_seq),
        "truncated": canonical.dumps(assembly.truncated),
        "version": canonical.dumps(version),
    }
    if response_id is not None:
        fields["response_id"] = canonical.dumps(response_id)
    if with_recall:
        fields["recalled"] = canonical.dumps([span.describe() for span in assembly.recalled])
        fields["recall_reindex_pending"] = canonical.dumps(reindex_pending)
    return "{" + ",".join(f"{canonical.dumps(name)}:{fields[name]}" for name in sorted(fields)) + "}"
