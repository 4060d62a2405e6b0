"""Redis loses one key (or one hash field) of a structure: every read stays what Postgres holds.

Issue 11 part 1: the literal reproduction (the window list deleted while its meta hash and the
response index survive), then each multi-part structure with each of its parts lost: hot window,
context header, response index, API-key cache, embedding cache, semantic cache, LRU buckets.
Every test runs on its own redis-server (``own_redis``).
"""

import json

import numpy as np
import openai
import pytest
import redis

from sessions_app.lifecycle import enforce_hot_budget, evict_idle
from cache_app import embedding_cache, hot_window, keys, lru, semantic, semantic_purge
from sessions_app.context import targets as context
from cache_app.hot_window import Entry
from sessions_app.support import transcripts as admin_support
from sessions_app.models import Conversation
from tests.factories import msg, store

pytestmark = pytest.mark.django_db


def texts(items):
    return [item["content"] if isinstance(item["content"], str) else item["content"][0]["text"] for item in items]


@pytest.mark.django_db(transaction=True)
def test_window_list_lost_while_meta_and_response_index_survive(api, own_redis, live_server):
    tenant_id = api.tenant.pk
    raw = redis.Redis.from_url(own_redis.url)
    store(api, conversation_id="C", response_id="C_r1", input=[msg("user", "u1")], output=[msg("assistant", "a1")])
    assert raw.exists(keys.window(tenant_id, "C"), keys.window_meta(tenant_id, "C"), keys.response_index(tenant_id, "C_r1")) == 3

    raw.delete(keys.window(tenant_id, "C"))  # the meta hash and the response index survive

    first = api.get("/v1/sessions/resolve", {"previous_response_id": "C_r1"})
    assert first.status_code == 200
    assert texts(first.json()["items"]) == ["u1", "a1"]

    store(api, previous_response_id="C_r1", response_id="C_r2", input=[msg("user", "u2")], output=[msg("assistant", "a2")])
    expected = ["u1", "a1", "u2", "a2"]
    assert texts(api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"}).json()["items"]) == expected
    context = api.get("/v1/sessions/C/context")
    assert context.status_code == 200
    assert [m["content"] for m in context.json()["messages"]] == expected
    native = api.get("/v1/sessions/C/items", {"limit": 100})
    assert texts(native.json()["data"]) == expected
    sdk = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0, timeout=30)
    try:
        listed = sdk.conversations.items.list("C", order="asc")
        assert [part.text for item in listed.data for part in item.content] == expected
    finally:
        sdk.close()
    # The same answers again, now that every path has rebuilt what it read (or read it from Redis).
    again = api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"})
    assert json.loads(again.content)["items"] == api.get("/v1/sessions/resolve", {"previous_response_id": "C_r2"}).json()["items"]
    assert texts(again.json()["items"]) == expected


# --- the hot window: list + meta hash ----------------------------------------------------------------

T = 9
WINDOW_PARTS = ["list", "meta", *(f"meta.{name}" for name in ("v", "last", "tok", "full", "n", "first", "tail"))]


def entries(first, last):
    return [Entry(seq, 2, '{"content":"m%d","role":"user","type":"message"}' % seq) for seq in range(first, last + 1)]


def extend(cid, previous, version, new, *, created_empty=False, window_size=10):
    return hot_window.window_extend(
        tenant_id=T, conversation_id=cid, previous_version=previous, version=version, last_seq=new[-1].seq,
        tokens_added=sum(e.tokens for e in new), window_size=window_size, entries=new, created_empty=created_empty,
    )


def rebuild(cid, version, all_entries, window_size=10):
    return hot_window.window_rebuild(
        tenant_id=T, conversation_id=cid, version=version, last_seq=all_entries[-1].seq if all_entries else 0,
        tokens=sum(e.tokens for e in all_entries), window_size=window_size, entries=all_entries, full=True,
    )


def lose(raw, cid, part):
    if part == "list":
        raw.delete(keys.window(T, cid))
    elif part == "meta":
        raw.delete(keys.window_meta(T, cid))
    else:
        raw.hdel(keys.window_meta(T, cid), part.split(".", 1)[1])


def window_keys_left(raw, cid):
    return raw.exists(keys.window(T, cid), keys.window_meta(T, cid))


@pytest.fixture
def raw(own_redis):
    return redis.Redis.from_url(own_redis.url)


@pytest.mark.parametrize("part", WINDOW_PARTS)
def test_a_window_missing_any_part_is_a_miss_for_every_read_and_is_deleted(raw, part):
    extend("c", 0, 1, entries(1, 3), created_empty=True)
    lose(raw, "c", part)
    assert hot_window.window_read(tenant_id=T, conversation_id="c") is None
    assert window_keys_left(raw, "c") == 0
    extend("j", 0, 1, entries(1, 3), created_empty=True)
    lose(raw, "j", part)
    assert hot_window.window_join(tenant_id=T, conversation_id="j", upto_seq=3) is None
    assert window_keys_left(raw, "j") == 0
    extend("p", 0, 1, entries(1, 3), created_empty=True)
    lose(raw, "p", part)
    assert hot_window.window_peek(tenant_id=T, conversation_id="p") is None


@pytest.mark.parametrize("part", WINDOW_PARTS)
def test_an_append_never_extends_a_partial_window(raw, part):
    extend("c", 0, 1, entries(1, 3), created_empty=True)
    lose(raw, "c", part)
    assert extend("c", 1, 2, entries(4, 4)) in (0, -1)
    assert window_keys_left(raw, "c") == 0
    assert hot_window.window_read(tenant_id=T, conversation_id="c") is None


@pytest.mark.parametrize("part", WINDOW_PARTS)
def test_a_partial_window_is_replaced_by_a_seed_or_a_rebuild_whatever_version_it_claims(raw, part):
    rebuild("c", 7, entries(1, 4))
    lose(raw, "c", part)
    assert rebuild("c", 5, entries(1, 2)) is True  # an older complete read beats a partial newer claim
    window = hot_window.window_read(tenant_id=T, conversation_id="c")
    assert (window.version, [e.seq for e in window.entries], window.full) == (5, [1, 2], True)
    lose(raw, "c", part)
    assert extend("c", 0, 1, entries(1, 3), created_empty=True) == 2  # entries that are the whole context
    window = hot_window.window_read(tenant_id=T, conversation_id="c")
    assert (window.version, [e.seq for e in window.entries], window.full) == (1, [1, 2, 3], True)


def test_a_list_that_disagrees_with_its_meta_is_a_miss(raw):
    """Loss from inside the list (head, tail, or both with the count patched) is caught by first and tail."""
    for name, damage in {
        "head popped": lambda key: raw.lpop(key),
        "tail popped": lambda key: raw.rpop(key),
        "head popped, count patched": lambda key: (raw.lpop(key), raw.hset(keys.window_meta(T, name), "n", 2)),
        "tail popped, count patched": lambda key: (raw.rpop(key), raw.hset(keys.window_meta(T, name), "n", 2)),
    }.items():
        extend(name, 0, 1, entries(1, 3), created_empty=True)
        damage(keys.window(T, name))
        assert hot_window.window_read(tenant_id=T, conversation_id=name) is None, name
        assert window_keys_left(raw, name) == 0


def test_the_meta_records_count_first_and_tail_through_appends_and_trims(raw):
    extend("c", 0, 1, entries(1, 3), created_empty=True, window_size=4)
    extend("c", 1, 2, entries(4, 6), window_size=4)
    meta = raw.hgetall(keys.window_meta(T, "c"))
    assert {k: meta[k.encode()] for k in ("v", "last", "full", "n", "first", "tail")} == {
        "v": b"2", "last": b"6", "full": b"0", "n": b"4", "first": b"3", "tail": b"6"}
    assert hot_window.window_peek(tenant_id=T, conversation_id="c") == (3, 6, 2)


def test_an_empty_conversation_has_a_complete_meta_only_window(raw):
    """A conversation with no items is a meta hash with n=0 and no list key: complete, not partial."""
    assert rebuild("e", 1, []) is True
    window = hot_window.window_read(tenant_id=T, conversation_id="e")
    assert (window.entries, window.full, window.last_seq) == ([], True, 0)
    raw.rpush(keys.window(T, "e"), "1:1:{}")  # a list the meta does not know of
    assert hot_window.window_read(tenant_id=T, conversation_id="e") is None


# --- the HTTP paths over a partial window, context header and response index -------------------------


def resolve(api, response_id):
    return api.get("/v1/sessions/resolve", {"previous_response_id": response_id})


def two_turns(api, cid="C"):
    store(api, conversation_id=cid, response_id=f"{cid}_r1", input=[msg("user", "u1")], output=[msg("assistant", "a1")])
    store(api, previous_response_id=f"{cid}_r1", response_id=f"{cid}_r2", input=[msg("user", "u2")], output=[msg("assistant", "a2")])


def reads(api, cid="C"):
    """Every native read of the conversation, as bytes."""
    return [
        resolve(api, f"{cid}_r1").content, resolve(api, f"{cid}_r2").content,
        api.get(f"/v1/sessions/{cid}/context").content, api.get("/v1/sessions/context", {"previous_response_id": f"{cid}_r1"}).content,
        api.get(f"/v1/sessions/{cid}/items", {"limit": 3}).content, api.get(f"/v1/sessions/{cid}/items", {"order": "desc"}).content,
        api.get(f"/v1/conversations/{cid}/items", {"order": "asc"}).content,
    ]


@pytest.mark.parametrize("part", ["list", "meta", "meta.n", "meta.first", "meta.tail", "meta.full", "meta.last", "meta.v"])
def test_every_read_path_over_a_partial_window_equals_postgres(api, raw, part):
    two_turns(api)
    raw.flushall()
    cold = reads(api)  # Postgres answers, windows rebuilt
    assert all(b'"u1"' in body or b'"a2"' in body for body in cold)
    for _ in range(2):
        raw.delete(keys.window(api.tenant.pk, "C")) if part == "list" else None
        if part == "meta":
            raw.delete(keys.window_meta(api.tenant.pk, "C"))
        elif part.startswith("meta."):
            raw.hdel(keys.window_meta(api.tenant.pk, "C"), part[5:])
        assert reads(api) == cold


@pytest.mark.parametrize("field", ["pk", "fp", "su", "st", "sx"])
def test_a_context_header_missing_a_field_is_a_miss(api, raw, field):
    two_turns(api)
    first = api.get("/v1/sessions/C/context").content
    header_key = keys.context_header(api.tenant.pk, "C")
    assert raw.hlen(header_key) == 5
    raw.hdel(header_key, field)
    assert context.context_target_hot(tenant=api.tenant, conversation_id="C") is None
    assert api.get("/v1/sessions/C/context").content == first
    assert raw.hlen(header_key) == 5  # written again, whole


@pytest.mark.parametrize("value", [b"", b"garbled", b"x:C", b"999:C"])
def test_a_response_index_value_that_is_unreadable_or_beyond_the_window_reads_postgres(api, raw, value):
    two_turns(api)
    hot = [resolve(api, "C_r1").content, api.get("/v1/sessions/context", {"previous_response_id": "C_r1"}).content]
    raw.set(keys.response_index(api.tenant.pk, "C_r1"), value)
    assert [resolve(api, "C_r1").content, api.get("/v1/sessions/context", {"previous_response_id": "C_r1"}).content] == hot
    raw.delete(keys.response_index(api.tenant.pk, "C_r1"))
    assert resolve(api, "C_r1").content == hot[0]


def test_admin_transcript_labels_only_a_complete_window_hot(api, raw):
    two_turns(api)
    conversation = Conversation.objects.get(tenant=api.tenant, conversation_id="C")
    assert admin_support.transcript_page(conversation).hot_range == (1, 4)
    raw.hdel(keys.window_meta(api.tenant.pk, "C"), "last")  # used to raise TypeError (a 500 page)
    page = admin_support.transcript_page(conversation)
    assert page.hot_range is None and [row.source for row in page.rows] == ["postgres"] * 4


# --- API-key cache, embedding cache -------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["garbled", "no tenant field", "no key id", "not an object"])
def test_a_damaged_api_key_entry_is_a_miss_and_postgres_authenticates(api, raw, damage):
    from sessions_app.services.tenants import hash_key

    assert api.get("/v1/sessions/none/items").status_code == 404  # authenticated; the entry is cached
    key = keys.api_key(hash_key(api.raw_key))
    entry = json.loads(raw.get(key))
    if damage == "garbled":
        value = b"{not json"
    elif damage == "no tenant field":
        entry["tenant"].pop("window_size")
        value = json.dumps(entry)
    elif damage == "no key id":
        entry.pop("key_id")
        value = json.dumps(entry)
    else:
        value = b"[]"
    raw.set(key, value)
    assert api.get("/v1/sessions/none/items").status_code == 404
    assert json.loads(raw.get(key))["tenant"]["window_size"] == api.tenant.window_size  # written again, whole


def test_a_short_or_long_embedding_blob_is_a_miss(api, raw):
    assert api.put("/v1/cache/embeddings/k", {"embedding": [0.5, 0.25, 1.0], "model": "m"}, format="json").status_code == 200
    name = keys.embedding(api.tenant.pk, keys.embedding_key_id("k"))
    blob = raw.get(name)
    for damaged in (blob[:-1], blob[:3], blob + b"\0", blob[:2]):
        raw.set(name, damaged)
        assert embedding_cache.embedding_get(tenant_id=api.tenant.pk, key="k") is None
        assert api.get("/v1/cache/embeddings/k").status_code == 404
        assert embedding_cache.embedding_batch_get(tenant_id=api.tenant.pk, keys_=["k"]) == [None]


# --- semantic cache -----------------------------------------------------------------------------------

DIM = 32
SEMANTIC_PARTS = [*(f"key.{p}" for p in keys.SEMANTIC_PARTS), "field.vec", "field.body", "field.bk", "member.lru", "member.exp", "field.hits"]


def unit(seed):
    vector = np.random.default_rng(seed).standard_normal(DIM)
    return vector / np.linalg.norm(vector)


def scope_counts(raw, skeys):
    return raw.hlen(skeys[2]), raw.hlen(skeys[3]), raw.zcard(skeys[4]), raw.zcard(skeys[5])


@pytest.mark.parametrize("part", SEMANTIC_PARTS)
def test_a_semantic_scope_missing_any_part_never_returns_a_wrong_entry_and_is_cleaned(tenant, raw, part):
    stored = [semantic.cache_store(tenant_id=tenant.pk, namespace="n", embedding=unit(i), response={"answer": i}) for i in range(6)]
    for i in range(6):  # every entry hits (and now has a hit count)
        assert semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=unit(i), threshold=0.95)["response"] == {"answer": i}
    semantic_purge.counters(tenant_id=tenant.pk)  # sends the deferred hit bumps
    scope_id, member = keys.semantic_entry_parse(stored[2]["entry_id"])
    skeys = keys.semantic_scope_keys(tenant.pk, scope_id)
    kind, name = part.split(".")
    if kind == "key":
        raw.delete(skeys[keys.SEMANTIC_PARTS.index(name)])
    elif kind == "field" and name == "bk":
        raw.hdel(skeys[1], raw.hkeys(skeys[1])[0])
    elif kind == "field":
        raw.hdel(skeys[keys.SEMANTIC_PARTS.index(name)], member)
    else:
        raw.zrem(skeys[keys.SEMANTIC_PARTS.index(name)], member)
    for _ in range(2):
        for i in range(6):
            found = semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=unit(i), threshold=0.95)
            assert found["hit"] is False or (found["response"] == {"answer": i} and found["entry_id"] == stored[i]["entry_id"])
        semantic_purge.counters(tenant_id=tenant.pk)
        vec, body, lru_, exp = scope_counts(raw, skeys)
        assert vec == body == lru_ == exp  # complete again (or deleted)
    again = semantic.cache_store(tenant_id=tenant.pk, namespace="n", embedding=unit(99), response={"answer": 99})
    assert semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=unit(99), threshold=0.95)["entry_id"] == again["entry_id"]
    vec, body, lru_, exp = scope_counts(raw, skeys)
    assert vec == body == lru_ == exp >= 1


def test_a_store_into_a_scope_whose_meta_was_lost_never_mixes_dimensions(tenant, raw):
    stored = semantic.cache_store(tenant_id=tenant.pk, namespace="n", embedding=unit(1), response="old")
    skeys = keys.semantic_scope_keys(tenant.pk, keys.semantic_entry_parse(stored["entry_id"])[0])
    raw.delete(skeys[0])  # the scope's dimension is gone; its 32-d records are not
    other = np.ones(8) / np.sqrt(8)
    semantic.cache_store(tenant_id=tenant.pk, namespace="n", embedding=other, response="new")
    assert semantic.cache_lookup(tenant_id=tenant.pk, namespace="n", embedding=other, threshold=0.95)["response"] == "new"
    assert raw.hlen(skeys[2]) == 1


# --- LRU buckets ----------------------------------------------------------------------------------------


def test_lost_lru_buckets_only_delay_eviction(api, raw):
    two_turns(api)
    two_turns(api, "D")
    hot = reads(api) + reads(api, "D")
    for index in range(lru.bucket_count()):
        raw.delete(keys.lru_bucket(index))
    assert enforce_hot_budget(max_bytes=0) == 0  # nothing to find: eviction waits, nothing breaks
    evict_idle(idle_seconds=0)
    assert reads(api) + reads(api, "D") == hot
    # The reads touched the LRU again: the budget now evicts, and the answers stay the same.
    assert enforce_hot_budget(max_bytes=0) == 2
    assert reads(api) + reads(api, "D") == hot
