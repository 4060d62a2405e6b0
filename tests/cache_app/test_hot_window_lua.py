"""The Lua scripts behind hot windows, called through cache_app.hot_window against a real redis-server."""

import pytest

from cache_app import hot_window, keys, redis_client
from cache_app.hot_window import Entry

TENANT = 7


def entries(first, last):
    return [Entry(seq, 3, '{"content":"m%d","role":"user","type":"message"}' % seq) for seq in range(first, last + 1)]


def extend(conversation_id, previous, version, new, *, window_size=10, created_empty=False, responses=()):
    return hot_window.window_extend(
        tenant_id=TENANT,
        conversation_id=conversation_id,
        previous_version=previous,
        version=version,
        last_seq=new[-1].seq,
        tokens_added=sum(e.tokens for e in new),
        window_size=window_size,
        entries=new,
        created_empty=created_empty,
        responses=responses,
    )


def rebuild(conversation_id, version, all_entries, *, window_size=10):
    return hot_window.window_rebuild(
        tenant_id=TENANT,
        conversation_id=conversation_id,
        version=version,
        last_seq=all_entries[-1].seq if all_entries else 0,
        tokens=sum(e.tokens for e in all_entries),
        window_size=window_size,
        entries=all_entries,
        full=True,
    )


def read(conversation_id):
    return hot_window.window_read(tenant_id=TENANT, conversation_id=conversation_id)


def client():
    return redis_client.connection("hot")


def test_create_then_extend_at_the_right_version():
    assert extend("c", 0, 1, entries(1, 2), created_empty=True) == 2
    assert extend("c", 1, 2, entries(3, 3)) == 1
    window = read("c")
    assert (window.version, window.last_seq, window.tokens, window.full) == (2, 3, 9, True)
    assert [e.seq for e in window.entries] == [1, 2, 3]
    assert window.holds(0, 3) and window.holds(0, 1) and not window.holds(0, 4)


def test_extend_at_a_wrong_version_drops_the_window():
    extend("c", 0, 1, entries(1, 1), created_empty=True)
    assert extend("c", 5, 6, entries(2, 2)) == 0
    assert read("c") is None
    assert not client().exists(keys.window(TENANT, "c"), keys.window_meta(TENANT, "c"))


def test_extend_without_a_window_leaves_it_absent_unless_created_empty():
    assert extend("c", 3, 4, entries(4, 4)) == -1
    assert read("c") is None


def test_extend_trims_to_the_window_size_and_marks_it_partial():
    extend("c", 0, 1, entries(1, 3), window_size=4, created_empty=True)
    extend("c", 1, 2, entries(4, 6), window_size=4)
    window = read("c")
    assert [e.seq for e in window.entries] == [3, 4, 5, 6]
    assert not window.full and not window.holds(0, 6)


def test_window_ttl_is_set_on_both_keys(settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "WINDOW_TTL_SECONDS": 321}
    extend("c", 0, 1, entries(1, 1), created_empty=True)
    for key in (keys.window(TENANT, "c"), keys.window_meta(TENANT, "c")):
        assert 0 < client().ttl(key) <= 321
    client().expire(keys.window_meta(TENANT, "c"), 5)
    read("c")  # a hit slides the TTL
    assert client().ttl(keys.window_meta(TENANT, "c")) > 5
    rebuild("r", 1, entries(1, 1))
    assert 0 < client().ttl(keys.window(TENANT, "r")) <= 321


def test_rebuild_writes_when_absent_or_older_and_never_over_a_newer_version():
    assert rebuild("c", 2, entries(1, 2)) is True
    assert rebuild("c", 1, entries(1, 1)) is False  # older: kept
    assert rebuild("c", 2, entries(1, 2)) is False  # same: kept
    assert read("c").version == 2
    assert rebuild("c", 3, entries(1, 3)) is True
    window = read("c")
    assert (window.version, [e.seq for e in window.entries]) == (3, [1, 2, 3])


def test_rebuild_larger_than_the_window_is_partial():
    rebuild("c", 1, entries(1, 5), window_size=2)
    window = read("c")
    assert [e.seq for e in window.entries] == [4, 5] and not window.full


def test_a_stale_extend_after_a_rebuild_drops_instead_of_corrupting():
    rebuild("c", 3, entries(1, 3))
    assert extend("c", 1, 2, entries(2, 2)) == 0  # a late writer from version 1
    assert read("c") is None


def test_extend_records_responses_in_the_index():
    extend("c", 0, 1, entries(1, 2), created_empty=True, responses=[("resp_1", 2)])
    assert hot_window.response_lookup(tenant_id=TENANT, response_id="resp_1") == ("c", 2)
    assert hot_window.response_lookup(tenant_id=TENANT, response_id="resp_unknown") is None


def test_conversation_ids_with_colons_keep_to_their_own_keys():
    extend("a:b", 0, 1, entries(1, 1), created_empty=True, responses=[("resp_x", 1)])
    assert read("a") is None and read("a:b").version == 1
    assert hot_window.response_lookup(tenant_id=TENANT, response_id="resp_x") == ("a:b", 1)
    window_key = keys.window(TENANT, "a:b")
    assert window_key.count("{") == 1 and window_key.count("}") == 1
    assert keys.window_meta(TENANT, "a:b").split("}")[0] == window_key.split("}")[0]  # one cluster slot


def test_drop_removes_window_and_response_index():
    extend("c", 0, 1, entries(1, 1), created_empty=True, responses=[("resp_d", 1)])
    hot_window.window_drop(tenant_id=TENANT, conversation_id="c", response_ids=["resp_d"], forget_lru=True)
    assert read("c") is None
    assert hot_window.response_lookup(tenant_id=TENANT, response_id="resp_d") is None


def test_entries_with_colons_in_their_json_round_trip():
    entry = Entry(1, 4, '{"content":"a:b:c","role":"user","type":"message"}')
    extend("c", 0, 1, [entry], created_empty=True)
    assert read("c").entries == [entry]


def test_upto_cuts_at_the_response():
    extend("c", 0, 1, entries(1, 5), created_empty=True)
    assert [e.seq for e in read("c").between(0, 3)] == [1, 2, 3]
