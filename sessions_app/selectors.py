"""Reads the API needs: resolve, context items, conversation detail and item pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from archive_app.selectors import archived_items, segment_entries
from cache_app import hot_window, lru
from cache_app.hot_window import Entry
from cache_app.redis_client import Query, RedisUnavailable
from cache_app.response_places import place_forget, place_get, place_remember
from convostore import metrics, tokens
from convostore.errors import NotFound

from .keyset import context_steps, cursor_seq, has_archive
from .lookups import conversation_get, conversation_item_get, response_get  # noqa: F401 (the API's reads by id)
from .lookups import response_output_row
from .models import Conversation, Item, Response, Tenant


def context_entries(conversation: Conversation, upto_seq: int, after_seq: int = 0) -> list[Entry]:
    """The items of the conversation's context (ancestors up to each fork point, then its own) with
    after_seq < seq <= upto_seq, oldest first; archive segments outside that range are not decoded."""
    path = conversation.path()
    rows = Item.objects.for_path(path, upto_seq)
    if after_seq:
        rows = rows.filter(seq__gt=after_seq)
    entries = [Entry(seq, token_count, raw) for seq, token_count, raw in rows.values_list("seq", "token_count", "raw")]
    if has_archive(conversation):
        entries = sorted(segment_entries(path, upto_seq, after_seq) + entries, key=lambda entry: entry.seq)
    return entries


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
    if has_archive(conversation):
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


def response_resolve_queries(*, tenant_id: int, response_id: str, window_query=hot_window.window_read_query) -> list[Query]:
    """What resolve reads from Redis, to ride the API key's round trip: the response index, and ``window_query``
    (``(tenant_id=, conversation_id=) -> Query``: the window, or the context's window and header) of the
    conversation this process last learnt the response lives in (cache_app.response_places)."""
    queries = [hot_window.response_lookup_query(tenant_id=tenant_id, response_id=response_id)]
    place = place_get(tenant_id, response_id)
    if place is not None:
        queries.append(window_query(tenant_id=tenant_id, conversation_id=place[0]))
    return queries


def response_resolve(*, tenant: Tenant, response_id: str, prefetched: dict | None = None) -> Resolved:
    """The exact context of a response: from the hot window when the response index names it and the window
    holds it, Postgres otherwise (never stale).

    ``prefetched`` holds what response_resolve_queries read with the API key (one round trip in all when the
    index names the place guessed there); what it lacks is read now: the index, then the window it names.
    """
    try:
        hit = hot_window.response_lookup(tenant_id=tenant.pk, response_id=response_id, prefetched=prefetched)
        if hit is not None:
            conversation_id, last_seq = hit
            place_remember(tenant.pk, response_id, conversation_id, last_seq)
            window = hot_window.window_join(tenant_id=tenant.pk, conversation_id=conversation_id, upto_seq=last_seq,
                                            prefetched=prefetched)
            if window is not None and window.covers(last_seq):
                metrics.window_events.labels(event="hit").inc()
                return Resolved(conversation_id, response_id, window.version, window.items_json, window.count,
                                window.tokens, "redis")
        metrics.window_events.labels(event="miss").inc()
    except RedisUnavailable:
        pass
    return _resolve_from_postgres(tenant, response_id, prefetched)


def _resolve_from_postgres(tenant: Tenant, response_id: str, prefetched: dict | None) -> Resolved:
    response = Response.objects.filter(tenant=tenant, response_id=response_id).select_related("conversation").first()
    if response is None:
        place = place_get(tenant.pk, response_id)
        if place is not None:
            place_forget(tenant.pk, response_id)
            # The guessed window's read touched the LRU: leave nothing behind, unless the conversation lives on
            # (another process deleted the response; its items and window stay, and so does its member).
            if prefetched and not Conversation.objects.filter(tenant=tenant, conversation_id=place[0]).exists():
                lru.forget_now(tenant.pk, place[0])
        raise NotFound(f"No response found with id {response_id!r}.", param="previous_response_id")
    conversation = response.conversation
    entries = context_entries(conversation, conversation.last_seq)
    window_refresh(tenant, conversation, entries)
    hot_window.response_remember(
        tenant_id=tenant.pk, response_id=response_id, conversation_id=conversation.conversation_id, last_seq=response.last_seq
    )
    mine = [entry for entry in entries if entry.seq <= response.last_seq]
    return Resolved.from_entries(conversation.conversation_id, response_id, conversation.version, mine, "postgres")


@dataclass
class ItemPage:
    entries: list[Entry]
    has_more: bool


def items_page_queries(*, tenant_id: int, conversation_id: str) -> list[Query]:
    """What items_page reads from Redis (the window), to ride the API key's round trip."""
    return [hot_window.window_read_query(tenant_id=tenant_id, conversation_id=conversation_id)]


def conversation_items_page(*, tenant: Tenant, conversation_id: str, prefetched: dict | None, **paging) -> ItemPage:
    """items_page (``paging``: after, limit, order) of a conversation by id; NotFound when it does not exist (and
    then the LRU member that items_page_queries, read before Postgres was asked, touched is dropped)."""
    try:
        conversation = conversation_get(tenant=tenant, conversation_id=conversation_id)
    except NotFound:
        if prefetched:
            lru.forget_now(tenant.pk, conversation_id)
        raise
    return items_page(tenant=tenant, conversation=conversation, prefetched=prefetched, **paging)


def items_page(*, tenant: Tenant, conversation: Conversation, after: str | None, limit: int, order: str,
               prefetched: dict | None = None) -> ItemPage:
    """One page of a conversation's items (its whole context), by seq, after the item ``after`` (keyset).

    O(limit) at any conversation length: from the hot window when it holds the page (``prefetched`` may hold
    items_page_queries' read, made before the conversation row was read: the window is used only at that
    row's version and last seq), else keyset.context_steps: a range of ``limit + 1`` seqs from the cursor, rows
    merged with the archive segments that hold them (only those are decoded), doubled while deleted items leave
    the page short. Raises NotFound (param ``after``) for an unknown cursor.
    """
    page = _page_from_window(tenant, conversation, after, limit, order, prefetched)
    if page is not None:
        return page
    descending = order == "desc"
    bound = cursor_seq(conversation, after) if after else None
    entries = list(context_steps(conversation, upto_seq=conversation.last_seq, size=limit + 1, most=limit + 1,
                                 descending=descending, after_seq=bound if bound is not None and not descending else 0,
                                 before_seq=bound if descending else None))
    return ItemPage(entries[:limit], len(entries) > limit)


def _page_from_window(tenant: Tenant, conversation: Conversation, after, limit: int, order: str, prefetched) -> ItemPage | None:
    """The page when the hot window (complete, at the conversation's version) holds it and knows whether more follow."""
    try:
        window = hot_window.window_read(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, prefetched=prefetched)
    except RedisUnavailable:
        return None
    if window is None or window.version != conversation.version or window.last_seq != conversation.last_seq:
        return None
    entries = window.entries if order == "asc" else list(reversed(window.entries))
    start = 0
    if after:
        start = next((index + 1 for index, entry in enumerate(entries) if _entry_id(entry) == after), None)
        if start is None:
            return None  # the cursor is older than the window (or unknown): the keyset path decides
    older_exist = not window.holds(0, window.last_seq)  # the context has items before the window's first
    if order == "asc" and older_exist and not after:
        return None
    page = entries[start : start + limit]
    if start + limit < len(entries) or order == "asc" or not older_exist:
        return ItemPage(page, start + limit < len(entries))
    return ItemPage(page, True) if len(page) == limit else None


def _entry_id(entry: Entry) -> str:
    return json.loads(entry.raw).get("id", "")


def response_items(response: Response) -> tuple[list[Entry], list[Entry]]:
    """(input entries, output entries) of a stored response, oldest first; deleted items are simply absent."""
    first = response.input_first_seq or response.output_first_seq
    if first is None:
        return [], []
    entries = context_entries(response.conversation, response.last_seq, after_seq=first - 1)
    split = response.output_first_seq or response.last_seq + 1
    return [e for e in entries if e.seq < split], [e for e in entries if e.seq >= split]


def response_output_get(*, tenant: Tenant, response_id: str) -> tuple[Response, list[Entry]]:
    """The stored response and its output entries, oldest first, or NotFound: one statement unless some output
    items may be archived (then response_items reads them)."""
    response, output = response_output_row(tenant=tenant, response_id=response_id)
    return response, output if output is not None else response_items(response)[1]
