"""Archive and rehydrate: reads are byte-identical before, after archiving, and after rehydrating; rows restore exactly."""

from datetime import timedelta

import pytest
from django.utils import timezone

from archive_app.models import ArchiveSegment, LifecycleEvent
from sessions_app.lifecycle.selectors import archivable_conversations
from sessions_app import lifecycle
from cache_app import hot_window
from sessions_app.models import Conversation, Item
from sessions_app.selectors import context_entries

pytestmark = pytest.mark.django_db
ROW_FIELDS = ("seq", "item_id", "type", "role", "raw", "byte_size", "token_count", "response_id", "created_at")


def store(api, conversation_id=None, previous=None, turn=0):
    body = {
        "input": [{"role": "user", "content": f"Question {turn}: ünïcödé ✓ \"quoted\" \\ and a tab\t {'x' * (turn % 7)}"}],
        "output": [
            {"type": "function_call", "call_id": f"call_{turn}", "name": "lookup", "arguments": "{\"q\": %d}" % turn},
            {"role": "assistant", "content": f"Answer {turn} — 日本語のテキスト {turn * 17}"},
        ],
        "model": "m",
    }
    if conversation_id:
        body["conversation_id"] = conversation_id
    if previous:
        body["previous_response_id"] = previous
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["response_id"]


def conversation_with_turns(api, conversation_id, turns):
    response_ids = [store(api, conversation_id=conversation_id, turn=0)]
    for turn in range(1, turns):
        response_ids.append(store(api, previous=response_ids[-1], turn=turn))
    return response_ids


def snapshot(api, conversation_id, response_ids):
    resolved = [api.get("/v1/sessions/resolve", {"previous_response_id": r}).content for r in response_ids]
    pages = api.get(f"/v1/sessions/{conversation_id}/items", {"limit": 100}).content
    return resolved, pages


def rows_of(conversation):
    return list(Item.objects.filter(conversation=conversation).order_by("seq").values_list(*ROW_FIELDS))


def drop_window(tenant, conversation_id):
    hot_window.window_drop(tenant_id=tenant.pk, conversation_id=conversation_id, forget_lru=True)


def test_evicted_conversation_archives_whole_and_reads_stay_byte_identical(api, tenant):
    response_ids = conversation_with_turns(api, "chat", 8)  # 24 items
    before = snapshot(api, "chat", response_ids)
    conversation = Conversation.objects.get(conversation_id="chat")
    rows_before = rows_of(conversation)

    assert lifecycle.evict_idle(now=timezone.now() + timedelta(days=1)) == 1
    segment = lifecycle.conversation_archive(conversation=Conversation.objects.get(pk=conversation.pk))
    assert segment is not None and (segment.first_seq, segment.last_seq, segment.item_count) == (1, 24, 24)
    conversation.refresh_from_db()
    assert (conversation.tier, conversation.archived_upto_seq) == ("cold", 24)
    assert not Item.objects.filter(conversation=conversation).exists()
    assert segment.codec == 1 and segment.code_table is None and segment.stored_bytes < segment.raw_bytes
    event = LifecycleEvent.objects.get(kind="archive")
    assert (event.items, event.raw_bytes, event.stored_bytes) == (24, segment.raw_bytes, segment.stored_bytes)

    assert snapshot(api, "chat", response_ids) == before  # decoded from the segment (and the window rebuilt)
    drop_window(tenant, "chat")
    assert snapshot(api, "chat", response_ids) == before
    # Idempotent: a rerun finds nothing to do and writes nothing.
    assert lifecycle.conversation_archive(conversation=conversation) is None
    assert ArchiveSegment.objects.count() == 1 and LifecycleEvent.objects.filter(kind="archive").count() == 1

    drop_window(tenant, "chat")
    assert lifecycle.conversation_rehydrate(conversation=conversation) == 24
    conversation.refresh_from_db()
    assert (conversation.tier, conversation.archived_upto_seq) == ("hot", 0)
    assert not ArchiveSegment.objects.exists()
    assert rows_of(conversation) == rows_before  # every field, created_at and response included
    assert snapshot(api, "chat", response_ids) == before


def test_hot_conversation_archives_only_beyond_its_window(api, tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "ARCHIVE_MIN_ITEMS": 6}
    tenant.window_size = 9
    tenant.save()
    response_ids = conversation_with_turns(api, "long", 4)  # 12 items: 3 beyond the window, fewer than 6
    conversation = Conversation.objects.get(conversation_id="long")
    assert lifecycle.conversation_archive(conversation=conversation) is None
    assert conversation not in archivable_conversations()
    for turn in range(4, 8):  # 24 items, 15 beyond
        response_ids.append(store(api, previous=response_ids[-1], turn=turn))
    assert conversation in archivable_conversations()
    drop_window(tenant, "long")
    before = snapshot(api, "long", response_ids)

    segment = lifecycle.conversation_archive(conversation=conversation)
    assert (segment.first_seq, segment.last_seq) == (1, 15)
    conversation.refresh_from_db()
    assert (conversation.tier, conversation.archived_upto_seq) == ("hot", 15)
    assert list(Item.objects.filter(conversation=conversation).values_list("seq", flat=True).order_by("seq")) == list(range(16, 25))
    assert conversation not in archivable_conversations()
    drop_window(tenant, "long")
    assert snapshot(api, "long", response_ids) == before
    assert [e.seq for e in context_entries(conversation, conversation.last_seq)] == list(range(1, 25))


def test_forks_of_an_archived_parent_resolve_the_same(api, tenant):
    parent_ids = conversation_with_turns(api, "root", 5)  # 15 items
    child_id = store(api, previous=parent_ids[2], turn=50)  # forks at seq 9
    child = Conversation.objects.get(parent__conversation_id="root")
    grandchild_id = store(api, previous=child_id, turn=51)
    before = [api.get("/v1/sessions/resolve", {"previous_response_id": r}).content for r in (child_id, grandchild_id, parent_ids[-1])]

    root = Conversation.objects.get(conversation_id="root")
    assert lifecycle.evict_idle(now=timezone.now() + timedelta(days=1), tenant=tenant) == 2
    assert lifecycle.conversation_archive(conversation=root) is not None
    assert lifecycle.conversation_archive(conversation=child) is not None
    for conversation_id in ("root", child.conversation_id):
        drop_window(tenant, conversation_id)
    after = [api.get("/v1/sessions/resolve", {"previous_response_id": r}).content for r in (child_id, grandchild_id, parent_ids[-1])]
    assert after == before
    child.refresh_from_db()
    assert child.archived_upto_seq == child.last_seq and child.tier == "cold"


def test_appending_to_a_cold_conversation_then_archiving_again(api, tenant):
    response_ids = conversation_with_turns(api, "again", 3)
    conversation = Conversation.objects.get(conversation_id="again")
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    response_ids.append(store(api, previous=response_ids[-1], turn=3))
    conversation.refresh_from_db()
    assert conversation.tier == "hot"  # active again: eviction, not the append, decides when it leaves
    before = snapshot(api, "again", response_ids)
    segment = lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    assert (segment.first_seq, segment.last_seq) == (10, 12)
    assert ArchiveSegment.objects.filter(conversation=conversation).count() == 2
    drop_window(tenant, "again")
    assert snapshot(api, "again", response_ids) == before
    assert lifecycle.segments_verify()["ok"] == 2


def test_large_conversations_split_into_several_segments(api, tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_MAX_ITEMS": 5}
    response_ids = conversation_with_turns(api, "split", 4)
    before = snapshot(api, "split", response_ids)
    conversation = Conversation.objects.get(conversation_id="split")
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    ranges = list(ArchiveSegment.objects.order_by("first_seq").values_list("first_seq", "last_seq"))
    assert ranges == [(1, 5), (6, 10), (11, 12)]
    drop_window(tenant, "split")
    assert snapshot(api, "split", response_ids) == before


def test_archived_item_delete_reencodes_its_segment(api, tenant):
    from archive_app.segments import segment_item_remove
    from sessions_app.services import item_delete

    conversation_with_turns(api, "del", 2)
    conversation = Conversation.objects.get(conversation_id="del")
    doomed = Item.objects.get(conversation=conversation, seq=2)
    counts = (conversation.item_count, conversation.byte_count, conversation.token_count)
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    conversation.refresh_from_db()

    assert segment_item_remove(conversation_pk=conversation.pk, tenant_id=tenant.pk, item_id="nope") is None
    item_delete(tenant=tenant, conversation_id="del", item_id=doomed.item_id)
    conversation.refresh_from_db()
    assert (conversation.item_count, conversation.byte_count, conversation.token_count) == (
        counts[0] - 1, counts[1] - doomed.byte_size, counts[2] - doomed.token_count,
    )
    segment = ArchiveSegment.objects.get(conversation=conversation)
    assert segment.item_count == 5 and segment.first_seq == 1
    drop_window(tenant, "del")
    seqs = [e.seq for e in context_entries(conversation, conversation.last_seq)]
    assert seqs == [1, 3, 4, 5, 6]
    # Deleting the first item moves the segment's first seq.
    first = rows_of_segment(conversation)[0]
    item_delete(tenant=tenant, conversation_id="del", item_id=first)
    assert ArchiveSegment.objects.get(conversation=conversation).first_seq == 3
    assert lifecycle.segments_verify()["corrupt"] == 0


def rows_of_segment(conversation):
    import json

    return [json.loads(e.raw)["id"] for e in context_entries(conversation, conversation.last_seq)]


def test_archive_sweep_finds_evicted_and_long_conversations(api, tenant):
    from sessions_app.lifecycle.tasks import archive_conversation

    conversation_with_turns(api, "w1", 2)
    conversation_with_turns(api, "h1", 2)
    Conversation.objects.filter(conversation_id="w1").update(tier="warm")
    found = list(archivable_conversations().values_list("conversation_id", flat=True))
    assert found == ["w1"]
    pk = Conversation.objects.get(conversation_id="w1").pk
    assert archive_conversation(pk) is not None  # the task body, called in-process
    assert archive_conversation(pk) is None
    assert archive_conversation(10**9) is None
    assert list(archivable_conversations()) == []


def test_segments_in_a_storage_backend(api, tenant, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.STORAGES = {**settings.STORAGES, "archive": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_STORAGE": "archive"}
    response_ids = conversation_with_turns(api, "s3ish", 3)
    before = snapshot(api, "s3ish", response_ids)
    conversation = Conversation.objects.get(conversation_id="s3ish")
    segment = lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    segment.refresh_from_db()
    assert segment.payload is None and segment.storage_name
    stored = tmp_path / segment.storage_name
    assert stored.exists() and stored.stat().st_size == segment.stored_bytes
    drop_window(tenant, "s3ish")
    assert snapshot(api, "s3ish", response_ids) == before
    assert lifecycle.segments_verify()["ok"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.conversation_rehydrate(conversation=conversation) == 9
    assert not stored.exists()


def test_archived_item_ids_finds_ids_in_segments(api):
    from archive_app.selectors import archived_item_ids

    conversation_with_turns(api, "ids", 2)
    conversation = Conversation.objects.get(conversation_id="ids")
    first = Item.objects.get(conversation=conversation, seq=1).item_id
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    assert archived_item_ids([(conversation.pk, None)], [first, "msg_unknown"]) == {first}
