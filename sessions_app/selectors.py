"""Reads the API needs: resolve, context items, conversation detail and item pages."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime

from archive_app.selectors import archived_items, segment_entries
from cache_app import hot_window, keys
from cache_app.hot_window import Entry
from cache_app.redis_client import RedisUnavailable
from convostore import metrics, tokens
from convostore.errors import NotFound
from convostore.postgres import model_columns, model_instance, model_row

from .models import Conversation, Item, Response, Tenant


def context_entries(conversation: Conversation, upto_seq: int) -> list[Entry]:
    """Every item of the conversation's context (ancestors up to each fork point, then its own) up to ``upto_seq``."""
    path = conversation.path()
    rows = [
        Entry(seq, token_count, raw)
        for seq, token_count, raw in Item.objects.for_path(path, upto_seq).values_list("seq", "token_count", "raw")
    ]
    if _has_archive(conversation):
        rows = sorted(segment_entries(path, upto_seq) + rows, key=lambda entry: entry.seq)
    return rows


def window_load(tenant: Tenant, conversation: Conversation, *, upto_seq: int | None = None, after_seq: int = 0) -> list[Entry]:
    """Context entries with after_seq < seq <= upto_seq (default: the whole context), oldest first.

    From the hot window when it holds them all, else from Postgres rows and archive segments, which then
    refill the window (cache_app.hot_window.window_or_load owns that decision).
    """
    upto = conversation.last_seq if upto_seq is None else upto_seq
    return hot_window.window_or_load(
        tenant_id=tenant.pk, conversation_id=conversation.conversation_id, version=conversation.version,
        last_seq=conversation.last_seq, window_size=tenant.window_size, upto_seq=upto, after_seq=after_seq,
        load=lambda: context_entries(conversation, upto),
    )


def window_refresh(tenant: Tenant, conversation: Conversation, entries: list[Entry]) -> None:
    """Refill the hot window from ``entries``, the whole context just read (only if newer than Redis's)."""
    hot_window.window_fill(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, version=conversation.version,
                           last_seq=conversation.last_seq, window_size=tenant.window_size, entries=entries)


def _has_archive(conversation: Conversation) -> bool:
    if conversation.archived_upto_seq:
        return True
    ancestors = [pk for pk, _ in conversation.lineage]
    return bool(ancestors) and Conversation.objects.filter(pk__in=ancestors, archived_upto_seq__gt=0).exists()


@dataclass(frozen=True)
class ItemRecord:
    """Every attribute of one item of a context, the same for a row and an archived item."""

    seq: int
    tokens: int
    raw: str
    response_id: str | None  # the response that stored it (its public id)
    created_at: datetime
    archived: bool


def item_records(conversation: Conversation, *, after_seq: int = 0, upto_seq: int | None = None) -> list[ItemRecord]:
    """The context's items with after_seq < seq <= upto_seq (default: the last seq), oldest first, rows and
    archive segments alike (export, the admin transcript). Raises ArchiveCorrupt for a damaged segment."""
    upto = conversation.last_seq if upto_seq is None else upto_seq
    path = conversation.path()
    records = {
        seq: ItemRecord(seq, tokens, raw, response_id, created, False)
        for seq, tokens, raw, response_id, created in Item.objects.for_path(path, upto).filter(seq__gt=after_seq)
        .values_list("seq", "token_count", "raw", "response__response_id", "created_at")
    }
    if _has_archive(conversation):
        archived = archived_items(path, upto, after_seq)
        names = dict(Response.objects.filter(pk__in={i.response_id for i in archived if i.response_id})
                     .values_list("pk", "response_id"))
        for item in archived:
            records.setdefault(item.seq, ItemRecord(item.seq, item.token_count, item.raw, names.get(item.response_id),
                                                    item.created_at, True))
    return [records[seq] for seq in sorted(records)]


@dataclass
class Resolved:
    conversation_id: str
    response_id: str
    version: int
    items_json: str  # the stored item bytes joined with ","
    item_count: int
    item_tokens: int
    source: str  # "redis" or "postgres"
    entries: list[Entry] | None = None  # when read from Postgres

    @classmethod
    def from_entries(cls, conversation_id, response_id, version, entries, source) -> "Resolved":
        joined = ",".join(entry.raw for entry in entries)
        return cls(conversation_id, response_id, version, joined, len(entries), sum(e.tokens for e in entries), source, entries)

    @property
    def estimated_input_tokens(self) -> int:
        return self.item_tokens + (tokens.TOKENS_REPLY_PRIMING if self.item_count else 0)

    def body_json(self) -> str:
        """The resolve answer as JSON text; stored item bytes are spliced in, never re-serialised."""
        head = json.dumps(
            {"conversation_id": self.conversation_id, "response_id": self.response_id}, ensure_ascii=False, separators=(",", ":")
        )[:-1]
        return (
            f'{head},"items":[{self.items_json}],"version":{self.version},'
            f'"estimated_input_tokens":{self.estimated_input_tokens}}}'
        )


def response_resolve(*, tenant: Tenant, response_id: str, prefetched: dict | None = None) -> Resolved:
    """The exact context of a response: two Redis round trips when hot, Postgres otherwise (never stale).

    ``prefetched`` may hold the response-index value already read (with the API key, same round trip).
    """
    index_key = keys.response_index(tenant.pk, response_id)
    try:
        if prefetched is not None and index_key in prefetched:
            hit = hot_window.response_index_parse(prefetched[index_key])
        else:
            hit = hot_window.response_lookup(tenant_id=tenant.pk, response_id=response_id)
        if hit is not None:
            conversation_id, last_seq = hit
            window = hot_window.window_join(tenant_id=tenant.pk, conversation_id=conversation_id, upto_seq=last_seq)
            if window is not None and window.covers(last_seq):
                metrics.window_events.labels(event="hit").inc()
                return Resolved(conversation_id, response_id, window.version, window.items_json, window.count,
                                window.tokens, "redis")
        metrics.window_events.labels(event="miss").inc()
    except RedisUnavailable:
        pass
    return _resolve_from_postgres(tenant, response_id)


def _resolve_from_postgres(tenant: Tenant, response_id: str) -> Resolved:
    response = Response.objects.filter(tenant=tenant, response_id=response_id).select_related("conversation").first()
    if response is None:
        raise NotFound(f"No response found with id {response_id!r}.", param="previous_response_id")
    conversation = response.conversation
    entries = context_entries(conversation, conversation.last_seq)
    window_refresh(tenant, conversation, entries)
    hot_window.response_remember(
        tenant_id=tenant.pk, response_id=response_id, conversation_id=conversation.conversation_id, last_seq=response.last_seq
    )
    mine = [entry for entry in entries if entry.seq <= response.last_seq]
    return Resolved.from_entries(conversation.conversation_id, response_id, conversation.version, mine, "postgres")


def conversation_get(*, tenant: Tenant, conversation_id: str) -> Conversation:
    """The conversation (its parent's public id loaded with it) or 404: one prepared statement, no ORM compilation."""
    found = model_row(Conversation, _conversation_get_sql(), [tenant.pk, conversation_id])
    if found is None:
        raise NotFound(f"No conversation found with id {conversation_id!r}.", param="conversation_id")
    conversation, (parent_conversation_id,) = found
    conversation.tenant = tenant
    if conversation.parent_id is not None:  # only the id is loaded; any other field loads on access
        conversation.parent = Conversation.from_db("default", ["id", "conversation_id"], [conversation.parent_id, parent_conversation_id])
    return conversation


@functools.cache
def _conversation_get_sql() -> str:
    return (
        f"SELECT {model_columns(Conversation, 'c')}, p.conversation_id FROM sessions_app_conversation c"
        " LEFT JOIN sessions_app_conversation p ON p.id = c.parent_id WHERE c.tenant_id = %s AND c.conversation_id = %s"
    )


@dataclass
class ItemPage:
    entries: list[Entry]
    has_more: bool


def items_page(*, tenant: Tenant, conversation: Conversation, after: str | None, limit: int, order: str) -> ItemPage:
    """One page of a conversation's items (its whole context), by seq, after the item ``after``.

    Served from the hot window when it holds everything, else by a bounded Postgres query
    (archived history is decoded and paged in memory).
    """
    if _has_archive(conversation):
        entries = window_load(tenant, conversation)
    else:
        entries = hot_window.window_complete(tenant_id=tenant.pk, conversation_id=conversation.conversation_id,
                                             version=conversation.version, upto_seq=conversation.last_seq)
        if entries is None:  # a bounded row query is cheaper than loading the whole context
            return _page_from_rows(conversation, after, limit, order)
    return _page_from_entries(entries, after, limit, order)


def _page_from_entries(entries: list[Entry], after, limit: int, order: str) -> ItemPage:
    if order == "desc":
        entries = list(reversed(entries))
    start = 0
    if after:
        for index, entry in enumerate(entries):
            if _entry_id(entry) == after:
                start = index + 1
                break
        else:
            raise NotFound(f"No item found with id {after!r} in this conversation.", param="after")
    return ItemPage(entries[start : start + limit], start + limit < len(entries))


def _page_from_rows(conversation: Conversation, after, limit: int, order: str) -> ItemPage:
    rows = Item.objects.for_path(conversation.path(), conversation.last_seq)
    if after:
        after_seq = rows.filter(item_id=after).values_list("seq", flat=True).first()
        if after_seq is None:
            raise NotFound(f"No item found with id {after!r} in this conversation.", param="after")
        rows = rows.filter(seq__gt=after_seq) if order == "asc" else rows.filter(seq__lt=after_seq)
    rows = rows.order_by("seq" if order == "asc" else "-seq").values_list("seq", "token_count", "raw")[: limit + 1]
    entries = [Entry(seq, tokens, raw) for seq, tokens, raw in rows]
    return ItemPage(entries[:limit], len(entries) > limit)


def _entry_id(entry: Entry) -> str:
    return json.loads(entry.raw).get("id", "")


def _entry_by_id(entries: list[Entry], item_id: str) -> Entry | None:
    return next((entry for entry in entries if _entry_id(entry) == item_id), None)


def conversation_item_get(*, tenant: Tenant, conversation: Conversation, item_id: str) -> Entry:
    """One item of the conversation's context (its own or inherited, live or archived)."""
    row = (
        Item.objects.for_path(conversation.path(), conversation.last_seq)
        .filter(item_id=item_id)
        .values_list("seq", "token_count", "raw")
        .first()
    )
    if row is not None:
        return Entry(*row)
    entry = _entry_by_id(context_entries(conversation, conversation.last_seq), item_id) if _maybe_archived(conversation) else None
    if entry is None:
        raise NotFound(f"No item found with id {item_id!r} in this conversation.", param="item_id")
    return entry


def _maybe_archived(conversation: Conversation) -> bool:
    return bool(conversation.archived_upto_seq) or bool(conversation.lineage)


def response_get(*, tenant: Tenant, response_id: str) -> Response:
    """The stored response with its conversation, or 404: one prepared statement, no ORM compilation."""
    found = model_row(Response, _response_get_sql(), [tenant.pk, response_id])
    if found is None:
        raise NotFound(f"No response found with id {response_id!r}.", param="response_id")
    response, conversation_values = found
    response.tenant = tenant
    response.conversation = model_instance(Conversation, conversation_values)
    response.conversation.tenant = tenant
    return response


@functools.cache
def _response_get_sql() -> str:
    return (
        f"SELECT {model_columns(Response, 'r')}, {model_columns(Conversation, 'c')} FROM sessions_app_response r"
        " JOIN sessions_app_conversation c ON c.id = r.conversation_id WHERE r.tenant_id = %s AND r.response_id = %s"
    )


def response_items(response: Response) -> tuple[list[Entry], list[Entry]]:
    """(input entries, output entries) of a stored response, oldest first; deleted items are simply absent."""
    first = response.input_first_seq or response.output_first_seq
    if first is None:
        return [], []
    entries = [entry for entry in context_entries(response.conversation, response.last_seq) if entry.seq >= first]
    split = response.output_first_seq or response.last_seq + 1
    return [e for e in entries if e.seq < split], [e for e in entries if e.seq >= split]
