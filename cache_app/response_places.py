"""Where each response lives (conversation id, last seq), remembered in this process: a guess that lets resolve
read the window in the same Redis round trip as the response index.

Only a guess, never an answer: resolve reads the response index (authoritative, as before) in that same
round trip, and uses the window read there only when it was read for the conversation the index names (the
query's name holds the window's key, see redis_client.query_run; hot_window.window_join cuts it at the last seq
the index names); otherwise it reads the window the
index names in a second round trip, or Postgres on an index miss, as it did before. So an entry gone stale (the
response or its conversation deleted, the index expired or lost, a client-chosen response id stored again
elsewhere after a delete) costs that second round trip, never a wrong or short answer; the entry is then
replaced by what the index or Postgres said. A stored response otherwise keeps its place (a fork makes a new
conversation), so nothing expires an entry: the map holds the PLACES most recently used responses (least
recently used dropped first), keyed by tenant id and response id.
"""

from __future__ import annotations

import threading

from cachetools import LRUCache

PLACES = 10_000  # responses remembered per process: about 2 MB at the longest ids

_lock = threading.Lock()
_places: LRUCache = LRUCache(maxsize=PLACES)


def place_get(tenant_id: int, response_id: str) -> tuple[str, int] | None:
    """(conversation id, last seq) last learnt for the response, or None."""
    with _lock:
        return _places.get((tenant_id, response_id))


def place_remember(tenant_id: int, response_id: str, conversation_id: str, last_seq: int) -> None:
    """Remember where the response lives (learnt from the response index, Postgres or a write of the index)."""
    with _lock:
        _places[(tenant_id, response_id)] = (conversation_id, last_seq)


def place_forget(tenant_id: int, response_id: str) -> None:
    with _lock:
        _places.pop((tenant_id, response_id), None)


def places_clear() -> None:
    """Forget every place (tests)."""
    with _lock:
        _places.clear()
