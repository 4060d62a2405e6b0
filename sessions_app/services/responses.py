"""Storing a model response: append to its conversation when it is the head, else fork a child."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.db import transaction

from cache_app.hot_window import Entry
from convostore import canonical
from convostore.errors import Conflict, NotFound, ValidationFailed

from ..models import Conversation, Response, Tenant
from ..selectors import context_entries
from .hot import HotUpdate, apply_hot
from .idempotency import Outcome, idempotent
from .items import PreparedItem, check_item_ids, prepare_items
from .writes import ResponseRow, conversation_write, response_id_taken

RESPONSES_SCOPE = "responses"


def response_store(*, tenant: Tenant, input_items, output_items, response_id: str | None = None,
                   previous_response_id: str | None = None, conversation_id: str | None = None, model: str = "", usage=None,
                   idempotency_key: str | None = None, request_hash: str = "", idempotency_scope: str = RESPONSES_SCOPE,
                   fields: dict | None = None, also: Callable[[], None] | None = None) -> Outcome:
    """Store a response and its input/output items; forks when ``previous_response_id`` is not the head.

    Answers 201 ``{"response_id", "conversation_id", "version", "forked"}``. Two concurrent continuations of
    one response give one extension and one fork (the parent's row lock orders them). ``idempotency_scope``
    separates callers' keys (gateway mode has its own); ``fields`` sets more Response columns (status,
    instructions, tools, metadata, params: see writes.ResponseRow); ``also()`` runs in the same transaction (writes that must
    commit with the response, such as token usage).
    """
    if response_id is not None:
        canonical.validate_response_id(response_id, "response_id")
    if previous_response_id is not None:
        canonical.validate_response_id(previous_response_id, "previous_response_id")
    if conversation_id is not None:
        canonical.validate_conversation_id(conversation_id)
    elif previous_response_id is None:
        raise ValidationFailed(
            "Send 'conversation_id' or 'previous_response_id'.", param="conversation_id", code="missing_required_parameter"
        )
    prepared_input = prepare_items(input_items, encoding=tenant.encoding, param="input")
    prepared_output = prepare_items(output_items, encoding=tenant.encoding, param="output")
    ids = [p.item["id"] for p in prepared_input + prepared_output]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("Item ids must be unique.", param="output", code="duplicate_item_id")
    row = ResponseRow(response_id or canonical.new_id("resp"), previous_response_id or "", len(prepared_input), model or "", usage,
                      **(fields or {}))
    outcome = idempotent(
        tenant=tenant, scope=idempotency_scope, key=idempotency_key, request_hash=request_hash,
        run=lambda: _store(tenant, prepared_input + prepared_output, row, conversation_id, also),
    )
    apply_hot(outcome.hot)
    return outcome


@dataclass
class _Target:
    conversation_id: str
    parent: Conversation | None = None  # set for a fork
    fork_seq: int | None = None
    path: list | None = None  # the context the new items join, for client-chosen id checks

    @property
    def forked(self) -> bool:
        return self.parent is not None


@transaction.atomic
def _store(tenant: Tenant, prepared: list[PreparedItem], row: ResponseRow, conversation_id: str | None,
           also: Callable[[], None] | None) -> Outcome:
    if Response.objects.filter(tenant=tenant, response_id=row.response_id).exists():
        raise response_id_taken(row.response_id)
    target = _target(tenant, row.previous_response_id or None, conversation_id)
    if any(p.client_id for p in prepared) and target.path:
        check_item_ids(target.path, prepared, param="input")
    written = conversation_write(tenant=tenant, conversation_id=target.conversation_id, prepared=prepared,
                                 must_create=target.forked, parent=target.parent, fork_seq=target.fork_seq, response=row)
    if also is not None:
        also()
    first = written.first_seq(len(prepared))
    entries = [Entry(first + offset, p.tokens, p.raw) for offset, p in enumerate(prepared)]
    outcome = Outcome(201, {"response_id": row.response_id, "conversation_id": target.conversation_id,
                            "version": written.version, "forked": target.forked})
    update = HotUpdate.of(
        tenant=tenant, conversation_id=target.conversation_id, version=written.version, last_seq=written.last_seq,
        entries=entries, created_empty=written.created and not written.lineage, responses=[(row.response_id, written.last_seq)],
    )
    if target.forked:
        # A fork's window starts from its inherited context, so seed it whole.
        inherited = context_entries(target.parent, target.fork_seq)
        update.created_empty = True
        update.tokens_added = sum(e.tokens for e in inherited + entries)
        if len(inherited) + len(entries) > tenant.window_size:
            # Keep one more than fits so the script trims and marks the window partial.
            inherited = inherited[-(tenant.window_size + 1):]
        update.entries = inherited + entries
    outcome.hot = [update]
    return outcome


def _target(tenant: Tenant, previous_response_id: str | None, conversation_id: str | None) -> _Target:
    """Where the response goes: ``conversation_id`` (created if new), the head it continues, or a new fork."""
    if previous_response_id is None:
        existing = Conversation.objects.filter(tenant=tenant, conversation_id=conversation_id).only("pk", "lineage").first()
        return _Target(conversation_id, path=existing.path() if existing else None)
    previous = Response.objects.filter(tenant=tenant, response_id=previous_response_id).first()
    if previous is None:
        raise NotFound(f"No response found with id {previous_response_id!r}.", param="previous_response_id")
    parent = Conversation.objects.select_for_update().get(pk=previous.conversation_id)
    is_head = parent.last_seq == previous.last_seq
    if is_head and (conversation_id is None or conversation_id == parent.conversation_id):
        return _Target(parent.conversation_id, path=parent.path())
    if conversation_id is not None and conversation_id == parent.conversation_id:
        raise Conflict(
            "previous_response_id is not the head of this conversation; name a new conversation_id to fork.",
            param="conversation_id",
            code="not_head",
        )
    if parent.depth + 1 > tenant.max_fork_depth:
        raise ValidationFailed(f"Forks may nest at most {tenant.max_fork_depth} deep.", param="previous_response_id", code="fork_too_deep")
    path = [(pk, min(upto, previous.last_seq)) for pk, upto in parent.lineage] + [(parent.pk, previous.last_seq)]
    return _Target(conversation_id or canonical.new_id("conv"), parent, previous.last_seq, path)
