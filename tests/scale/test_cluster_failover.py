"""Redis Cluster failover under load: 8 writers store responses and resolve them while one master is failed
over (CLUSTER FAILOVER) and another is SIGKILLed. Nothing acknowledged is lost, no answer is ever wrong
(only Postgres fallbacks or a 503), and once the cluster settles every read is byte-identical to Postgres.

The degraded window (first to last Redis failure seen by the app) goes to tests/artifacts/cluster_failover.json
and docs/reliability.md; nothing here asserts on time.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from cache_app import redis_client
from sessions_app.models import Conversation
from sessions_app.selectors import context_entries
from sessions_app.services import api_key_create, tenant_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WRITERS = 8
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


class Http:
    """One keep-alive connection per writer thread to the live server."""

    def __init__(self, base: str, key: str):
        parsed = urlparse(base)
        self.host, self.port, self.key = parsed.hostname, parsed.port, key
        self.conn = None

    def call(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.request(method, path, body=None if body is None else json.dumps(body),
                                  headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"})
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn = None  # the server closed a kept-alive connection: reconnect once
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _item(role: str, text: str) -> dict:
    return {"role": role, "content": text}


def _writer(http: Http, conversation_id: str, stop: threading.Event, record: dict, lock: threading.Lock) -> None:
    """Store a turn, then resolve it: the answer must be exactly the turns acknowledged so far, in order."""
    n = 0
    expected: list[tuple[str, str]] = []
    while not stop.is_set():
        n += 1
        turn = [_item("user", f"{conversation_id} q{n}"), _item("assistant", f"{conversation_id} a{n} ✓")]
        status, body = http.call("POST", "/v1/sessions/responses", {"conversation_id": conversation_id, "input": turn[:1], "output": turn[1:]})
        with lock:
            record["statuses"].append(status)
        if status != 201:
            if status != 503 or json.loads(body)["error"]["type"] != "server_error":
                record["bad"].append(("store", status, body[:200]))
            return  # outcome unknown: this writer's expectations end here (the final reconciliation still runs)
        stored = json.loads(body)
        expected += [(item["role"], item["content"]) for item in turn]
        with lock:
            record["acknowledged"].setdefault(conversation_id, []).append(stored["response_id"])
        status, body = http.call("GET", f"/v1/sessions/resolve?previous_response_id={stored['response_id']}")
        with lock:
            record["statuses"].append(status)
        if status == 503:
            continue
        answer = json.loads(body) if status == 200 else None
        if answer is None or [(i["role"], i["content"]) for i in answer["items"]] != expected or answer["version"] < stored["version"]:
            with lock:
                record["bad"].append(("resolve", status, body[:300]))


def _failures_sampler(stop: threading.Event, samples: list) -> None:
    while not stop.is_set():
        samples.append((time.monotonic(), redis_client.failures["count"]))
        time.sleep(0.01)


def _degraded(samples: list, since: float, until: float = float("inf")) -> dict:
    """First and last moment (seconds after ``since``, before ``until``) at which the Redis failure count grew."""
    grew = [t for (t, count), (_, before) in zip(samples[1:], samples) if count > before and since <= t < until]
    if not grew:
        return {"first_s": None, "last_s": None, "window_s": 0.0}
    return {"first_s": round(grew[0] - since, 3), "last_s": round(grew[-1] - since, 3), "window_s": round(grew[-1] - grew[0], 3)}


def _resolve_all(client: APIClient, acknowledged: dict) -> dict[str, bytes]:
    """Every acknowledged response resolved (in-process: the same view, without loopback HTTP latency)."""
    bodies = {}
    for response_ids in acknowledged.values():
        for response_id in response_ids:
            response = client.get("/v1/sessions/resolve", {"previous_response_id": response_id})
            assert response.status_code == 200, response.content
            bodies[response_id] = response.content
    return bodies


def test_failover_and_a_killed_master_lose_nothing_and_never_answer_wrong(live_server, redis_cluster, settings):
    # long: one scenario, in order: load, manual failover, kill, settle, reconcile
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    tenant, _ = tenant_create(name="failover")
    key = api_key_create(tenant=tenant).raw_key
    record = {"statuses": [], "bad": [], "acknowledged": {}}
    lock, stop, sampling = threading.Lock(), threading.Event(), threading.Event()
    samples: list = []
    threads = [threading.Thread(target=_writer, args=(Http(live_server.url, key), f"fo-{i}", stop, record, lock)) for i in range(WRITERS)]
    sampler = threading.Thread(target=_failures_sampler, args=(sampling, samples))
    sampler.start()
    for thread in threads:
        thread.start()
    timeline = {}
    try:
        time.sleep(1.5)
        first, second = redis_cluster.masters_now()[:2]
        started = time.monotonic()
        promoted = redis_cluster.failover(first)
        timeline["failover_s"] = round(time.monotonic() - started, 3)
        redis_cluster.wait_healthy()
        time.sleep(1.0)
        killed_at = time.monotonic()
        redis_cluster.kill(second)
        timeline["settled_after_kill_s"] = round(redis_cluster.wait_healthy(), 3)
        time.sleep(2.0)  # the breaker closes and the writers run on the settled cluster
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        sampling.set()
        sampler.join(10)

    assert record["bad"] == [], record["bad"][:3]
    statuses = record["statuses"]
    assert set(statuses) <= {200, 201, 503}
    during_failover = _degraded(samples, started, killed_at)
    during_kill = _degraded(samples, killed_at)

    # Reconciliation: every acknowledged response is in Postgres exactly once, in order, and every read
    # is byte-identical whether Redis serves it (hot) or Postgres does (after FLUSHALL on every master).
    from django.db import connection

    connection.close()
    for conversation in Conversation.objects.filter(tenant=tenant):
        entries = context_entries(conversation, conversation.last_seq)
        assert [e.seq for e in entries] == list(range(1, conversation.last_seq + 1))
        texts = [json.loads(e.raw)["content"] for e in entries]
        assert len(texts) == len(set(texts))
        assert len(entries) >= 2 * len(record["acknowledged"].get(conversation.conversation_id, []))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    redis_client.reset_breaker()
    hot = _resolve_all(client, record["acknowledged"])
    redis_cluster.flushall()
    cold = _resolve_all(client, record["acknowledged"])
    rebuilt = _resolve_all(client, record["acknowledged"])
    assert hot == cold == rebuilt
    assert sum(len(ids) for ids in record["acknowledged"].values()) > 8 * WRITERS

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cluster_failover.json").write_text(json.dumps({
        "writers": WRITERS, "requests": len(statuses), "status_counts": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "acknowledged_responses": sum(len(ids) for ids in record["acknowledged"].values()),
        "manual_failover": {"promoted": promoted, **timeline, "redis_failures_seen": during_failover},
        "sigkill": {"killed": second, "redis_failures_seen": during_kill},
    }, indent=2))
