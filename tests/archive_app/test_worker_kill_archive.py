"""A real Celery worker SIGKILLed mid-archive: rerunning (queue + sweep) loses and duplicates nothing."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from archive_app.models import ArchiveSegment
from archive_app.segments import segment_items
from sessions_app.models import Conversation, Item
from sessions_app.selectors import context_entries
from sessions_app.services import conversation_append

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 120
ITEMS = 40
# Only lifecycle work on this queue: the summaries the archive enqueues (default queue) stay out of the test.
QUEUE = "lifecycle-kill-test"


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(broker_url, redis_url, key_prefix, log_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "convostore.settings.base",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url,
        "CONVOSTORE_KEY_PREFIX": key_prefix,
    }
    celery = str(Path(sys.executable).parent / "celery")
    return subprocess.Popen(
        [celery, "-A", "convostore", "worker", "--pool", "solo", "-l", "warning", "-Q", QUEUE,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, cwd=ROOT, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
    )


def wait_for(condition, what, deadline_seconds=45, step=0.02):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def send(app, broker_url, name, args_list):
    with app.connection_for_write(broker_url) as conn:
        for args in args_list:
            app.send_task(name, args=args, connection=conn, queue=QUEUE)


def archived_seqs(conversation_pk):
    seqs = []
    for segment in ArchiveSegment.objects.filter(conversation_id=conversation_pk).order_by("first_seq"):
        seqs += [item.seq for item in segment_items(segment)]
    return seqs


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_archive_then_rerun_loses_and_duplicates_nothing(tenant, own_redis, redis_prefix, tmp_path):
    from convostore.celery import app

    for n in range(CONVERSATIONS):
        for start in (0, 20):
            items = [{"role": "user", "content": f"conversation {n} turn {i}: " + "words and more words " * 6} for i in range(start, start + 20)]
            conversation_append(tenant=tenant, conversation_id=f"k{n}", items=items)
    conversations = list(Conversation.objects.filter(tenant=tenant).order_by("pk"))
    before = {c.pk: context_entries(c, c.last_seq) for c in conversations}
    Conversation.objects.filter(tenant=tenant).update(tier="warm")  # evicted: archive everything

    broker_url = f"redis://127.0.0.1:{own_redis.port}/1"
    log = tmp_path / "worker.log"
    send(app, broker_url, "convostore.archive_conversation", [[c.pk] for c in conversations])
    worker = start_worker(broker_url, own_redis.url, redis_prefix, log)
    try:
        wait_for(lambda: ArchiveSegment.objects.exists(), "the first segment")
        worker.kill()  # SIGKILL: no clean-up, no ack of the task in flight
        worker.wait(10)
        done_at_kill = ArchiveSegment.objects.count()

        # Whatever the kill interrupted, each conversation is wholly rows or wholly segments.
        for c in conversations:
            rows = list(Item.objects.filter(conversation_id=c.pk).values_list("seq", flat=True).order_by("seq"))
            assert sorted(rows + archived_seqs(c.pk)) == list(range(1, ITEMS + 1))

        # Rerun: a fresh worker drains the queue, and the sweep rediscovers what the lost message carried.
        worker = start_worker(broker_url, own_redis.url, redis_prefix, log)
        send(app, broker_url, "convostore.archive_sweep", [[]])
        wait_for(lambda: not Item.objects.filter(conversation__tenant=tenant).exists(), "every row archived", step=0.2)
        wait_for(lambda: not Conversation.objects.filter(tenant=tenant).exclude(tier="cold").exists(), "every tier cold", step=0.2)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)

    assert done_at_kill >= 1
    for c in conversations:
        assert archived_seqs(c.pk) == list(range(1, ITEMS + 1)), c.conversation_id  # each item exactly once
        fresh = Conversation.objects.get(pk=c.pk)
        assert fresh.archived_upto_seq == ITEMS
        assert context_entries(fresh, fresh.last_seq) == before[c.pk]  # byte-identical
