"""The lifecycle's management commands: archive, rehydrate, verify_archives, train_code_table, archive_stats, purge."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from archive_app.codec import ArchiveCorrupt
from archive_app.models import ArchiveSegment, CodeTable, LifecycleEvent
from archive_app.selectors import segment_entries
from sessions_app import lifecycle
from cache_app import hot_window
from sessions_app.models import Conversation, Item, Tombstone

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def append(api, conversation_id, count=10, offset=0):
    items = [
        {"role": "user" if i % 2 else "assistant", "content": f"Turn {i} of {conversation_id}: the answer is {i * 7} apples."}
        for i in range(offset, offset + count)
    ]
    for start in range(0, count, 20):
        response = api.post(f"/v1/sessions/{conversation_id}/append", {"items": items[start : start + 20]}, format="json")
        assert response.status_code == 201, response.content


def items_bytes(api, conversation_id):
    return api.get(f"/v1/sessions/{conversation_id}/items", {"limit": 100}).content


def test_archive_and_rehydrate_commands(api, tenant):
    append(api, "c1")
    append(api, "c2")
    before = items_bytes(api, "c1")
    assert "1 conversation archived" in run("archive", "--conversation", "c1", "--tenant", tenant.name)
    assert Conversation.objects.get(conversation_id="c1").tier == "cold"
    Conversation.objects.filter(conversation_id="c2").update(tier="warm")
    assert "1 conversation archived" in run("archive", "--all")
    assert run("archive", "--all").startswith("0 conversations archived")
    hot_window.window_drop(tenant_id=tenant.pk, conversation_id="c1")
    assert items_bytes(api, "c1") == before
    assert "10 items restored to c1" in run("rehydrate", "c1")
    assert Item.objects.filter(conversation__conversation_id="c1").count() == 10
    assert items_bytes(api, "c1") == before
    with pytest.raises(CommandError):
        run("rehydrate", "missing")
    with pytest.raises(CommandError):
        run("archive", "--conversation", "missing")


def test_verify_archives_detects_a_corrupted_payload(api, tenant):
    append(api, "good")
    append(api, "bad")
    for conversation in Conversation.objects.all():
        lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    assert "2 segments checked: 2 ok, 0 corrupt" in run("verify_archives")

    bad = ArchiveSegment.objects.get(conversation__conversation_id="bad")
    damaged = bytearray(bytes(bad.payload))
    damaged[len(damaged) // 2] ^= 0x40
    ArchiveSegment.objects.filter(pk=bad.pk).update(payload=bytes(damaged))

    report = lifecycle.segments_verify()
    assert (report["checked"], report["ok"], report["corrupt"], report["corrupt_ids"]) == (2, 1, 1, [bad.pk])
    out = run("verify_archives")
    assert "2 segments checked: 1 ok, 1 corrupt" in out and f"corrupt segment {bad.pk}: " in out
    with pytest.raises(CommandError, match="1 corrupt segments"):
        run("verify_archives", "--strict")
    # A damaged segment is never read as wrong text: the read fails loudly.
    bad_conversation = Conversation.objects.get(conversation_id="bad")
    with pytest.raises(ArchiveCorrupt):
        segment_entries(bad_conversation.path(), bad_conversation.last_seq)
    assert lifecycle.segments_verify(conversations=Conversation.objects.filter(conversation_id="good"))["corrupt"] == 0


def test_train_code_table_then_new_segments_use_token_huffman(api, tenant):
    append(api, "corpus", count=60)
    with pytest.raises(CommandError):
        run("train_code_table", "--tenant", "no-such-tenant")
    out = run("train_code_table", "--tenant", tenant.name)
    table = CodeTable.objects.get(tenant=tenant)
    assert f"code table {table.table_id}" in out
    append(api, "later", count=30, offset=100)
    before = items_bytes(api, "later")
    segment = lifecycle.conversation_archive(conversation=Conversation.objects.get(conversation_id="later"), keep_window=False)
    assert segment.codec == 2 and segment.code_table_id == table.pk
    hot_window.window_drop(tenant_id=tenant.pk, conversation_id="later")
    assert items_bytes(api, "later") == before
    stats = {row["codec_name"]: row for row in json.loads(run("archive_stats", "--json"))}
    assert stats["token-huffman"]["segments"] == 1 and stats["token-huffman"]["items"] == 30
    assert 0 < stats["token-huffman"]["ratio"] < 1


def test_train_code_table_needs_items(tenant):
    with pytest.raises(CommandError, match="no items"):
        run("train_code_table", "--tenant", tenant.name)


def test_archive_stats_table(api):
    assert "no segments yet" in run("archive_stats")
    append(api, "s")
    lifecycle.conversation_archive(conversation=Conversation.objects.get(conversation_id="s"), keep_window=False)
    out = run("archive_stats")
    assert "byte-huffman" in out and "ratio" in out
    row = lifecycle.archive_stats()[0]
    assert row["segments"] == 1 and row["items"] == 10 and row["stored_bytes"] < row["raw_bytes"]


def test_purge_expired_deletes_by_ttl_and_retention(api, tenant, other_api, other_tenant):
    append(api, "keep")
    append(api, "ephemeral")
    append(other_api, "old")
    Conversation.objects.filter(conversation_id="ephemeral").update(ttl_seconds=60, last_active_at=timezone.now() - timedelta(minutes=5))
    other_tenant.retention_days = 1
    other_tenant.save()
    Conversation.objects.filter(conversation_id="old").update(last_active_at=timezone.now() - timedelta(days=2))
    lifecycle.conversation_archive(conversation=Conversation.objects.get(conversation_id="old"), keep_window=False)

    assert "2 conversations purged" in run("purge_expired")
    assert list(Conversation.objects.values_list("conversation_id", flat=True)) == ["keep"]
    assert not ArchiveSegment.objects.exists()
    assert Tombstone.objects.filter(conversation_id__in=["ephemeral", "old"]).count() == 2
    assert LifecycleEvent.objects.filter(kind="purge").count() == 2
    assert lifecycle.purge_expired() == 0
