"""The lifecycle's Celery tasks: pinned names, sweeps that rediscover work, summaries enqueued after commit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from archive_app.models import ArchiveSegment, LifecycleEvent
from convostore.celery import app
from sessions_app.models import Conversation
from sessions_app.services import conversation_append

pytestmark = pytest.mark.django_db
PINNED = ["convostore.evict_idle", "convostore.enforce_hot_budget", "convostore.archive_sweep",
          "convostore.archive_conversation", "convostore.purge_expired"]


def fill(tenant, conversation_id, count):
    for start in range(0, count, 20):
        items = [{"role": "user", "content": f"{conversation_id} {i}"} for i in range(start, min(count, start + 20))]
        conversation_append(tenant=tenant, conversation_id=conversation_id, items=items)


def test_pinned_task_names_are_registered():
    app.loader.import_default_modules()
    assert set(PINNED) <= set(app.tasks)


def test_sweeps_chain_evict_then_archive(tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "ARCHIVE_MIN_ITEMS": 10}
    tenant.window_size = 5
    tenant.save()
    fill(tenant, "idle", 8)
    fill(tenant, "busy", 30)  # hot, 25 beyond its window of 5
    Conversation.objects.filter(conversation_id="idle").update(last_active_at=timezone.now() - timedelta(hours=1))

    assert app.tasks["convostore.evict_idle"].apply().get() == 1
    assert app.tasks["convostore.archive_sweep"].apply().get() == 2
    tiers = dict(Conversation.objects.values_list("conversation_id", "tier"))
    assert tiers == {"idle": "cold", "busy": "hot"}
    busy = Conversation.objects.get(conversation_id="busy")
    assert busy.archived_upto_seq == 25 and busy.items.count() == 5
    assert app.tasks["convostore.archive_sweep"].apply().get() == 0
    event = LifecycleEvent.objects.get(kind="archive")
    assert (event.conversations, event.items) == (2, 33)


def test_archive_enqueues_the_summary_after_commit(tenant, django_capture_on_commit_callbacks):
    fill(tenant, "s", 4)
    Conversation.objects.filter(conversation_id="s").update(tier="warm")
    pk = Conversation.objects.get(conversation_id="s").pk
    with django_capture_on_commit_callbacks() as callbacks:
        assert app.tasks["convostore.archive_conversation"].apply(args=[pk]).get() == ArchiveSegment.objects.get().pk
    assert len(callbacks) == 1  # sent by name once the archive committed, never before


def test_enforce_hot_budget_and_purge_tasks_run(tenant):
    fill(tenant, "x", 3)
    assert app.tasks["convostore.enforce_hot_budget"].apply().get() == 0
    assert app.tasks["convostore.purge_expired"].apply().get() == 0
    Conversation.objects.update(ttl_seconds=1, last_active_at=timezone.now() - timedelta(minutes=1))
    assert app.tasks["convostore.purge_expired"].apply().get() == 1
    assert not Conversation.objects.exists()
