"""The Redis hot window of a conversation: the last N items of its context, version-guarded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, NamedTuple

from django.conf import settings

from convostore import metrics

from . import embed_queue, keys, lru
from .response_places import place_forget, place_remember
from .cluster import queue_delete
from .redis_client import Query, RedisUnavailable, evalsha, guarded, pipeline_run, query_run, script

logger = logging.getLogger(__name__)


class Entry(NamedTuple):
    """One item of a context: seq, token count and canonical JSON (a tuple: built thousands of times per read)."""

    seq: int
    tokens: int
    raw: str

    def encode(self) -> str:
        return f"{self.seq}:{self.tokens}:{self.raw}"

    @classmethod
    def decode(cls, value) -> "Entry":
        if isinstance(value, bytes):
            seq, tokens, raw = value.split(b":", 2)
            return cls(int(seq), int(tokens), raw.decode("utf-8"))
        seq, tokens, raw = value.split(":", 2)
        return cls(int(seq), int(tokens), raw)


@dataclass(frozen=True)
class Window:
    version: int
    last_seq: int
    tokens: int
    full: bool
    entries: list[Entry]

    def holds(self, after_seq: int, upto_seq: int) -> bool:
        """True when the window holds every item of the context with after_seq < seq <= upto_seq."""
        if upto_seq > self.last_seq:
            return False
        return self.full or (bool(self.entries) and self.entries[0].seq <= after_seq + 1)

    def between(self, after_seq: int, upto_seq: int) -> list[Entry]:
        return [entry for entry in self.entries if after_seq < entry.seq <= upto_seq]


# The meta hash's fields, as the window scripts write and check them (see cache_app/lua/window_complete.lua).
META_FIELDS = ("v", "last", "tok", "full", "n", "first", "tail")


def window_ttl() -> int:
    return settings.CONVOSTORE["WINDOW_TTL_SECONDS"]


def _response_ttl() -> int:
    return settings.CONVOSTORE["RESPONSE_INDEX_TTL_SECONDS"]


def window_extend(
    *,
    tenant_id: int,
    conversation_id: str,
    previous_version: int,
    version: int,
    last_seq: int,
    tokens_added: int,
    window_size: int,
    entries: list[Entry],
    created_empty: bool,
    responses: list[tuple[str, int]] = (),
) -> int:
    """After a commit: one Lua call extends the window; response index, LRU touch and (when items were
    added) the embed queue ride the same pipeline.

    Raises RedisUnavailable when Redis fails; the caller records the conversation in the outbox.
    """
    window_keys = [keys.window(tenant_id, conversation_id), keys.window_meta(tenant_id, conversation_id)]
    script_args = [previous_version, version, last_seq, tokens_added, window_size, window_ttl(), int(created_empty)]
    script_args += [entry.encode() for entry in entries]

    def build(pipe):
        evalsha(pipe, "window_append", window_keys, script_args)
        for response_id, response_last_seq in responses:
            place_remember(tenant_id, response_id, conversation_id, response_last_seq)
            pipe.set(keys.response_index(tenant_id, response_id), f"{response_last_seq}:{conversation_id}", ex=_response_ttl())
        lru.touch(pipe, tenant_id, conversation_id)
        if entries:
            embed_queue.mark(pipe, tenant_id, conversation_id)

    with guarded("window_extend") as client:
        return pipeline_run(client, build)[0]


def window_read_query(*, tenant_id: int, conversation_id: str) -> Query:
    """The window_read script with the LRU touch; its first reply is window_read.lua's (see window_parse)."""
    window_keys = [keys.window(tenant_id, conversation_id), keys.window_meta(tenant_id, conversation_id)]

    def queue(pipe):
        evalsha(pipe, "window_read", window_keys, [window_ttl()])
        lru.touch(pipe, tenant_id, conversation_id)

    return Query(f"window_read {window_keys[0]}", queue)


def window_read(*, tenant_id: int, conversation_id: str, prefetched: dict | None = None) -> Window | None:
    """The window and meta in one round trip (with the LRU touch), or None when absent; ``prefetched`` may
    hold that read already (made in the API key's round trip, see sessions_app.auth)."""
    return window_parse(query_run(window_read_query(tenant_id=tenant_id, conversation_id=conversation_id), prefetched)[0])


def window_parse(result) -> Window | None:
    """A Window from window_read.lua's reply ({} when absent)."""
    if not result:
        return None
    version, last_seq, tokens, full, entries = result
    return Window(int(version), int(last_seq), int(tokens), full in (b"1", "1", 1), list(map(Entry.decode, entries)))


@dataclass(frozen=True)
class JoinedWindow:
    version: int
    last_seq: int
    full: bool
    tokens: int
    count: int
    items_json: str

    def covers(self, upto_seq: int) -> bool:
        return self.full and upto_seq <= self.last_seq


def window_join(*, tenant_id: int, conversation_id: str, upto_seq: int, prefetched: dict | None = None) -> JoinedWindow | None:
    """Resolve's read: the window's items up to ``upto_seq``, their stored bytes joined with "," (window_read_query's
    round trip, or none when ``prefetched`` holds it), or None when absent or partial.

    The join is here rather than in Lua: splitting 40 entries costs this process ~15 µs and Redis, which
    every worker shares, ~65 µs (issue 15's profile)."""
    result = query_run(window_read_query(tenant_id=tenant_id, conversation_id=conversation_id), prefetched)[0]
    if not result:
        return None
    version, last_seq, _context_tokens, full, entries = result
    parts, tokens = [], 0
    for entry in map(Entry.decode, entries):
        if entry.seq <= upto_seq:
            tokens += entry.tokens
            parts.append(entry.raw)
    return JoinedWindow(int(version), int(last_seq), full in (b"1", "1", 1), tokens, len(parts), ",".join(parts))


def window_rebuild(
    *, tenant_id: int, conversation_id: str, version: int, last_seq: int, tokens: int, window_size: int, entries: list[Entry], full: bool
) -> bool:
    """Write a window read from Postgres, unless Redis already holds the same or a newer version."""
    kept = entries[-window_size:] if window_size else []
    complete = full and len(kept) == len(entries)
    with guarded("window_rebuild") as client:
        written = script("window_rebuild")(
            keys=[keys.window(tenant_id, conversation_id), keys.window_meta(tenant_id, conversation_id)],
            args=[version, last_seq, tokens, int(complete), window_ttl()] + [entry.encode() for entry in kept],
            client=client,
        )
    return bool(written)


def window_fill(*, tenant_id: int, conversation_id: str, version: int, last_seq: int, window_size: int,
                entries: list[Entry]) -> bool:
    """Refill the window from ``entries``, the whole context at ``version`` read from Postgres (and segments).

    Written only when newer than what Redis holds; False when Redis is unavailable (nothing to do then).
    """
    try:
        window_rebuild(tenant_id=tenant_id, conversation_id=conversation_id, version=version, last_seq=last_seq,
                       tokens=sum(entry.tokens for entry in entries), window_size=window_size, entries=entries, full=True)
    except RedisUnavailable:
        return False
    metrics.window_events.labels(event="rebuild").inc()
    return True


def window_complete(*, tenant_id: int, conversation_id: str, version: int, upto_seq: int, after_seq: int = 0) -> list[Entry] | None:
    """The entries with after_seq < seq <= upto_seq when the window at ``version`` holds them all, else None.

    None also when Redis is unavailable: the caller reads Postgres.
    """
    try:
        window = window_read(tenant_id=tenant_id, conversation_id=conversation_id)
    except RedisUnavailable:
        return None
    if window is None or window.version != version or not window.holds(after_seq, upto_seq):
        return None
    return window.between(after_seq, upto_seq)


def window_or_load(*, tenant_id: int, conversation_id: str, version: int, last_seq: int, window_size: int,
                   load: Callable[[], list[Entry]], upto_seq: int | None = None, after_seq: int = 0) -> list[Entry]:
    """Entries with after_seq < seq <= upto_seq (default: the last seq) of a conversation's context at ``version``.

    The one place that decides "the window is complete, else load, then refill": served from the hot
    window when it holds every entry asked for; otherwise ``load()`` (the caller's read of Postgres and
    archive segments: every entry of the context up to ``upto_seq``, oldest first) answers, and refills
    the window when the read reaches the conversation's last seq.
    """
    upto = last_seq if upto_seq is None else upto_seq
    found = window_complete(tenant_id=tenant_id, conversation_id=conversation_id, version=version, upto_seq=upto, after_seq=after_seq)
    if found is not None:
        return found
    entries = load()
    if upto >= last_seq:
        window_fill(tenant_id=tenant_id, conversation_id=conversation_id, version=version, last_seq=last_seq,
                    window_size=window_size, entries=entries)
    return [entry for entry in entries if after_seq < entry.seq <= upto]


def window_drop(*, tenant_id: int, conversation_id: str, response_ids=(), forget_lru: bool = False) -> None:
    """Delete the window (and optionally response index entries); raises RedisUnavailable on failure."""
    with guarded("window_drop") as client:
        pipe = client.pipeline(transaction=False)
        queue_delete(pipe, keys.conversation_key_patterns(tenant_id, conversation_id))
        for response_id in response_ids:
            place_forget(tenant_id, response_id)
            pipe.delete(keys.response_index(tenant_id, response_id))
        if forget_lru:  # the conversation is gone: nothing of it stays queued either
            lru.forget(pipe, tenant_id, conversation_id)
            embed_queue.forget(pipe, tenant_id, conversation_id)
        pipe.execute()


def response_lookup_query(*, tenant_id: int, response_id: str) -> Query:
    """GET of the response index entry (see response_index_parse)."""
    index_key = keys.response_index(tenant_id, response_id)
    return Query(f"response_lookup {index_key}", lambda pipe: pipe.get(index_key))


def response_lookup(*, tenant_id: int, response_id: str, prefetched: dict | None = None) -> tuple[str, int] | None:
    """(conversation id, last seq) from the response index, or None on a miss."""
    return response_index_parse(query_run(response_lookup_query(tenant_id=tenant_id, response_id=response_id), prefetched)[0])


def response_index_parse(value) -> tuple[str, int] | None:
    """(conversation id, last seq) from a response-index value ``b"<last seq>:<conversation id>"``.

    None when absent or unreadable (a miss: the caller reads Postgres); never raises.
    """
    if value is None:
        return None
    try:
        last_seq, conversation_id = value.decode("utf-8").split(":", 1)
        return conversation_id, int(last_seq)
    except ValueError:
        return None


def window_peek(*, tenant_id: int, conversation_id: str) -> tuple[int, int, int] | None:
    """(first seq in the list, last seq, version) of a complete window, without touching its TTL or the LRU.

    None when the window is absent or partial (the same checks as the scripts, on one MULTI snapshot);
    raises RedisUnavailable. For display only (the admin transcript): nothing is deleted or rebuilt here.
    """
    with guarded("window_peek") as client:
        pipe = client.pipeline(transaction=True)
        pipe.hmget(keys.window_meta(tenant_id, conversation_id), *META_FIELDS)
        pipe.llen(keys.window(tenant_id, conversation_id))
        pipe.lindex(keys.window(tenant_id, conversation_id), 0)
        pipe.lindex(keys.window(tenant_id, conversation_id), -1)
        meta, length, head, tail = pipe.execute()
    if None in meta or int(meta[4]) != length or length == 0:
        return None
    if head.split(b":", 1)[0] != meta[5] or tail.split(b":", 1)[0] != meta[6]:
        return None
    return int(meta[5]), int(meta[1]), int(meta[0])


def response_remember(*, tenant_id: int, response_id: str, conversation_id: str, last_seq: int) -> None:
    """Write the response index entry (and remember the place in process); nothing when Redis is unavailable."""
    place_remember(tenant_id, response_id, conversation_id, last_seq)
    try:
        with guarded("response_remember") as client:
            client.set(keys.response_index(tenant_id, response_id), f"{last_seq}:{conversation_id}", ex=_response_ttl())
    except RedisUnavailable:
        pass

