"""Reads by id that the API makes on every request of a kind, each one prepared statement (no ORM compilation):
a conversation, one item of a conversation, a stored response (with its output items)."""

from __future__ import annotations

import functools

from cache_app.hot_window import Entry
from convostore.errors import NotFound
from convostore.postgres import model_columns, model_instance, model_row

from .keyset import entry_find
from .models import Conversation, Response, Tenant

_ITEMS = "sessions_app_item"


def conversation_get(*, tenant: Tenant, conversation_id: str) -> Conversation:
    """The conversation (its parent's public id loaded with it) or 404."""
    found = model_row(Conversation, _conversation_sql(), [tenant.pk, conversation_id])
    return _conversation(tenant, conversation_id, found)


def _conversation(tenant: Tenant, conversation_id: str, found) -> Conversation:
    if found is None:
        raise NotFound(f"No conversation found with id {conversation_id!r}.", param="conversation_id")
    conversation, (parent_conversation_id, *_) = found
    conversation.tenant = tenant
    if conversation.parent_id is not None:  # only the id is loaded; any other field loads on access
        conversation.parent = Conversation.from_db("default", ["id", "conversation_id"], [conversation.parent_id, parent_conversation_id])
    return conversation


@functools.cache
def _conversation_sql(item_columns: str = "", item_join: str = "") -> str:
    return (
        f"SELECT {model_columns(Conversation, 'c')}, p.conversation_id{item_columns} FROM sessions_app_conversation c"
        f" LEFT JOIN sessions_app_conversation p ON p.id = c.parent_id{item_join}"
        " WHERE c.tenant_id = %s AND c.conversation_id = %s"
    )


def conversation_item_get(*, tenant: Tenant, conversation_id: str, item_id: str) -> Entry:
    """One item of the conversation's context (its own or inherited, live or archived). One statement reads the
    conversation and its own live item of that id; an inherited or archived item costs keyset.entry_find's
    reads after it. Raises NotFound (param ``conversation_id``, else ``item_id``)."""
    sql = _conversation_sql(", i.seq, i.token_count, i.raw", f" LEFT JOIN {_ITEMS} i ON i.conversation_id = c.id"
                            " AND i.item_id = %s AND i.seq <= c.last_seq")
    found = model_row(Conversation, sql, [item_id, tenant.pk, conversation_id])
    conversation = _conversation(tenant, conversation_id, found)
    seq, token_count, raw = found[1][1:]
    if seq is not None:
        return Entry(seq, token_count, raw)
    entry = entry_find(conversation, item_id) if conversation.lineage or conversation.archived_upto_seq else None
    if entry is None:
        raise NotFound(f"No item found with id {item_id!r} in this conversation.", param="item_id")
    return entry


def response_get(*, tenant: Tenant, response_id: str) -> Response:
    """The stored response with its conversation, or 404 (param ``response_id``)."""
    return _response(tenant, response_id, model_row(Response, _response_sql(), [tenant.pk, response_id]))


def _response(tenant: Tenant, response_id: str, found) -> Response:
    if found is None:
        raise NotFound(f"No response found with id {response_id!r}.", param="response_id")
    response, rest = found
    response.tenant = tenant
    response.conversation = model_instance(Conversation, rest[: len(Conversation._meta.concrete_fields)])
    response.conversation.tenant = tenant
    return response


@functools.cache
def _response_sql(extra: str = "") -> str:
    return (
        f"SELECT {model_columns(Response, 'r')}, {model_columns(Conversation, 'c')}{extra} FROM sessions_app_response r"
        " JOIN sessions_app_conversation c ON c.id = r.conversation_id WHERE r.tenant_id = %s AND r.response_id = %s"
    )


def response_output_row(*, tenant: Tenant, response_id: str) -> tuple[Response, list[Entry] | None]:
    """The stored response and its output items, oldest first (deleted items are simply absent), or 404.

    One statement reads the response, its conversation and the output rows (a response's output items are rows
    of its own conversation, seq output_first_seq..last_seq). The items are None when some of them may be
    archived (archived_upto_seq reaches output_first_seq): selectors.response_items reads them then.
    """
    rows = (f", ARRAY(SELECT i.seq || ':' || i.token_count || ':' || i.raw FROM {_ITEMS} i WHERE i.conversation_id = c.id"
            " AND i.seq >= r.output_first_seq AND i.seq <= r.last_seq ORDER BY i.seq)")
    found = model_row(Response, _response_sql(rows), [tenant.pk, response_id])
    response = _response(tenant, response_id, found)
    first = response.output_first_seq
    if first is not None and response.conversation.archived_upto_seq >= first:
        return response, None
    return response, [Entry.decode(value) for value in found[1][-1]]
