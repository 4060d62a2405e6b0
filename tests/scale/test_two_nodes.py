"""Two app nodes, two Celery workers and two beats against one Postgres and a Redis Cluster, under the mixed
load of tests/load: 0 errors, every acknowledged item present exactly once, reads byte-identical from
either node and from Postgres, with eviction and archiving running through beat and the workers.

Node A and node B are two gunicorn instances on different ports; one worker consumes ``lifecycle``, the
other ``memory`` and ``default``; the second beat stands by on the beat lock. Counts go to
tests/artifacts/two-nodes.json.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from archive_app.models import ArchiveSegment
from sessions_app.models import Conversation, Response
from sessions_app.selectors import context_entries
from sessions_app.services import api_key_create, tenant_create
from tests.archive_app.test_worker_kill_archive import database_url, wait_for
from tests.conftest import RedisProcess
from tests.load.test_mixed_load import CLIENTS, Client, _worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
SECONDS, CONVERSATIONS = 20, 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Node:
    """The processes of the run, each with its log in ``tmp_path``."""

    def __init__(self, env: dict, tmp_path: Path):
        self.env, self.tmp_path, self.processes = env, tmp_path, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp_path / f"{name}.log", "ab")
        process = subprocess.Popen([str(Path(sys.executable).parent / args[0]), *args[1:]], env=self.env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def gunicorn(self, name: str) -> str:
        port = _free_port()
        self.start(name, "gunicorn", "convostore.wsgi", "-c", "python:convostore.gunicorn_conf", "-b", f"127.0.0.1:{port}",
                   "-w", "2", "--log-level", "warning")
        wait_for(lambda: _listening(port), f"{name} to listen")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _schedule_every_two_seconds(*names: str) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    for name in names:
        PeriodicTask.objects.update_or_create(name=f"two-nodes {name}", defaults={"task": name, "interval": every})


def test_two_app_nodes_two_workers_and_two_beats_lose_nothing(redis_cluster, redis_prefix, tmp_path):
    # long: one scenario: start the topology, load it, let the lifecycle catch up, reconcile
    broker = RedisProcess().start()
    tenant, _ = tenant_create(name="two-nodes")
    tenant.evict_after_seconds = 2
    tenant.save(update_fields=["evict_after_seconds"])
    key = api_key_create(tenant=tenant).raw_key
    _schedule_every_two_seconds("convostore.evict_idle", "convostore.archive_sweep", "convostore.outbox_sweep")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "convostore.settings.base", "DATABASE_URL": database_url(),
           "REDIS_URL": redis_cluster.url, "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.port}/0",
           "CONVOSTORE_KEY_PREFIX": redis_prefix, "CONVOSTORE_RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "WARNING",
           "CONVOSTORE_EMBED_DRAIN_IDLE_SECONDS": "0"}
    node = Node(env, tmp_path)
    try:
        bases = [node.gunicorn("node-a"), node.gunicorn("node-b")]
        node.start("worker-lifecycle", "celery", "-A", "convostore", "worker", "-Q", "lifecycle", "-c", "1", "-n", "lifecycle@%h",
                   "-l", "warning", "--without-gossip", "--without-mingle")
        node.start("worker-memory", "celery", "-A", "convostore", "worker", "-Q", "memory,default", "-c", "1", "-n", "memory@%h",
                   "-l", "warning", "--without-gossip", "--without-mingle")
        for name in ("beat-1", "beat-2"):
            node.start(name, "celery", "-A", "convostore", "beat", "-l", "info", "-s", str(tmp_path / f"{name}.db"),
                       "--pidfile", str(tmp_path / f"{name}.pid"))

        conversations = [f"tn-{i}" for i in range(CONVERSATIONS)]
        acknowledged = {c: [] for c in conversations}
        latencies = {k: [] for k in ("append", "respond", "resolve", "context", "cache")}
        errors, lock = [], threading.Lock()
        deadline = time.monotonic() + SECONDS
        threads = [threading.Thread(target=_worker, args=(Client(bases[i % 2], key), i, deadline, 10_000, conversations,
                                                          acknowledged, latencies, errors, lock)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 120)
        assert errors == [], errors[:5]
        wait_for(lambda: ArchiveSegment.objects.filter(conversation__tenant=tenant).exists(), "archiving by the workers", 60, 0.2)
        wait_for(lambda: not Conversation.objects.filter(tenant=tenant, tier=Conversation.Tier.HOT).exists(),
                 "every conversation evicted", 60, 0.2)
        beat_logs = [(tmp_path / f"beat-{n}.log").read_text() for n in (1, 2)]
        assert sum("beat lock taken" in log for log in beat_logs) == 1
    finally:
        node.stop()
        broker.stop()

    connection.close()
    items = 0
    for conversation in Conversation.objects.filter(tenant=tenant):
        entries = context_entries(conversation, conversation.last_seq)
        ids = [json.loads(entry.raw)["id"] for entry in entries]
        assert len(ids) == len(set(ids)), "an item appears twice"
        assert [e.seq for e in entries] == list(range(1, conversation.last_seq + 1)), "seqs not gapless"
        assert set(acknowledged[conversation.conversation_id]) <= set(ids), "an acknowledged item is missing"
        items += len(ids)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response_ids = list(Response.objects.filter(tenant=tenant).values_list("response_id", flat=True))
    first = {r: client.get("/v1/sessions/resolve", {"previous_response_id": r}).content for r in response_ids}
    redis_cluster.flushall()
    assert {r: client.get("/v1/sessions/resolve", {"previous_response_id": r}).content for r in response_ids} == first
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "two-nodes.json").write_text(json.dumps({
        "seconds": SECONDS, "clients": CLIENTS, "conversations": CONVERSATIONS, "requests": {k: len(v) for k, v in latencies.items()},
        "items_reconciled": items, "responses_compared": len(response_ids),
        "archive_segments": ArchiveSegment.objects.filter(conversation__tenant=tenant).count(), "errors": len(errors),
    }, indent=2))
