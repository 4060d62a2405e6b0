"""The semantic cache's deferred writes: counters, hit bumps and sweeps a lookup queues instead of sending.

A lookup answers after ONE round trip: what it has to write afterwards (hit/miss/store counters, a hit's
LRU + hit-count bump, sweeping expired entries it saw) is queued in this process, coalesced, and sent in
the pipeline of a later call (``run_pipeline``): a store, the counters, deletes and purges always send it
first; a lookup sends it once the oldest queued write is older than FLUSH_AFTER_S.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from . import keys
from .redis_client import evalsha_sha, pipeline_run, script

ALIAS = "semantic"
_MAX_DEFERRED_SCRIPTS = 1000  # sweeps queued at most; hits are coalesced per entry
FLUSH_AFTER_S = 0.1

_lock = threading.Lock()
_deferred_counts: dict[tuple[str, str], int] = defaultdict(int)
_deferred_hits: dict[tuple, list] = {}  # (body, lru, hits keys, member) -> [latest now, count]
_deferred_scripts: list[tuple[str, list, list]] = []
_oldest = {"at": None}


def _mark() -> None:
    if _oldest["at"] is None:
        _oldest["at"] = time.monotonic()


def defer_count(tenant_id: int, namespace: str | None, event: str, amount: int = 1) -> None:
    """Queue counter increments (global total, tenant total, tenant × namespace) for the next pipeline."""
    if not amount:
        return
    with _lock:
        _deferred_counts[(keys.semantic_counters(), event)] += amount
        _deferred_counts[(keys.semantic_counters(tenant_id), event)] += amount
        if namespace is not None:
            _deferred_counts[(keys.semantic_counters(tenant_id), f"{event}|{namespace}")] += amount
        _mark()


def defer_hit(scope_keys: list, member: str, now: float) -> None:
    """Queue a hit's LRU bump and hit count (semantic_hit.lua); repeated hits on an entry coalesce."""
    with _lock:
        slot = _deferred_hits.setdefault((scope_keys[3], scope_keys[4], scope_keys[6], member), [now, 0])
        slot[0], slot[1] = max(slot[0], now), slot[1] + 1
        _mark()


def defer_script(name: str, keys_: list, args: list) -> None:
    """Queue a Lua script call (hit bump, expired sweep) for the next pipeline; dropped beyond a bound."""
    with _lock:
        if len(_deferred_scripts) < _MAX_DEFERRED_SCRIPTS:
            _deferred_scripts.append((name, keys_, args))
            _mark()


def _take_deferred(force: bool):
    global _deferred_counts, _deferred_hits, _deferred_scripts
    at = _oldest["at"]
    if at is None or not force and time.monotonic() - at < FLUSH_AFTER_S:
        return {}, {}, []
    with _lock:
        taken = _deferred_counts, _deferred_hits, _deferred_scripts
        _deferred_counts, _deferred_hits, _deferred_scripts = defaultdict(int), {}, []
        _oldest["at"] = None
    return taken


def run_pipeline(client, build, *, force: bool = True) -> list:
    """One round trip: the deferred writes (all, or with ``force=False`` only once they are FLUSH_AFTER_S
    old), then the commands ``build(pipe)`` queues; returns the latter's results.

    Runs through redis_client.pipeline_run (lost scripts are reloaded). If the pipeline fails the
    deferred writes are lost: counters are best effort.
    """
    counts, hits, scripts = _take_deferred(force)

    def queue(pipe):
        for (body_key, lru_key, hits_key, member), (now, times) in hits.items():
            evalsha_sha(pipe, script("semantic_hit", ALIAS).sha, [body_key, lru_key, hits_key], [member, now, times])
        for name, keys_, args in scripts:
            evalsha_sha(pipe, script(name, ALIAS).sha, keys_, args)
        for (key, field), amount in counts.items():
            pipe.hincrby(key, field, amount)
        build(pipe)

    return pipeline_run(client, queue)[len(hits) + len(scripts) + len(counts):]
