"""Storing a model response: append to its conversation when it is the head, else fork a child."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from convostore.errors import Conflict, NotFound, ValidationFailed

from .. import canonical
from ..models import Conversation, Response, Tenant
from ..selectors import context_entries
from .parts import HotUpdate, Outcome, _check_limits, _insert_items, _lock_or_create, _replay, apply_hot, prepare_items
from .upsert import IdempotencyRace, idempotency_remember

RESPONSES_SCOPE = "responses"


def response_store(
    *,
    tenant: Tenant,
    input_items,
    output_items,
    response_id: str | None = None,
    previous_response_id: str | None = None,
    conversation_id: str | None = None,
    model: str = "",
    usage=None,
    idempotency_key: str | None = None,
    request_hash: str = "",
    idempotency_scope: str = RESPONSES_SCOPE,
    fields: dict | None = None,
    also=None,
) -> Outcome:
    """Store a response and its input/output items; forks when ``previous_response_id`` is not the head.

    Answers ``{"response_id", "conversation_id", "version", "forked"}`` (201). ``idempotency_scope`` separates
    callers' keys (gateway mode has its own); ``fields`` sets more Response columns (status, instructions,
    tools, metadata, params); ``also()`` runs inside the same transaction (writes that must commit with it).
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
    if len(prepared_input) + len(prepared_output) > 2 * 20:
        raise ValidationFailed("Too many items.", param="input", code="too_many_items")
    ids = [p.item["id"] for p in prepared_input + prepared_output]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("Item ids must be unique.", param="output", code="duplicate_item_id")
    try:
        outcome = _store_tx(
            tenant=tenant,
            prepared_input=prepared_input,
            prepared_output=prepared_output,
            response_id=response_id or canonical.new_id("resp"),
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            model=model or "",
            usage=usage,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            scope=idempotency_scope,
            fields=fields or {},
            also=also,
        )
    except IdempotencyRace:
        # A concurrent retry with the same key committed first; ours was rolled back whole.
        outcome = _replay(tenant=tenant, scope=idempotency_scope, key=idempotency_key, request_hash=request_hash)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        if constraint == "item_id_unique":
            raise Conflict("An item id is already used in this conversation.", param="input", code="item_id_taken") from None
        if constraint == "conversation_id_unique_per_tenant":
            raise Conflict("That conversation id was just taken.", param="conversation_id", code="conversation_exists") from None
        raise
    apply_hot(outcome.hot)
    return outcome


@transaction.atomic
def _store_tx(*, tenant, prepared_input, prepared_output, response_id, previous_response_id, conversation_id, model, usage,
              idempotency_key, request_hash, scope, fields, also):
    replay = _replay(tenant=tenant, scope=scope, key=idempotency_key, request_hash=request_hash)
    if replay is not None:
        return replay
    if Response.objects.filter(tenant=tenant, response_id=response_id).exists():
        raise Conflict(f"Response id {response_id!r} is already taken.", param="response_id", code="response_id_taken")
    conversation, created, forked, inherited = _target(tenant, previous_response_id, conversation_id)
    prepared = prepared_input + prepared_output
    _check_limits(tenant, conversation, prepared)
    first_seq = conversation.last_seq + 1
    response = Response(
        tenant=tenant,
        response_id=response_id,
        conversation=conversation,
        previous_response_id=previous_response_id or "",
        input_first_seq=first_seq if prepared_input else None,
        output_first_seq=first_seq + len(prepared_input) if prepared_output else None,
        last_seq=conversation.last_seq + len(prepared),
        model=model,
        usage=usage,
        **fields,
    )
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        raise Conflict(f"Response id {response_id!r} is already taken.", param="response_id", code="response_id_taken") from None
    entries = _insert_items(conversation, prepared, response=response)
    if also is not None:
        also()
    body = {"response_id": response_id, "conversation_id": conversation.conversation_id, "version": conversation.version, "forked": forked}
    outcome = Outcome(201, body)
    if idempotency_key:
        idempotency_remember(
            tenant=tenant, scope=scope, key=idempotency_key, request_hash=request_hash, status=201,
            body=canonical.dumps(body), ttl_seconds=settings.CONVOSTORE["IDEMPOTENCY_TTL_SECONDS"],
        )
    update = HotUpdate.of(
        tenant=tenant, conversation_id=conversation.conversation_id, version=conversation.version,
        last_seq=conversation.last_seq, entries=entries, created_empty=created and not conversation.lineage,
        responses=[(response_id, response.last_seq)],
    )
    if forked:
        # A fork's window starts from its inherited context, so seed it whole.
        update.created_empty = True
        update.tokens_added = sum(e.tokens for e in inherited + entries)
        if len(inherited) + len(entries) > tenant.window_size:
            # Keep one more than fits so the script trims and marks the window partial.
            inherited = inherited[-(tenant.window_size + 1):]
        update.entries = inherited + entries
    outcome.hot = [update]
    return outcome


def _target(tenant, previous_response_id, conversation_id):
    """(conversation to append to, created?, forked?, inherited entries when forked)."""
    if previous_response_id is None:
        conversation, created = _lock_or_create(tenant=tenant, conversation_id=conversation_id)
        return conversation, created, False, []
    previous = (
        Response.objects.filter(tenant=tenant, response_id=previous_response_id).select_related("conversation").first()
    )
    if previous is None:
        raise NotFound(f"No response found with id {previous_response_id!r}.", param="previous_response_id")
    parent = Conversation.objects.select_for_update().get(pk=previous.conversation_id)
    is_head = parent.last_seq == previous.last_seq
    if is_head and (conversation_id is None or conversation_id == parent.conversation_id):
        return parent, False, False, []
    if conversation_id is not None and conversation_id == parent.conversation_id:
        raise Conflict(
            "previous_response_id is not the head of this conversation; name a new conversation_id to fork.",
            param="conversation_id",
            code="not_head",
        )
    if parent.depth + 1 > tenant.max_fork_depth:
        raise ValidationFailed(f"Forks may nest at most {tenant.max_fork_depth} deep.", param="previous_response_id", code="fork_too_deep")
    child_id = conversation_id or canonical.new_id("conv")
    child, created = _lock_or_create(tenant=tenant, conversation_id=child_id, parent=parent, fork_seq=previous.last_seq)
    if not created:
        raise Conflict(f"Conversation {child_id!r} already exists.", param="conversation_id", code="conversation_exists")
    inherited = context_entries(child, child.last_seq)
    return child, True, True, inherited
