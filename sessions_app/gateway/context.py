"""The context sent upstream: the history of previous_response_id or conversation, plus the new input, within the route's window.

Token estimates are ConvoStore's (docs/context.md: 3 per message plus the tokens of its text, 3 for the reply).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from archive_app.selectors import recall as recall_query
from cache_app.hot_window import Entry
from convostore import canonical, tokens
from convostore.errors import NotFound, ValidationFailed

from .. import models, selectors
from ..context import assembly
from ..context.groups import blocked_cuts
from ..context.targets import context_target

RECALL_INTRO = "Recalled from earlier history:\n"


@dataclass
class Context:
    items: list[dict]  # what the upstream reads, oldest first: [summary], [recalled], history, new input
    estimated_input_tokens: int
    prefix_fingerprint: str  # SHA-256 of the messages before the verbatim turns (instructions, summary, recalled)
    budget: int  # the route's context window minus max_output_tokens
    truncated: dict | None = None  # what truncation "auto" left out, None when nothing
    recalled: list = field(default_factory=list)
    conversation: object = None  # the conversation row, when it was read


def too_long(estimated: int, budget: int) -> ValidationFailed:
    return ValidationFailed(
        f"The context needs about {estimated} tokens but this model allows {budget} (its context window minus "
        "max_output_tokens). Send truncation='auto' to let ConvoStore trim it, or start a new conversation.",
        param="input", code="context_length_exceeded",
    )


def context_build(*, tenant, request, route, prepared_input, recall: dict | None = None) -> Context:
    """The context for one create, or a 400 ``context_length_exceeded`` before any upstream call.

    With ``truncation: "disabled"`` the whole history is sent or nothing is; with ``"auto"`` an over-long
    history becomes the conversation's latest summary plus the newest turns that fit, never splitting a group.
    ``recall`` (the ``convostore.recall`` extension) adds one developer message of recalled memories.
    """
    budget = route.context_window - (request.max_output_tokens or 0)
    prefix = [canonical.dumps(assembly.system_message(request.instructions))] if request.instructions else []
    fixed = tokens.TOKENS_REPLY_PRIMING + sum(p.tokens for p in prepared_input)
    if request.instructions:
        fixed += assembly.message_tokens(assembly.system_message(request.instructions), encoding=tenant.encoding)
    if request.tools:
        fixed += tokens.count_text(canonical.dumps(request.tools), encoding=tenant.encoding)
    if fixed > budget:
        raise too_long(fixed, budget)
    history_json, history_tokens, conversation = _history(tenant, request)
    if fixed + history_tokens <= budget and not recall:
        items = (json.loads("[" + history_json + "]") if history_json else []) + [p.item for p in prepared_input]
        return Context(items, fixed + history_tokens, assembly.fingerprint(prefix), budget, conversation=conversation)
    if fixed + history_tokens > budget and request.truncation != "auto":
        raise too_long(fixed + history_tokens, budget)
    return _assembled(tenant, request, prepared_input, budget, fixed, prefix, over=fixed + history_tokens > budget,
                      recall=recall, conversation=conversation)


def _history(tenant, request) -> tuple[str, int, object]:
    """(stored item bytes joined by ",", their tokens, the conversation row when read)."""
    if request.previous_response_id:
        resolved = selectors.response_resolve(tenant=tenant, response_id=request.previous_response_id)
        return resolved.items_json, resolved.item_tokens, None
    if request.conversation_id:
        conversation = _conversation(tenant, request.conversation_id)
        entries = selectors.window_load(tenant, conversation)
        return ",".join(e.raw for e in entries), sum(e.tokens for e in entries), conversation
    return "", 0, None


def _conversation(tenant, conversation_id: str):
    try:
        return selectors.conversation_get(tenant=tenant, conversation_id=conversation_id)
    except NotFound as exc:
        raise NotFound(exc.message, param="conversation") from None


def _assembled(tenant, request, prepared_input, budget, fixed, prefix, *, over: bool, recall, conversation) -> Context:
    """Summary + newest turns (when ``over``) and recalled memories, by the rules of docs/context.md."""
    # long: the summary, the verbatim cut and the recalled memories share one running budget, in this order
    summary, entries, upto, conversation = None, [], 0, conversation
    if request.previous_response_id or request.conversation_id:
        target = context_target(tenant=tenant, conversation_id=request.conversation_id,
                                         response_id=request.previous_response_id)
        conversation, upto = target.conversation, target.upto_seq
        summary = target.summary if over else None
        entries = selectors.window_load(tenant, conversation, upto_seq=upto, after_seq=summary.upto_seq if summary else 0)
    truncated = {"items": 0, "tokens": 0, "first_seq": None, "last_seq": None, "summary": False}
    head, available = list(prefix), budget - fixed
    sent: list[dict] = []
    if summary is not None:
        message = assembly.summary_message(summary.upto_seq, summary.text)
        cost = summary.tokens or assembly.message_tokens(message, encoding=tenant.encoding)
        if cost <= available:
            head.append(canonical.dumps(message))
            sent.append(message)
            available -= cost
        else:
            truncated["summary"] = True
    inputs = [Entry(upto + 1 + i, p.tokens, p.raw) for i, p in enumerate(prepared_input)]
    combined = entries + inputs
    blocked = blocked_cuts(combined)
    budget_items = available + sum(p.tokens for p in prepared_input)
    cut = assembly.verbatim_cut(combined, budget_items, blocked=blocked) if over else 0
    spans, message = _recall(tenant, conversation, request, recall, entries[cut:], upto,
                             share=(available - sum(e.tokens for e in entries[cut:])) // 2 if not over else available // 2)
    if message is not None:
        cost = assembly.message_tokens(message, encoding=tenant.encoding)
        head.append(canonical.dumps(message))
        sent.append(message)
        if over:
            cut = assembly.verbatim_cut(combined, budget_items - cost, blocked=blocked)
        available -= cost
    if cut > len(entries):
        raise too_long(fixed + sum(e.tokens for e in combined[:cut]), budget)
    dropped, kept = entries[:cut], entries[cut:]
    if dropped:
        truncated.update(items=len(dropped), tokens=sum(e.tokens for e in dropped), first_seq=dropped[0].seq, last_seq=dropped[-1].seq)
    estimated = (budget - available) + sum(e.tokens for e in kept)
    items = sent + [json.loads(e.raw) for e in kept] + [p.item for p in prepared_input]
    return Context(items, estimated, assembly.fingerprint(head), budget,
                   truncated if (dropped or truncated["summary"] or summary) else None, spans, conversation)


def _recall(tenant, conversation, request, recall: dict | None, kept: list[Entry], upto: int, share: int):
    """(recalled spans used, one developer message or None): spans not already in the context, best first, within ``share``."""
    if not recall:
        return [], None
    query = _last_user_text(request.input_items)
    if conversation is None:  # a new conversation: only the user and tenant scopes can find anything
        conversation = models.Conversation(tenant=tenant, lineage=[], metadata={})
    if recall.get("user"):
        key = recall.get("user_key") or "user"
        conversation = _with_user(conversation, key, recall["user"])
    found = recall_query(
        tenant=tenant, conversation=conversation, query=query, k=recall["k"], scope=recall.get("scope") or "conversation",
        exclude_seqs=[e.seq for e in kept], upto_seq=upto or None, user_key=recall.get("user_key") or "user",
        gate=None if recall.get("gate") else False,
    )
    spans, parts, used = [], [], 0
    for span in found:
        text = assembly.RECALL_HEADER.format(conversation=span.conversation_id, first=span.first_seq, last=span.last_seq) + span.excerpt
        cost = tokens.count_text(text, encoding=tenant.encoding) + 1
        if used + cost > share:
            continue
        spans.append(span)
        parts.append(text)
        used += cost
    if not parts:
        return [], None
    content = assembly.normalise_text(RECALL_INTRO + "\n\n".join(parts))
    return spans, {"content": content, "role": "developer", "type": "message"}


def _with_user(conversation, key: str, user: str):
    import copy

    named = copy.copy(conversation)
    named.metadata = {**(conversation.metadata or {}), key: user}
    return named


def _last_user_text(items: list[dict]) -> str:
    for item in reversed(items):
        if item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
