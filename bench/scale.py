"""Scale-out measurements: sizing inputs for docs/scaling.md, and what a Redis Cluster costs per call.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/scale.py [--conversations N] [--calls C]

Sizing (on the Postgres and plain Redis of the run): Redis bytes per hot conversation of 40 items,
Postgres bytes per item hot (heap + indexes + TOAST) and archived, the archive ratio, appends and
resolves per app core (process CPU per call, in-process), archive throughput per worker core.
Cluster costs: the same Redis calls against the plain Redis and a 3+3 Redis Cluster on loopback, p50/p99
and the number of node writes per call. Writes bench/results/scale.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import django_setup, machine, markdown_table, percentiles, write_result  # noqa: E402

django_setup("bench.settings_bench")

import django.test.signals  # noqa: E402,F401  (override_settings resets the cache handlers through these)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402
from redis.connection import Connection  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from archive_app.models import ArchiveSegment  # noqa: E402
from bench.lifecycle import turn_items  # noqa: E402
from cache_app import api_keys, embedding_cache, eviction, hot_window, keys, redis_client, semantic, semantic_purge  # noqa: E402
from cache_app.hot_window import Entry  # noqa: E402
from sessions_app import lifecycle  # noqa: E402
from sessions_app.lifecycle.tasks import archive_sweep  # noqa: E402
from sessions_app.models import Conversation, Item, Tenant  # noqa: E402
from sessions_app.services import api_key_create, conversation_append, response_store  # noqa: E402
from tests.scale.engines import RedisClusterProcess  # noqa: E402


def relation_bytes(model) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [model._meta.db_table])
        return cursor.fetchone()[0]


def sizing(count: int, rng: random.Random) -> dict:
    """Fill ``count`` conversations of 40 items (two appends of 20, one stored response each), measure, archive."""
    # long: one pass that fills, measures the hot tier, archives and measures the cold tier, in order
    tenant = Tenant.objects.create(name=f"bench-scale-{uuid.uuid4().hex[:8]}", window_size=64)
    redis = redis_client.connection("hot")
    redis.flushall()
    before = redis.info("memory")["used_memory"]
    responses = []
    for n in range(count):
        items = turn_items(rng, 38)
        for start in range(0, 38, 19):
            conversation_append(tenant=tenant, conversation_id=f"s{n}", items=items[start : start + 19])
        stored = response_store(tenant=tenant, conversation_id=f"s{n}", input_items=[{"role": "user", "content": "and?"}],
                                output_items=[{"role": "assistant", "content": "done " + " ".join(rng.sample(items[0].get("content", "x y").split(), 1))}])
        responses.append(stored.body["response_id"])
    redis_used = redis.info("memory")["used_memory"] - before
    conversations = list(Conversation.objects.filter(tenant=tenant))
    items = Item.objects.filter(conversation__tenant=tenant).count()
    json_bytes = sum(c.byte_count for c in conversations)
    window_bytes = statistics.median(
        (redis.memory_usage(keys.window(tenant.pk, c.conversation_id), samples=0) or 0)
        + (redis.memory_usage(keys.window_meta(tenant.pk, c.conversation_id), samples=0) or 0) for c in conversations)
    response_index_bytes = statistics.median(redis.memory_usage(keys.response_index(tenant.pk, r), samples=0) or 0 for r in responses)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    hot_item_bytes = relation_bytes(Item) / items
    conversation_row_bytes = relation_bytes(Conversation) / len(conversations)

    # appends and resolves per app core: process CPU per request through the whole Django/DRF stack
    # (authentication, rate limit, serializers), in-process; Postgres and Redis run in their own processes
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(tenant=tenant, name='bench').raw_key}")
    appends, resolves = [], []
    for n in range(300):
        cpu = time.process_time()
        answer = client.post(f"/v1/sessions/s{n % count}/append", {"role": "user", "content": f"more {n}"}, format="json")
        appends.append(time.process_time() - cpu)
        assert answer.status_code == 201, answer.content
    for n in range(600):
        cpu = time.process_time()
        answer = client.get("/v1/sessions/resolve", {"previous_response_id": responses[n % len(responses)]})
        resolves.append(time.process_time() - cpu)
        assert answer.status_code == 200, answer.content

    started = time.perf_counter()
    evicted = lifecycle.evict_idle(now=timezone.now() + timedelta(days=1), tenant=tenant)
    archived = archive_sweep.run()
    archive_seconds = time.perf_counter() - started
    segments = ArchiveSegment.objects.filter(conversation__tenant=tenant)
    raw = sum(s.raw_bytes for s in segments)
    stored = sum(s.stored_bytes for s in segments)
    archived_items = sum(s.item_count for s in segments)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {
        "conversations": count, "items_per_conversation": round(items / count, 1),
        "json_bytes_per_item": round(json_bytes / items, 1),
        "redis_bytes_per_hot_conversation": round(redis_used / count),
        "redis_window_bytes_per_conversation": round(window_bytes),
        "redis_bytes_per_response_index_entry": round(response_index_bytes),
        "postgres_bytes_per_hot_item": round(hot_item_bytes),
        "postgres_bytes_per_conversation_row": round(conversation_row_bytes),
        "postgres_bytes_per_archived_item": round(relation_bytes(ArchiveSegment) / max(1, archived_items), 1),
        "archive_ratio_stored_over_raw": round(stored / raw, 3) if raw else None,
        "app_cpu_ms_per_append": round(statistics.median(appends) * 1000, 3),
        "app_cpu_ms_per_hot_resolve": round(statistics.median(resolves) * 1000, 3),
        "appends_per_app_core_per_s": round(1 / statistics.median(appends)),
        "resolves_per_app_core_per_s": round(1 / statistics.median(resolves)),
        "archived_conversations_per_worker_core_per_s": round(archived / archive_seconds, 1),
        "evicted": evicted, "archived": archived,
    }


class Writes:
    """Counts command packets written (one per node a pipeline touches)."""

    def __init__(self):
        self.count = 0
        self.original = Connection.send_packed_command

    def __enter__(self):
        writes, original = self, self.original

        def counting(conn, command, check_health=True):
            writes.count += 1
            return original(conn, command, check_health)

        Connection.send_packed_command = counting
        return self

    def __exit__(self, *exc):
        Connection.send_packed_command = self.original


def timed(call, calls: int, setup=None) -> dict:
    samples, writes = [], []
    for _ in range(calls):
        if setup is not None:
            setup()
        with Writes() as counted:
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        writes.append(counted.count)
    return {**percentiles(samples), "writes_per_call": statistics.median(writes)}


def redis_calls(calls: int) -> dict:
    """Each multi-slot (and hot-path) Redis call of the project on whatever CACHES now point at."""
    tenant_id, conversation = 9_000_001, "bench-conv"
    key_hash = hashlib.sha256(b"bench-key").hexdigest()
    api_keys.key_entry_store(key_hash, {"key_id": 1, "tenant": {"id": tenant_id}, "expires_at": None})
    entries = [Entry(seq, 12, '{"role":"user","content":"' + "w" * 200 + '"}') for seq in range(1, 41)]
    hot_window.window_rebuild(tenant_id=tenant_id, conversation_id=conversation, version=40, last_seq=40, tokens=480,
                              window_size=64, entries=entries, full=True)
    hot_window.response_remember(tenant_id=tenant_id, response_id="resp_bench", conversation_id=conversation, last_seq=40)
    state = {"version": 40}

    def extend():
        state["version"] += 1
        hot_window.window_extend(tenant_id=tenant_id, conversation_id=conversation, previous_version=state["version"] - 1,
                                 version=state["version"], last_seq=state["version"], tokens_added=12, window_size=64,
                                 entries=[Entry(state["version"], 12, '{"role":"user","content":"more"}')], created_empty=False,
                                 responses=[(f"resp_{state['version']}", state["version"])])

    for i in range(100):
        embedding_cache.embedding_put(tenant_id=tenant_id, key=f"k{i}", vector=[float(i), 1.0, 0.5], model="m")
    members = [(tenant_id, f"evict-{i}") for i in range(100)]

    def scopes():
        for i in range(20):
            semantic.cache_store(tenant_id=tenant_id, namespace=f"ns{i}", response={"a": i}, embedding=[1.0, float(i)])

    return {
        "auth_with_response_index": timed(lambda: api_keys.key_entry_read(key_hash, [hot_window.response_lookup_query(tenant_id=tenant_id, response_id="resp_bench")]), calls),
        "append_redis_step": timed(extend, calls),
        "resolve_window_join": timed(lambda: hot_window.window_join(tenant_id=tenant_id, conversation_id=conversation,
                                                                    upto_seq=state["version"]), calls),
        "embedding_batch_get_100": timed(lambda: embedding_cache.embedding_batch_get(tenant_id=tenant_id, keys_=[f"k{i}" for i in range(100)]), calls),
        "evict_drop_100_windows": timed(lambda: eviction.windows_drop_many(members), max(20, calls // 10)),
        "semantic_purge_tenant_20_scopes": timed(lambda: semantic_purge.purge_tenant(tenant_id=tenant_id), 20, setup=scopes),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    results = {"machine": machine(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
    with override_settings(CONVOSTORE={**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}):
        results["sizing"] = sizing(args.conversations, random.Random(13))

    prefix = f"bscale{uuid.uuid4().hex[:6]}"
    with override_settings(CONVOSTORE={**settings.CONVOSTORE, "KEY_PREFIX": prefix}):
        results["redis_plain"] = redis_calls(args.calls)
        engine = RedisClusterProcess().start()
        try:
            caches = {alias: {**c, "LOCATION": engine.url, "OPTIONS": {**c["OPTIONS"], "CLIENT_CLASS": "cache_app.cluster.ClusterClient"}}
                      for alias, c in settings.CACHES.items()}
            with override_settings(CACHES=caches):
                redis_client.reset_breaker()
                results["redis_cluster"] = redis_calls(args.calls)
        finally:
            engine.stop()
    path = write_result("scale", results)

    size = results["sizing"]
    print(markdown_table(["measure", "value"], [[name, value] for name, value in size.items()]))
    print()
    rows = []
    for name, plain in results["redis_plain"].items():
        cluster = results["redis_cluster"][name]
        rows.append([name, plain["p50_ms"], plain["p99_ms"], plain["writes_per_call"], cluster["p50_ms"], cluster["p99_ms"], cluster["writes_per_call"]])
    print(markdown_table(["call", "single p50 ms", "single p99 ms", "writes", "cluster p50 ms", "cluster p99 ms", "writes"], rows))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
