"""One Redis round trip per hot read: what a view reads from Redis rides the API key's round trip (sessions_app.auth
prefetch), and resolve guesses the response's window from the places this process learnt (cache_app.response_places).

A prefetched read is only ever used when it is exactly the read the view would make now (same tenant, same keys,
same arguments); everything guessed is checked against what the authoritative read says, so a stale guess, a
deleted response or conversation, another tenant's keys or a partly lost window never change an answer.
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cache_app import api_keys, hot_window, keys, lru, redis_client
from cache_app.redis_client import query_run
from cache_app.response_places import place_get, place_remember, places_clear
from sessions_app import auth, selectors
from sessions_app.models import Conversation
from sessions_app.services import api_key_revoke
from sessions_app.services.tenants import KEY_PREFIX_LEN, hash_key
from tests.factories import msg, store as store_response

pytestmark = pytest.mark.django_db


def store(api, **body) -> str:
    """The stored response's id."""
    return store_response(api, **body)["response_id"]


def resolve(api, response_id):
    return api.get("/v1/sessions/resolve", {"previous_response_id": response_id})


def contents(response):
    return [item["content"] for item in response.json()["items"]]


@pytest.fixture
def turns(api):
    """Conversation "c": u1 a1 (r1) u2 a2 (r2), written by this process (so it knows both places)."""
    r1 = store(api, conversation_id="c", response_id="c_r1", input=[msg("user", "u1")], output=[msg("assistant", "a1")])
    r2 = store(api, previous_response_id=r1, response_id="c_r2", input=[msg("user", "u2")], output=[msg("assistant", "a2")])
    return r1, r2


@pytest.fixture
def single_redis(request):
    if request.config.getoption("--redis-cluster"):
        pytest.skip("round trips are counted on a single Redis (a cluster pipeline is one per node)")


def trips_of(round_trips, call):
    before = round_trips["count"]
    result = call()
    return result, round_trips["count"] - before


def test_a_process_that_does_not_know_the_place_takes_two_round_trips_then_one(api, turns, round_trips, single_redis):
    r1, _ = turns
    first = resolve(api, r1).content
    places_clear()  # another process: it never saw this response
    cold, trips = trips_of(round_trips, lambda: resolve(api, r1))
    assert (cold.content, trips) == (first, 2)  # key + index; then the window the index names
    assert place_get(api.tenant.pk, r1) == ("c", 2)  # learnt from the index
    warm, trips = trips_of(round_trips, lambda: resolve(api, r1))
    assert (warm.content, trips) == (first, 1)


def test_a_wrong_guess_is_never_answered(api, other_api, turns, round_trips, single_redis):
    """The guess names another complete window (even one holding more items): the index decides. A guess of
    the right conversation with another last seq still answers in one trip (the window read does not depend
    on the seq; the items are cut at the index's), and exactly."""
    r1, _ = turns
    expected = resolve(api, r1).content
    store(api, conversation_id="d", input=[msg("user", "x1"), msg("user", "x2")], output=[msg("assistant", "x3")])
    for wrong, expected_trips in [(("d", 2), 2), (("d", 3), 2), (("c", 4), 1), (("nowhere", 2), 2)]:
        place_remember(api.tenant.pk, r1, *wrong)
        answer, trips = trips_of(round_trips, lambda: resolve(api, r1))
        assert (answer.content, trips) == (expected, expected_trips)
        assert place_get(api.tenant.pk, r1) == ("c", 2)
        context = api.get("/v1/sessions/context", {"previous_response_id": r1})
        assert b'"u1"' in context.content and b'"x1"' not in context.content and b'"u2"' not in context.content


def test_a_deleted_response_or_conversation_is_404_though_its_place_is_remembered(api, turns, redis_prefix):
    r1, r2 = turns
    assert resolve(api, r2).status_code == 200
    assert api.delete(f"/v1/responses/{r2}").status_code == 200
    place_remember(api.tenant.pk, r2, "c", 4)  # as another process still remembers it
    assert resolve(api, r2).status_code == 404
    assert api.get("/v1/sessions/context", {"previous_response_id": r2}).status_code == 404
    assert api.delete("/v1/sessions/c").status_code == 200
    place_remember(api.tenant.pk, r1, "c", 2)
    assert resolve(api, r1).status_code == 404
    assert api.get("/v1/sessions/c/items").status_code == 404
    assert api.get("/v1/conversations/c/items").status_code == 404
    client = redis_client.connection("hot")
    bucket = keys.lru_bucket(lru.bucket_of(api.tenant.pk, "c"))
    assert client.zscore(bucket, keys.lru_member(api.tenant.pk, "c")) is None  # the guessed reads left nothing


def lru_score(tenant_id, conversation_id):
    bucket = keys.lru_bucket(lru.bucket_of(tenant_id, conversation_id))
    return redis_client.connection("hot").zscore(bucket, keys.lru_member(tenant_id, conversation_id))


def test_a_deleted_responses_404_keeps_its_living_conversations_lru_member(api, turns):
    """Deleting a response leaves its conversation: the deleting process forgets the response's place, and a
    process that still remembers it drops the guessed conversation's member only if that conversation is gone."""
    _, r2 = turns
    assert resolve(api, r2).status_code == 200
    assert api.delete(f"/v1/responses/{r2}").status_code == 200
    assert place_get(api.tenant.pk, r2) is None
    assert resolve(api, r2).status_code == 404
    place_remember(api.tenant.pk, r2, "c", 4)  # another process, which never saw the delete
    assert resolve(api, r2).status_code == 404
    assert lru_score(api.tenant.pk, "c") is not None
    assert api.get("/v1/sessions/c/items").status_code == 200


def test_a_write_reads_nothing_ahead(api, turns):
    """Only reads ride the key's round trip: a POST to an unknown conversation's items touches no LRU member."""
    assert api.get("/v1/conversations/c/items").status_code == 200  # this process knows the key's tenant
    answer = api.post("/v1/conversations/nope/items", {"items": [msg("user", "x")]}, format="json")
    assert answer.status_code == 404
    assert lru_score(api.tenant.pk, "nope") is None


def test_a_revoked_key_prefetches_at_most_once_per_process(api, turns):
    """The request that finds a key revoked was prefetched (the process knew the key's tenant) and its reads
    touched Redis; from then on the process prefetches nothing for that key, so it writes nothing."""
    assert api.get("/v1/sessions/c/items").status_code == 200
    api_key_revoke(prefix=api.raw_key[:KEY_PREFIX_LEN])
    assert api.get("/v1/sessions/c/items").status_code == 401
    client = redis_client.connection("hot")
    window = keys.window(api.tenant.pk, "c")
    client.expire(window, 5)
    client.zrem(keys.lru_bucket(lru.bucket_of(api.tenant.pk, "c")), keys.lru_member(api.tenant.pk, "c"))
    auth.unknown_keys.clear()  # the negative cache expired
    assert api.get("/v1/sessions/c/items").status_code == 401
    assert client.ttl(window) <= 5 and lru_score(api.tenant.pk, "c") is None


def test_an_id_the_view_refuses_is_never_read(api, turns, round_trips, django_assert_num_queries):
    """A refused id reads (and touches) nothing in Redis: the edge (convostore.edge, before authentication, where
    the prefetch rides the key's round trip) answers 400 before any Redis round trip, so prefetches need no check
    of their own. No query either."""
    long_id = "x" * 65
    bad = ["r" * 97, "a%00b", "a%20b", "%ED%A0%80"]  # over-long, NUL, off-pattern, a lone surrogate
    paths = [f"/v1/sessions/{long_id}/items", f"/v1/conversations/{long_id}/items", f"/v1/sessions/{long_id}/context",
             "/v1/sessions/a%00b/items", "/v1/sessions/resolve/items"]
    paths += [f"{route}?previous_response_id={value}" for route in ("/v1/sessions/resolve", "/v1/sessions/context")
              for value in bad]
    for path in paths:
        before = round_trips["count"]
        with django_assert_num_queries(0):
            response = api.get(path)
        assert response.status_code == 400, path
        assert response.json()["error"]["param"] in ("conversation_id", "previous_response_id"), path
        assert round_trips["count"] == before, path  # no key lookup, no prefetch
    client = redis_client.connection("hot")
    bucket = keys.lru_bucket(lru.bucket_of(api.tenant.pk, long_id))
    assert client.zscore(bucket, keys.lru_member(api.tenant.pk, long_id)) is None


def test_a_fork_keeps_every_place(api, turns):
    r1, r2 = turns
    assert contents(resolve(api, r1)) == ["u1", "a1"]
    r3 = store(api, previous_response_id=r1, input=[msg("user", "f2")], output=[msg("assistant", "f3")])
    fork = resolve(api, r3).json()["conversation_id"]
    assert place_get(api.tenant.pk, r1) == ("c", 2) and place_get(api.tenant.pk, r3) == (fork, 4)
    for _ in range(2):
        assert contents(resolve(api, r1)) == ["u1", "a1"]
        assert contents(resolve(api, r2)) == ["u1", "a1", "u2", "a2"]
        assert contents(resolve(api, r3)) == ["u1", "a1", "f2", "f3"]


def test_reads_of_another_tenants_keys_are_never_used(api, other_api, turns):
    """A key whose tenant this process has wrong (it never changes; this forces it) reads the other tenant's
    keys in the key's round trip: the entry read there names the real tenant, and the reads are dropped."""
    store(other_api, conversation_id="c", response_id="c_r1", input=[msg("user", "theirs")], output=[msg("assistant", "t")])
    paths = ["/v1/sessions/resolve?previous_response_id=c_r1", "/v1/sessions/c/context",
             "/v1/sessions/context?previous_response_id=c_r1", "/v1/sessions/c/items", "/v1/conversations/c/items"]
    mine = [api.get(path).content for path in paths]
    assert all(b"theirs" in other_api.get(path).content for path in paths)
    key_hash = hash_key(api.raw_key)
    for path, expected in zip(paths, mine):
        auth._TENANT_OF_KEY[key_hash] = other_api.tenant.pk
        place_remember(other_api.tenant.pk, "c_r1", "c", 2)
        assert api.get(path).content == expected, path
        assert auth._TENANT_OF_KEY[key_hash] == api.tenant.pk  # corrected from the entry
    # Twice guarded: the replies are dropped, and every query's name holds its tenant-tagged keys anyway.
    auth._TENANT_OF_KEY[key_hash] = other_api.tenant.pk
    principal = auth.authenticate_hash(key_hash, also=lambda tenant_id: [hot_window.response_lookup_query(
        tenant_id=tenant_id, response_id="c_r1")])
    assert principal.tenant.pk == api.tenant.pk and principal.prefetched == {}
    principal = auth.authenticate_hash(key_hash, also=lambda tenant_id: [hot_window.response_lookup_query(
        tenant_id=tenant_id, response_id="c_r1")])
    assert list(principal.prefetched) == [hot_window.response_lookup_query(tenant_id=api.tenant.pk, response_id="c_r1").name]


PARTS = ["window", "meta", "meta.n", "meta.last", "header.fp", "index", "key entry"]


@pytest.mark.parametrize("part", PARTS)
def test_redis_losing_any_part_between_requests_changes_no_answer(api, turns, part):
    r1, r2 = turns
    paths = [f"/v1/sessions/resolve?previous_response_id={r1}", f"/v1/sessions/resolve?previous_response_id={r2}",
             "/v1/sessions/c/context", f"/v1/sessions/context?previous_response_id={r1}", "/v1/sessions/c/items?limit=3",
             "/v1/sessions/c/items?order=desc", "/v1/conversations/c/items", "/v1/conversations/c/items?order=asc"]
    expected = [api.get(path).content for path in paths]
    client, tenant_id = redis_client.connection("hot"), api.tenant.pk
    for _ in range(2):  # the second round reads what the first rebuilt
        for path, answer in zip(paths, expected):
            if part == "window":
                client.delete(keys.window(tenant_id, "c"))
            elif part == "meta":
                client.delete(keys.window_meta(tenant_id, "c"))
            elif part.startswith("meta."):
                client.hdel(keys.window_meta(tenant_id, "c"), part[5:])
            elif part == "header.fp":
                client.hdel(keys.context_header(tenant_id, "c"), "fp")
            elif part == "index":
                client.delete(keys.response_index(tenant_id, r1), keys.response_index(tenant_id, r2))
            else:
                client.delete(keys.api_key(hash_key(api.raw_key)))
            assert api.get(path).content == answer, path


def test_a_window_read_before_the_conversation_row_is_used_only_at_that_rows_version(api, turns):
    """Items pages read the window with the key, then the row: an append in between makes the prefetched window
    older than the row, and the page comes from Postgres with the new item."""
    tenant = api.tenant
    query = selectors.items_page_queries(tenant_id=tenant.pk, conversation_id="c")[0]
    prefetched = {query.name: query_run(query)}  # the window at version 2
    assert api.post("/v1/sessions/c/append", msg("user", "late"), format="json").status_code == 201
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="c")
    page = selectors.items_page(tenant=tenant, conversation=conversation, after=None, limit=20, order="asc",
                                prefetched=prefetched)
    assert [entry.raw for entry in page.entries][-1].count('"late"') == 1 and len(page.entries) == 5
    assert hot_window.window_parse(prefetched[query.name][0]).version == 2


# conversations.items.retrieve and responses.retrieve read the row and the items in one statement
# (sessions_app.lookups); inherited and archived items are read after it, as before.


def item_ids(api, conversation_id):
    return {item["content"]: item["id"] for item in api.get(f"/v1/sessions/{conversation_id}/items").json()["data"]}


def test_one_item_of_a_fork_its_parent_a_sibling_or_the_archive(api, turns, django_assert_num_queries):
    from sessions_app.lifecycle.archive import conversation_archive

    r1, _ = turns
    r3 = store(api, previous_response_id=r1, input=[msg("user", "f2")], output=[msg("assistant", "f3")])
    fork = resolve(api, r3).json()["conversation_id"]
    parent, child = item_ids(api, "c"), item_ids(api, fork)

    def get(conversation_id, item_id):
        return api.get(f"/v1/conversations/{conversation_id}/items/{item_id}")

    with django_assert_num_queries(1):
        assert get("c", parent["u2"]).json()["id"] == parent["u2"]
    assert get(fork, child["u1"]).json()["id"] == parent["u1"]  # inherited
    assert get(fork, parent["u2"]).status_code == 404  # the sibling branch
    assert get("c", child["f2"]).status_code == 404
    assert get("nowhere", parent["u1"]).json()["error"]["param"] == "conversation_id"
    assert api.delete(f"/v1/conversations/c/items/{parent['a2']}").status_code == 200
    assert get("c", parent["a2"]).json()["error"]["param"] == "item_id"
    conversation_archive(conversation=Conversation.objects.get(tenant=api.tenant, conversation_id="c"), keep_window=False)
    assert get("c", parent["u1"]).json()["id"] == parent["u1"]  # from the segment
    assert get(fork, parent["u1"]).json()["id"] == parent["u1"]


def test_a_stored_response_reads_its_output_in_one_statement_or_from_the_archive(api, turns, django_assert_num_queries):
    from sessions_app.lifecycle.archive import conversation_archive

    r1, r2 = turns
    texts = lambda body: [part["text"] for item in body["output"] for part in item["content"]]  # noqa: E731
    with django_assert_num_queries(1):
        assert texts(api.get(f"/v1/responses/{r2}").json()) == ["a2"]
    before = [api.get(f"/v1/responses/{r}").content for r in (r1, r2)]
    conversation_archive(conversation=Conversation.objects.get(tenant=api.tenant, conversation_id="c"), keep_window=False)
    assert [api.get(f"/v1/responses/{r}").content for r in (r1, r2)] == before
    assert api.get("/v1/responses/nowhere").status_code == 404


def test_a_damaged_key_read_ahead_leaves_the_api_keys_own_reply_standing(api, turns, django_assert_num_queries):
    """A read ahead whose command fails (the window key of the wrong type) is dropped from what was read ahead:
    the request still authenticates from the key's cached entry and is counted for the rate limit; the view
    reads the window again, meets the error there and answers from Postgres."""
    assert api.get("/v1/sessions/c/items").status_code == 200  # this process knows the key's tenant
    client = redis_client.connection("hot")
    client.delete(keys.window(api.tenant.pk, "c"))
    client.set(keys.window(api.tenant.pk, "c"), "junk")
    rate = keys.api_key_rate(hash_key(api.raw_key), int(time.time() // api_keys.RATE_WINDOW_SECONDS))
    counted = int(client.get(rate) or 0)
    with CaptureQueriesContext(connection) as queries:
        answer = api.get("/v1/sessions/c/items")
    assert answer.status_code == 200 and [i["content"] for i in answer.json()["data"]][-1] == "a2"
    assert not [q for q in queries.captured_queries if "sessions_app_apikey" in q["sql"]]
    assert int(client.get(rate) or 0) == counted + 1
