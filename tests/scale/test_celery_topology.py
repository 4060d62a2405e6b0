"""Celery on several nodes: tasks routed to queues by kind of work, and one beat at a time (a second is a standby)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from convostore.beat import BEAT_LOCK
from tests.archive_app.test_worker_kill_archive import database_url

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"lifecycle": {"evict_idle", "archive_sweep", "archive_conversation", "purge_expired", "enforce_hot_budget"},
         "memory": {"summarise_sweep", "summarise_conversation", "embed_sweep", "embed_conversation"},
         "default": {"outbox_sweep", "idempotency_cleanup"}}


def test_every_task_is_routed_to_the_queue_of_its_kind():
    from convostore.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith("convostore.")}
    unrouted = ours - set(settings.CELERY_TASK_ROUTES)
    assert not unrouted, f"route these tasks to a queue in CELERY_TASK_ROUTES: {sorted(unrouted)}"
    for queue, names in KINDS.items():
        for name in names:
            assert app.amqp.router.route({}, f"convostore.{name}")["queue"].name == queue
    assert set(settings.CELERY_TASK_QUEUES) == set(KINDS)


def test_the_embed_drainer_runs_only_where_embedding_work_is_consumed():
    from sessions_app.lifecycle.drain import consumes_memory_queue

    class Queue:
        def __init__(self, name):
            self.name = name

    def consumer(*names):
        return type("Consumer", (), {"task_consumer": type("TaskConsumer", (), {"queues": [Queue(n) for n in names]})()})()

    assert consumes_memory_queue(consumer("default", "lifecycle", "memory"))
    assert consumes_memory_queue(consumer("memory"))
    assert not consumes_memory_queue(consumer("lifecycle"))
    assert consumes_memory_queue(None)  # queues unknown: drain (a single all-queues worker)


def _start_beat(tmp_path, name):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "convostore.settings.base", "DATABASE_URL": database_url(),
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "LOG_FORMAT": "plain"}
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "convostore", "beat", "-l", "info",
         "-s", str(tmp_path / f"{name}-schedule"), "--pidfile", str(tmp_path / f"{name}.pid")],
        env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )
    return process, log


def _lock_holders() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = %s", [BEAT_LOCK])
        return [row[0] for row in cursor.fetchall()]


def _wait(condition, what, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_stands_by_and_takes_over_when_the_first_dies(tmp_path):
    first, first_log = _start_beat(tmp_path, "first")
    second = None
    try:
        _wait(lambda: len(_lock_holders()) == 1, "the first beat to take the lock")
        second, second_log = _start_beat(tmp_path, "second")
        _wait(lambda: "standing by" in second_log.read_text(), "the second beat to stand by")
        assert len(_lock_holders()) == 1
        holder = _lock_holders()[0]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        _wait(lambda: "beat lock taken" in second_log.read_text(), "the second beat to take over")
        assert len(_lock_holders()) == 1 and _lock_holders()[0] != holder
        assert "beat lock taken" in first_log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(20)
