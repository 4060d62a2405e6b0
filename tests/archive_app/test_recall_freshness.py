"""A new turn is recallable by the next turn: the append's own pipeline queues it, the drainer embeds it."""

import threading

import pytest

from archive_app.models import Memory
from cache_app import embed_queue
from sessions_app.context.build import ContextRequest, context_build
from sessions_app.context.targets import context_target
from sessions_app.lifecycle import drain, embed_pending
from sessions_app.services import conversation_append

pytestmark = pytest.mark.django_db


def turns(tenant, conversation_id, count, topic="weather"):
    for n in range(count):
        conversation_append(tenant=tenant, conversation_id=conversation_id, items=[
            {"role": "user", "content": f"Question {n} about the {topic} in city number {n}?"},
            {"role": "assistant", "content": f"Answer {n}: the {topic} in city {n} is fine."},
        ])


def test_an_append_queues_its_conversation_in_the_same_pipeline(tenant, django_assert_max_num_queries):
    turns(tenant, "fresh", 1)
    assert embed_queue.take(10) == [(tenant.pk, "fresh")]
    assert embed_queue.take(10) == []


def test_old_turns_are_recallable_right_after_the_drain_not_after_the_sweep(tenant):
    """The issue's check: 120 turns appended, then an old one queried: found without running the embed sweep."""
    turns(tenant, "long", 60, topic="weather")
    turns(tenant, "long", 60, topic="database index")
    assert embed_pending() == 1  # the queue held the conversation once, however many appends
    assert Memory.objects.filter(conversation__conversation_id="long").count() == 120
    target = context_target(tenant=tenant, conversation_id="long")
    body = context_build(tenant=tenant, target=target,
                         request=ContextRequest(max_tokens=400, recall_k=3, query="the weather in city number 7"))
    assert "city number 7" in body or "city 7" in body


@pytest.mark.django_db(transaction=True)  # the drainer thread has its own connection: the rows must be committed
def test_the_drainer_loop_embeds_what_is_queued_and_stops(tenant):
    turns(tenant, "loop", 2)
    stop = threading.Event()
    worker = threading.Thread(target=drain.drain, kwargs={"stop": stop, "idle": 0.05})
    worker.start()
    try:
        for _ in range(200):  # waits for the condition; the loop checks again every 50 ms
            if Memory.objects.filter(conversation__conversation_id="loop").count() == 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        worker.join(10)
    assert Memory.objects.filter(conversation__conversation_id="loop").count() == 2 and not worker.is_alive()
