"""Where a semantic lookup's time goes (bench/semantic_cache.py): each stage of cache_lookup timed on its own, the
Lua script's time inside Redis (INFO commandstats, nothing else running on the server) and the work it did
(bucket list entries scanned, records returned): what a lookup costs beside a trivial EVALSHA, and why."""

from __future__ import annotations

import time

import numpy as np

from cache_app import semantic
from cache_app.redis_client import script
from cache_app.semantic_index import MEMBER_WIDTH, MIN_VOTES, PROBES, TABLES, probe_fields

INLINE_ARGS = (semantic.INLINE_BODIES, semantic.INLINE_BODY_BYTES)


def _p50_us(samples) -> float:
    return round(float(np.median(samples)) * 1e6, 1)


def _server_usec_per_call(client, calls) -> float:
    """Mean µs inside Redis of the EVALSHAs ``calls()`` sends (commandstats reset first; the bench's Redis is its own)."""
    client.config_resetstat()
    calls()
    return round(float(client.info("commandstats").get("cmdstat_evalsha", {}).get("usec_per_call", 0.0)), 1)


def breakdown(client, skeys: list, queries: np.ndarray, *, threshold: float, trivial_sha: str) -> dict:
    """p50 µs of each stage for ``queries``, the server's µs per lookup script and per trivial script, and the
    lookup's work: bucket fields probed (fixed), list entries scanned and records returned (p50 and max)."""
    # long: one pass per stage keeps the stages apart; the dict is the bench's output
    sha = script("semantic_lookup", "semantic").sha
    probes, calls, scoring, scanned, returned, replies = [], [], [], [], [], []
    for query in queries:
        started = time.perf_counter()
        fields = probe_fields(query)
        probes.append(time.perf_counter() - started)
        args = [MEMBER_WIDTH, MIN_VOTES, semantic.vote_budget(), *INLINE_ARGS, fields]
        started = time.perf_counter()
        reply = client.evalsha(sha, len(skeys), *skeys, *args)
        calls.append(time.perf_counter() - started)
        replies.append((reply, query))
        scanned.append(int(reply[3]))
        returned.append(len(reply[1]) // MEMBER_WIDTH)
    for reply, query in replies:
        started = time.perf_counter()
        semantic._candidates(reply, query, skeys, threshold=threshold, now=time.time(), text=None)
        scoring.append(time.perf_counter() - started)
    all_fields = [probe_fields(query) for query in queries]
    lookup_server = _server_usec_per_call(client, lambda: [client.evalsha(sha, len(skeys), *skeys, MEMBER_WIDTH, MIN_VOTES,
                                                                          semantic.vote_budget(), *INLINE_ARGS, f) for f in all_fields])
    trivial_server = _server_usec_per_call(client, lambda: [client.evalsha(trivial_sha, 0) for _ in all_fields])
    return {
        "bucket_fields_probed": TABLES * PROBES,
        "list_entries_scanned_p50": float(np.median(scanned)), "list_entries_scanned_max": int(max(scanned)),
        "records_returned_p50": float(np.median(returned)), "records_returned_max": int(max(returned)),
        "probe_fields_p50_us": _p50_us(probes),
        "lookup_script_round_trip_p50_us": _p50_us(calls),
        "lookup_script_in_redis_us": lookup_server,
        "trivial_script_in_redis_us": trivial_server,
        "scoring_p50_us": _p50_us(scoring),
    }


def probe_sweep(client, skeys: list, stored: np.ndarray, queries: np.ndarray, picks: np.ndarray) -> list[dict]:
    """Fewer probes per table (the first P of each table's PROBES, most likely first): the share of ``queries``
    (each near ``stored[pick]``) whose own entry is still among the candidates, and the script's µs inside Redis."""
    sha = script("semantic_lookup", "semantic").sha
    fields = [probe_fields(query) for query in queries]
    rows = []
    for probes in (PROBES, 16, 12, 8):
        subsets = [b"".join(f[(t * PROBES) * 3:(t * PROBES + probes) * 3] for t in range(TABLES)) for f in fields]
        found = 0
        for subset, pick in zip(subsets, picks):
            reply = client.evalsha(sha, len(skeys), *skeys, MEMBER_WIDTH, MIN_VOTES, semantic.vote_budget(), 0, 0, subset)
            records = semantic.unpack_records(reply[2], stored.shape[1])
            found += bool((records["vec"] == stored[pick].astype(np.float16)).all(axis=1).any())
        server = _server_usec_per_call(client, lambda subsets=subsets: [
            client.evalsha(sha, len(skeys), *skeys, MEMBER_WIDTH, MIN_VOTES, semantic.vote_budget(), *INLINE_ARGS, s) for s in subsets])
        rows.append({"probes_per_table": probes, "bucket_fields": TABLES * probes, "own_entry_found": found / len(picks),
                     "lookup_script_in_redis_us": server})
    return rows
