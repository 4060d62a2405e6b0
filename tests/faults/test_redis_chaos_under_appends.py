"""Redis flushed, stopped and restarted while writers append: nothing acknowledged is lost or duplicated."""

import threading
import time

import pytest

from cache_app import redis_client
from sessions_app.models import Conversation
from sessions_app.selectors import context_entries, response_resolve
from sessions_app.services import conversation_append, response_store

WRITERS = 6


@pytest.mark.django_db(transaction=True)
def test_flush_stop_and_restart_under_concurrent_appends(tenant, own_redis):
    from django.db import connection

    acknowledged = {f"chaos-{i}": [] for i in range(WRITERS)}
    failures = []
    stop = threading.Event()

    def writer(conversation_id):
        n = 0
        try:
            while not stop.is_set():
                n += 1
                outcome = conversation_append(tenant=tenant, conversation_id=conversation_id,
                                              items=[{"role": "user", "content": f"{conversation_id} #{n}"}])
                acknowledged[conversation_id].append(outcome.body["items"][0]["id"])
        except Exception as exc:  # an append must never fail because of Redis
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(c,)) for c in acknowledged]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        redis_client.connection("hot").flushall()
        time.sleep(0.5)
        own_redis.stop()
        time.sleep(1.0)
        own_redis.start()
        redis_client.reset_breaker()
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    assert failures == []
    assert all(len(ids) > 3 for ids in acknowledged.values())
    for conversation in Conversation.objects.filter(tenant=tenant):
        entries = context_entries(conversation, conversation.last_seq)
        ids = [e.raw for e in entries]
        assert len(ids) == len(set(ids))
        assert [e.seq for e in entries] == list(range(1, conversation.last_seq + 1))
        stored_ids = {__import__("json").loads(raw)["id"] for raw in ids}
        assert set(acknowledged[conversation.conversation_id]) <= stored_ids
        # After the chaos, a resolve from (rebuilt) Redis equals Postgres, byte for byte.
        stored = response_store(tenant=tenant, conversation_id=conversation.conversation_id, input_items=[],
                                output_items=[{"role": "assistant", "content": "end"}])
        first = response_resolve(tenant=tenant, response_id=stored.body["response_id"]).body_json()
        second = response_resolve(tenant=tenant, response_id=stored.body["response_id"]).body_json()
        assert first == second
