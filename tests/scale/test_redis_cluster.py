"""What only a Redis Cluster exercises: URL form and start-up errors, lost scripts on every node, routing
without extra round trips, and the slots each path touches. (The behaviour suites run on a cluster with
``--redis-cluster``; see the Makefile.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from redis.connection import Connection
from redis.crc import key_slot

from cache_app import cluster, embedding_cache, hot_window, keys, redis_client
from tests.scale.engines import RedisClusterProcess, redis_cli
from tests.scale.plugin import cluster_caches

ROOT = Path(__file__).resolve().parents[2]


def test_a_cluster_url_names_startup_nodes_and_no_database():
    location = cluster.cluster_location("rediss+cluster://u:p%40ss@10.0.0.1:7000,10.0.0.2:7001,redis-3")
    assert location["nodes"] == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("redis-3", 6379)]
    assert location["ssl"] is True and location["username"] == "u" and location["password"] == "p@ss"
    assert cluster.cluster_location("redis+cluster://127.0.0.1:7000/")["ssl"] is False
    for bad in ("redis+cluster://127.0.0.1:7000/2", "redis+cluster://", "redis://127.0.0.1:6379/0", "redis+cluster://h:port"):
        with pytest.raises(ImproperlyConfigured):
            cluster.cluster_location(bad)


def _settings_error(**env) -> str:
    """stderr of loading the base settings with ``env`` ('' when they load)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CELERY_"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="convostore.settings.base")
    done = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=clean, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return done.stderr


def test_start_up_refuses_a_cluster_without_a_broker_or_with_a_database_number():
    assert "set CELERY_BROKER_URL" in _settings_error(REDIS_URL="redis+cluster://127.0.0.1:7000")
    assert "no database number" in _settings_error(REDIS_URL="redis+cluster://127.0.0.1:7000/1", CELERY_BROKER_URL="redis://b:6379/1")
    assert "cannot be a Redis Cluster" in _settings_error(REDIS_URL="redis://r:6379/0", CELERY_BROKER_URL="redis+cluster://b:7000")
    assert _settings_error(REDIS_URL="redis+cluster://127.0.0.1:7000", CELERY_BROKER_URL="redis://127.0.0.1:6379/1") == ""
    assert _settings_error(REDIS_URL="redis://r:6379/0", REDIS_SEMANTIC_URL="redis+cluster://127.0.0.1:7000") == ""


@pytest.fixture(scope="module")
def module_cluster():
    engine = RedisClusterProcess().start()
    yield engine
    engine.stop()


@pytest.fixture
def on_cluster(module_cluster, settings):
    settings.CACHES = cluster_caches(settings.CACHES, module_cluster.url)
    redis_client.reset_breaker()
    return module_cluster


@pytest.fixture
def sent(monkeypatch):
    """Every command packet written, as (node port, first words)."""
    log: list[tuple[int, bytes]] = []
    original = Connection.send_packed_command

    def record(self, command, check_health=True):
        packed = command if isinstance(command, bytes) else b"".join(command)
        log.append((self.port, packed[:80]))
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", record)
    return log


def test_every_key_of_a_conversation_or_a_semantic_scope_shares_one_slot():
    conversation = [keys.window(7, "c:1"), keys.window_meta(7, "c:1"), keys.context_header(7, "c:1")]
    assert len({key_slot(k.encode()) for k in conversation}) == 1
    assert len({key_slot(k.encode()) for k in keys.semantic_scope_keys(7, "0123456789abcdef")}) == 1
    tenant = [keys.embedding(7, "a"), keys.embedding(7, "b", server=True), keys.embedding_index(7), keys.response_index(7, "r")]
    assert len({key_slot(k.encode()) for k in tenant}) == 1  # a tenant's embeddings batch in one MGET


@pytest.mark.django_db
def test_scripts_flushed_from_every_node_are_reloaded_and_nothing_falls_back(on_cluster, api):
    assert api.post("/v1/sessions/c1/append", {"role": "user", "content": "one"}, format="json").status_code == 201
    for port in on_cluster.masters_now():
        redis_cli("-p", str(port), "script", "flush")
    failures = redis_client.failures["count"]
    stored = api.post("/v1/sessions/responses", {"conversation_id": "c1", "input": [], "output": [{"role": "assistant", "content": "two"}]},
                      format="json").json()
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]})
    assert resolved.status_code == 200 and [i["content"] for i in resolved.json()["items"]] == ["one", "two"]
    assert redis_client.failures["count"] == failures  # NOSCRIPT was answered by a reload, not a fallback
    window = hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="c1")
    assert window is not None and window.last_seq == 2


@pytest.mark.django_db
def test_an_append_pipeline_writes_once_per_node_and_never_asks_for_keys(on_cluster, api, sent):
    api.post("/v1/sessions/c2/append", {"role": "user", "content": "warm"}, format="json")  # slot map, key cache, scripts
    sent.clear()
    assert api.post("/v1/sessions/c2/append", {"role": "user", "content": "again"}, format="json").status_code == 201
    assert not [packet for _, packet in sent if b"GETKEYS" in packet]
    # auth (key entry + rate counter) and the append's pipeline (window script, LRU bucket, embed queue):
    # each a single write per node it touches, at most one per master
    assert len(sent) <= 2 * len(on_cluster.masters_now())


@pytest.mark.django_db
def test_a_tenants_embedding_batch_is_one_mget_on_one_node(on_cluster, tenant, sent):
    for i in range(20):
        embedding_cache.embedding_put(tenant_id=tenant.pk, key=f"k{i}", vector=[float(i), 1.0], model="m")
    sent.clear()
    found = embedding_cache.embedding_batch_get(tenant_id=tenant.pk, keys_=[f"k{i}" for i in range(25)])
    assert [f is not None for f in found] == [True] * 20 + [False] * 5
    assert len(sent) == 1 and b"MGET" in sent[0][1]


@pytest.mark.django_db
def test_readyz_pings_every_primary(on_cluster, client):
    body = client.get("/readyz").json()
    assert body["redis"] == "ok" and body["redis_primaries"] == 3
