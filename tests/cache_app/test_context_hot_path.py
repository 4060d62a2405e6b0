"""The hot context path (window + cached header, no query) answers byte-for-byte what Postgres answers."""

import pytest

from archive_app.models import Summary
from sessions_app.lifecycle import summary_refresh
from cache_app import context_cache, redis_client
from sessions_app.models import Conversation
from sessions_app.services import conversation_append, response_store

pytestmark = pytest.mark.django_db


def _long_conversation(tenant, conversation_id="hot-ctx", n=120):
    tenant.window_size = 16
    tenant.save()
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: " + "words " * 10} for i in range(n)]
    for start in range(0, n, 20):
        conversation_append(tenant=tenant, conversation_id=conversation_id, items=turns[start:start + 20])
    return Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)


def _drop_redis():
    redis_client.connection("hot").flushdb()


def test_second_read_is_served_without_queries_and_is_byte_identical(api, tenant, django_assert_num_queries):
    conversation = _long_conversation(tenant)
    summary_refresh(conversation=conversation, force=True)
    first = api.get("/v1/sessions/hot-ctx/context?max_tokens=3000").content  # Postgres path, stores the header
    with django_assert_num_queries(0):
        second = api.get("/v1/sessions/hot-ctx/context?max_tokens=3000").content
    assert second == first
    _drop_redis()
    assert api.get("/v1/sessions/hot-ctx/context?max_tokens=3000").content == first


def test_a_new_summary_drops_the_header_so_the_next_read_uses_it(api, tenant, django_capture_on_commit_callbacks):
    conversation = _long_conversation(tenant)
    summary_refresh(conversation=conversation, force=True)
    api.get("/v1/sessions/hot-ctx/context")
    turns = [{"role": "user", "content": f"more {i} " + "words " * 10} for i in range(20)]
    conversation_append(tenant=tenant, conversation_id="hot-ctx", items=turns)
    conversation.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        newer = summary_refresh(conversation=conversation, force=True)
    assert newer is not None and Summary.objects.filter(conversation=conversation).count() == 2
    assert context_cache.read_with_window(tenant_id=tenant.pk, conversation_id="hot-ctx")[1] is None
    cached = api.get("/v1/sessions/hot-ctx/context").json()
    _drop_redis()
    fresh = api.get("/v1/sessions/hot-ctx/context").json()
    assert cached == fresh and cached["summary_upto_seq"] == newer.upto_seq


def test_context_by_response_id_from_redis_equals_postgres(api, tenant, django_assert_max_num_queries):
    # A conversation shorter than its window: the window holds the whole context, no summary needed.
    _long_conversation(tenant, n=12)
    stored = response_store(tenant=tenant, conversation_id="hot-ctx", response_id="resp_hot", input_items=[],
                            output_items=[{"role": "assistant", "content": "the answer"}])
    assert stored.status == 201
    url = "/v1/sessions/context?previous_response_id=resp_hot&max_tokens=2000"
    first = api.get(url).content
    with django_assert_max_num_queries(0):
        second = api.get(url).content
    response_store(tenant=tenant, conversation_id="hot-ctx", input_items=[], output_items=[{"role": "assistant", "content": "later"}])
    later = api.get(url).json()  # a later turn does not change the context of resp_hot, only the version
    assert later["messages"] == __import__("json").loads(first)["messages"] and later["version"] == 3
    _drop_redis()
    assert api.get(url).json() == later
    assert first == second


def test_forks_are_never_served_from_the_header(api, tenant):
    _long_conversation(tenant, "parent")
    stored = response_store(tenant=tenant, conversation_id="parent", response_id="resp_p", input_items=[],
                            output_items=[{"role": "assistant", "content": "p"}])
    response_store(tenant=tenant, conversation_id="parent", input_items=[], output_items=[{"role": "assistant", "content": "q"}])
    response_store(tenant=tenant, previous_response_id=stored.body["response_id"], conversation_id="child", input_items=[],
                   output_items=[{"role": "assistant", "content": "c"}])
    first = api.get("/v1/sessions/child/context").content
    assert context_cache.read_with_window(tenant_id=tenant.pk, conversation_id="child")[1] is None
    assert api.get("/v1/sessions/child/context").content == first
