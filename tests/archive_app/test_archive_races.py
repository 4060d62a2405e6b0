"""An append racing an archive: the archive waits for the conversation's row lock and loses nothing."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from sessions_app import lifecycle
from archive_app.segments import segment_items
from sessions_app.models import Conversation, Item
from sessions_app.selectors import context_entries
from sessions_app.services import conversation_append


def wait_for_lock_waiter(deadline_seconds=20):
    deadline = time.monotonic() + deadline_seconds
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # stats views are cached for the transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the archive never waited for the row lock")


@pytest.mark.django_db(transaction=True)
def test_archive_waits_for_an_append_holding_the_row_lock(tenant):
    conversation_append(tenant=tenant, conversation_id="race", items=[{"role": "user", "content": f"m{i}"} for i in range(10)])
    Conversation.objects.filter(conversation_id="race").update(tier="warm")
    conversation = Conversation.objects.get(conversation_id="race")
    outcome = {}

    def archive():
        try:
            outcome["segment"] = lifecycle.conversation_archive(
                conversation=Conversation.objects.get(pk=conversation.pk), keep_window=False
            )
        finally:
            connection.close()

    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=conversation.pk)  # as an append's transaction does
        worker = threading.Thread(target=archive)
        worker.start()
        wait_for_lock_waiter()
        conversation_append(tenant=tenant, conversation_id="race", items=[{"role": "user", "content": "late"}])
    worker.join(30)

    segment = outcome["segment"]
    assert (segment.first_seq, segment.last_seq, segment.item_count) == (1, 11, 11)  # the late item is in it
    assert not Item.objects.filter(conversation=conversation).exists()
    assert [item.seq for item in segment_items(segment)] == list(range(1, 12))
    conversation.refresh_from_db()
    assert [e.seq for e in context_entries(conversation, conversation.last_seq)] == list(range(1, 12))
