"""GDPR delete leaves no residue: every Postgres table and every Redis key is scanned after the delete."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

from archive_app.models import ArchiveSegment, Memory, Summary
from sessions_app.lifecycle import conversation_archive, conversation_evict
from sessions_app.lifecycle import conversation_embed, summary_refresh
from cache_app import semantic, semantic_purge
from cache_app.redis_client import connection as redis_connection
from sessions_app.models import Conversation
from sessions_app.services import conversation_append, response_store

pytestmark = pytest.mark.django_db

SECRET = "residue-canary-7f3a"


def _rich_conversation(tenant, api):
    """Rows, a response, a fork, an archive segment, a summary, memories, a semantic entry, Redis windows."""
    items = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"{SECRET} turn {i} " + "words " * 30} for i in range(20)]
    for start in range(0, 200, 20):
        conversation_append(tenant=tenant, conversation_id="gdpr", items=items)
    first = response_store(tenant=tenant, conversation_id="gdpr", response_id="resp_gdpr_1", input_items=[],
                           output_items=[{"role": "assistant", "content": f"{SECRET} answer"}])
    response_store(tenant=tenant, conversation_id="gdpr", input_items=[], output_items=[{"role": "assistant", "content": "more"}])
    response_store(tenant=tenant, previous_response_id=first.body["response_id"], conversation_id="gdpr-fork",
                   input_items=[{"role": "user", "content": f"{SECRET} fork"}], output_items=[{"role": "assistant", "content": "ok"}])
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="gdpr")
    conversation_evict(conversation=conversation)
    conversation_archive(conversation=Conversation.objects.get(pk=conversation.pk), keep_window=False)
    summary_refresh(conversation=Conversation.objects.get(pk=conversation.pk), force=True)
    conversation_embed(conversation=Conversation.objects.get(pk=conversation.pk))
    stored = api.post("/v1/cache/store", {"namespace": "m", "text": f"{SECRET} question", "response": {"a": SECRET},
                                          "conversation_id": "gdpr"}, format="json")
    assert stored.status_code == 201, stored.content
    assert api.get("/v1/sessions/resolve", {"previous_response_id": "resp_gdpr_1"}).status_code == 200  # windows in Redis
    assert api.get("/v1/sessions/gdpr-fork/items").status_code == 200
    return conversation


def _rows_mentioning(text: str) -> list[str]:
    """Every table whose rows contain ``text`` anywhere (cast to text)."""
    found = []
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            cursor.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', [f"%{text}%"])
            if cursor.fetchone()[0]:
                found.append(table)
    return found


def _redis_residue(prefix: str, tenant_id: int, names: list[str]) -> list[str]:
    left = []
    for alias in ("default", "hot", "semantic", "embeddings"):
        client = redis_connection(alias)
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):  # SCAN in the test only
            text = key.decode()
            value_type = client.type(key).decode()
            blob = b""
            if value_type == "string":
                blob = client.get(key) or b""
            elif value_type == "list":
                blob = b"".join(client.lrange(key, 0, -1))
            elif value_type == "hash":
                blob = b"".join(k + v for k, v in client.hgetall(key).items())
            elif value_type == "zset":
                blob = b"".join(m for m in client.zrange(key, 0, -1))
            elif value_type == "set":
                blob = b"".join(client.smembers(key))
            if any(name in text for name in names) or SECRET.encode() in blob or any(n.encode() in blob for n in names):
                left.append(f"{alias}:{text}")
    return left


def test_delete_removes_rows_segments_summaries_memories_cache_entries_and_redis_keys(tenant, api, redis_prefix):
    conversation = _rich_conversation(tenant, api)
    assert ArchiveSegment.objects.filter(conversation=conversation).exists()
    assert Summary.objects.filter(conversation=conversation).exists()
    assert Memory.objects.filter(conversation=conversation).exists()
    assert semantic_purge.counters(tenant_id=tenant.pk)["stores"] >= 1
    assert _rows_mentioning(SECRET), "the canary should be stored before the delete"

    response = api.delete("/v1/sessions/gdpr")
    assert response.status_code == 200 and response.json() == {"id": "gdpr", "deleted": True}

    assert _rows_mentioning(SECRET) == []
    assert _rows_mentioning("resp_gdpr_1") == []
    assert not Conversation.objects.filter(tenant=tenant, conversation_id__in=["gdpr", "gdpr-fork"]).exists()
    assert _redis_residue(redis_prefix, tenant.pk, ["gdpr", "resp_gdpr_1"]) == []
    lookup = api.post("/v1/cache/lookup", {"namespace": "m", "text": f"{SECRET} question"}, format="json")
    assert lookup.json()["hit"] is False
