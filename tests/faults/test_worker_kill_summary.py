"""A real Celery worker SIGKILLed mid-summary: rerunning leaves exactly one summary per point, none lost."""

import time

import pytest

from archive_app.models import Summary
from sessions_app.models import Conversation
from sessions_app.services import conversation_append
from tests.archive_app.test_worker_kill_archive import QUEUE, send, start_worker, wait_for

CONVERSATIONS = 60


@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_summary_then_rerun_summarises_each_conversation_once(tenant, own_redis, redis_prefix, tmp_path):
    from sessions_app.lifecycle import summary_refresh
    from convostore.celery import app

    tenant.window_size = 8
    tenant.summary_threshold_tokens = 50
    tenant.save()
    for n in range(CONVERSATIONS):
        items = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"c{n} t{i}: the quick brown fox " * 8} for i in range(20)]
        conversation_append(tenant=tenant, conversation_id=f"s{n}", items=items)
    pks = list(Conversation.objects.filter(tenant=tenant).values_list("pk", flat=True))
    broker = own_redis.url.rsplit("/", 1)[0] + "/1"
    worker = start_worker(broker, own_redis.url, redis_prefix, tmp_path / "worker1.log")
    try:
        send(app, broker, "convostore.summarise_conversation", [[pk] for pk in pks])
        wait_for(lambda: Summary.objects.filter(conversation__tenant=tenant).exists(), "the first summary")
        worker.kill()  # SIGKILL, mid-run
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    done_at_kill = Summary.objects.filter(conversation__tenant=tenant).count()
    assert done_at_kill < CONVERSATIONS, "the worker finished before it could be killed; make the run longer"

    worker = start_worker(broker, own_redis.url, redis_prefix, tmp_path / "worker2.log")
    try:
        send(app, broker, "convostore.summarise_conversation", [[pk] for pk in pks])
        wait_for(lambda: Summary.objects.filter(conversation__tenant=tenant).values("conversation").distinct().count() == CONVERSATIONS,
                 "every conversation summarised", deadline_seconds=120)
    finally:
        worker.kill()
        worker.wait(10)

    for pk in pks:
        summaries = list(Summary.objects.filter(conversation_id=pk).values_list("upto_seq", flat=True))
        assert len(summaries) == len(set(summaries)) == 1, (pk, summaries)
        conversation = Conversation.objects.get(pk=pk)
        # Idempotent: running it again in-process changes nothing.
        summary_refresh(conversation=conversation)
        assert Summary.objects.filter(conversation_id=pk).count() == 1
