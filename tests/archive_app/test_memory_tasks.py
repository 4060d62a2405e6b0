"""Summarise/embed tasks and commands: idempotent, and the sweeps rediscover missing work."""

import pytest
from django.core.management import call_command

from archive_app.models import Memory, Summary
from sessions_app.lifecycle import tasks
from convostore.celery import app
from sessions_app.models import Conversation
from sessions_app.services import conversation_append

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def chat(tenant, conversation_id, turns, start=0):
    for n in range(start, start + turns):
        conversation_append(
            tenant=tenant,
            conversation_id=conversation_id,
            items=[
                {"role": "user", "content": f"Question {n} about replication lag on the reporting replica?"},
                {"role": "assistant", "content": f"Answer {n}: check wal_receiver and the network between the nodes."},
            ],
        )
    return Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)


@pytest.fixture
def small_window(tenant):
    tenant.window_size, tenant.summary_threshold_tokens = 4, 30
    tenant.save()
    return tenant


def test_embed_task_is_idempotent_and_replaces_a_grown_turn(tenant):
    conversation = chat(tenant, "e", 3)
    assert tasks.embed_conversation(conversation.pk) == 3
    assert tasks.embed_conversation(conversation.pk) == 0
    assert sorted(Memory.objects.filter(conversation=conversation).values_list("first_seq", "last_seq")) == [(1, 2), (3, 4), (5, 6)]
    conversation_append(tenant=tenant, conversation_id="e", items=[{"role": "assistant", "content": "One more thing: check disk IO."}])
    assert tasks.embed_conversation(conversation.pk) == 1
    assert sorted(Memory.objects.filter(conversation=conversation).values_list("first_seq", "last_seq")) == [(1, 2), (3, 4), (5, 7)]


def test_embed_sweep_finds_unembedded_turns_and_summaries(tenant, small_window, eager):
    done = chat(tenant, "done", 2)
    tasks.embed_conversation(done.pk)
    pending = chat(tenant, "pending", 2)
    assert tasks.embed_sweep() == 1
    assert Memory.objects.filter(conversation=pending).count() == 2
    assert tasks.embed_sweep() == 0
    pending = chat(tenant, "pending", 10, start=2)
    tasks.embed_conversation(pending.pk)
    assert tasks.summarise_conversation(pending.pk) == 20
    assert tasks.embed_sweep() == 1  # the new summary has no embedding yet
    summary = Summary.objects.get(conversation=pending)
    assert summary.embedding is not None
    assert Memory.objects.filter(conversation=pending, kind="summary").values_list("last_seq", flat=True).get() == 20
    assert tasks.embed_sweep() == 0


def test_summarise_task_and_sweep_are_idempotent(tenant, small_window, eager):
    conversation = chat(tenant, "s", 12)
    chat(tenant, "short", 1)
    assert tasks.summarise_sweep() == 1
    assert Summary.objects.filter(conversation=conversation).count() == 1
    assert tasks.summarise_conversation(conversation.pk) is None
    assert tasks.summarise_sweep() == 0
    assert tasks.summarise_conversation(999_999) is None  # a deleted conversation is not an error


def test_commands_summarise_embed_and_reindex(tenant, small_window):
    chat(tenant, "cmd", 12)
    call_command("summarise", verbosity=0)
    call_command("embed", verbosity=0)
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="cmd")
    assert Summary.objects.filter(conversation=conversation).exists()
    assert Memory.objects.filter(conversation=conversation).count() == 13  # 12 turns and the summary
    Memory.objects.filter(conversation=conversation).update(embedder="old:model")
    call_command("reindex_embeddings", verbosity=0)
    assert set(Memory.objects.values_list("embedder", flat=True)) == {"local:minilm-l6-v2-static-256"}
