"""Reads whose cost does not grow with the conversation: items pages, budgeted context, archived paging.

Guards count queries, rows fetched and segments decoded (never time); correctness compares every answer
with a naive reference that reads the whole context (the old path) at large sizes and, with Hypothesis,
on small random conversations (item groups, deletes, summaries, archived segments, a partial window).
"""

import json

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from archive_app import selectors as archive_selectors
from archive_app.models import ArchiveSegment, Summary
from bench.builders import conversation_build, conversation_state, turn
from cache_app import hot_window
from sessions_app import keyset
from sessions_app.context.assembly import SummaryPart, assemble
from sessions_app.lifecycle.archive import conversation_archive
from sessions_app.models import Conversation, Item, Response
from sessions_app.selectors import context_entries
from sessions_app.services import conversation_append, item_delete

from .test_item_groups import conversations

pytestmark = pytest.mark.django_db


class RowCounter:
    """Counts the queries and the rows Postgres returned to Python (psycopg's rowcount of each SELECT)."""

    def __init__(self):
        self.queries, self.rows, self.sql = 0, 0, []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        self.queries += 1
        self.sql.append(sql)
        if sql.lstrip().upper().startswith(("SELECT", "WITH")) and context["cursor"].rowcount > 0:
            self.rows += context["cursor"].rowcount
        return result


def counted(call):
    counter = RowCounter()
    with connection.execute_wrapper(counter):
        result = call()
    return result, counter


class DecodeCounter:
    def __init__(self, monkeypatch):
        self.count = 0
        real = archive_selectors.segment_raw

        def spy(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(archive_selectors, "segment_raw", spy)


@pytest.fixture
def big(tenant):
    """A warm conversation of 10 000 items (no Redis copy), the last append storing resp_big."""
    conversation = conversation_build(tenant=tenant, conversation_id="big", n=10_000, response_id="resp_big")
    conversation_state(conversation, "warm")
    return conversation


@pytest.fixture
def small_segments(settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_MAX_ITEMS": 50}


def test_the_builder_leaves_exactly_what_the_api_leaves(api, tenant):
    items = [turn(i) for i in range(45)]
    for start in range(0, 40, 20):
        assert api.post("/v1/sessions/viaapi/append", {"items": items[start:start + 20]}, format="json").status_code == 201
    stored = api.post("/v1/sessions/responses", {"conversation_id": "viaapi", "response_id": "resp_api",
                                                 "input": items[40:44], "output": items[44:]}, format="json")
    assert stored.status_code == 201
    conversation_build(tenant=tenant, conversation_id="built", n=45, response_id="resp_built")

    def state(conversation_id):
        c = Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)
        rows = list(Item.objects.filter(conversation=c).order_by("seq").values_list(
            "seq", "item_id", "type", "role", "raw", "byte_size", "token_count", "response__last_seq"))
        response = Response.objects.get(conversation=c)
        return ((c.version, c.last_seq, c.item_count, c.byte_count, c.token_count, c.tier, c.lineage), rows,
                (response.input_first_seq, response.output_first_seq, response.last_seq, response.model, response.usage))

    assert state("viaapi") == state("built")
    assert api.get("/v1/sessions/built/items", {"limit": 100}).json()["data"] == api.get(
        "/v1/sessions/viaapi/items", {"limit": 100}).json()["data"]


def item_ranges(counter) -> list[str]:
    """The item queries over a seq range (a lookup of the ``after`` item by its id is an index seek)."""
    return [sql for sql in counter.sql if sql.lstrip().startswith('SELECT "sessions_app_item"."seq"') and '"item_id" =' not in sql]


def assert_bounded(counter, *context, some: bool = True) -> None:
    """Every item range read bounds seq on both sides (and, with ``some``, there was one): a plan chosen on stale
    statistics (``big`` was written in one transaction, never analysed) cannot turn it into a scan of every row on
    the open side, then a sort."""
    ranges = item_ranges(counter)
    assert ranges or not some, (counter.sql, *context)
    assert all('"seq" > ' in sql and '"seq" < ' in sql for sql in ranges), (ranges, *context)


def test_an_items_page_of_a_10000_item_conversation_reads_one_page(api, big):
    api.get("/v1/sessions/big")  # the API key entry is cached
    response, counter = counted(lambda: api.get("/v1/sessions/big/items", {"limit": 20, "order": "desc"}))
    page = response.json()
    assert [item["id"] for item in page["data"]] == [f"msg_b{i:07d}" for i in range(9999, 9979, -1)]
    assert counter.queries <= 3 and counter.rows <= 25, counter.sql
    assert_bounded(counter)
    cursor = page["data"][-1]["id"]
    response, counter = counted(lambda: api.get("/v1/conversations/big/items", {"limit": 20, "after": cursor}))
    assert [item["id"] for item in response.json()["data"]] == [f"msg_b{i:07d}" for i in range(9979, 9959, -1)]
    assert counter.queries <= 4 and counter.rows <= 25, counter.sql
    assert_bounded(counter)
    for base, query in [("/v1/sessions", {"limit": 20}), ("/v1/conversations", {"limit": 20, "order": "asc"}),
                        ("/v1/sessions", {"limit": 20, "after": "msg_b0004000"}),
                        ("/v1/conversations", {"limit": 20, "order": "asc", "after": "msg_b0009990"})]:
        response, counter = counted(lambda: api.get(f"{base}/big/items", query))
        assert response.status_code == 200 and counter.rows <= 25, counter.sql
        assert_bounded(counter)


def test_an_items_page_after_a_run_of_deleted_items_reads_o_log_steps(api, big):
    """5 000 deleted items below the cursor: the steps double (21, 42, 84 … seqs), each bounded on both sides."""
    Item.objects.filter(conversation=big, seq__gt=4000, seq__lte=9000).delete()
    response, counter = counted(lambda: api.get("/v1/sessions/big/items", {"limit": 20, "order": "desc",
                                                                           "after": "msg_b0009000"}))
    assert [item["id"] for item in response.json()["data"]] == [f"msg_b{i:07d}" for i in range(3999, 3979, -1)]
    assert len(item_ranges(counter)) <= 10 and counter.rows <= 60, counter.sql
    assert_bounded(counter)


def test_a_budgeted_context_of_a_10000_item_conversation_reads_the_tail_only(api, big):
    api.get("/v1/sessions/big")
    response, counter = counted(lambda: api.get("/v1/sessions/big/context"))
    body = response.json()
    assert response.status_code == 200 and body["truncated"]["items"] > 9000
    assert counter.queries <= 6 and counter.rows <= 600, counter.sql
    # Each step of the tail bounds seq on both sides: a plan chosen on stale statistics (this conversation was
    # written in one transaction, never analysed) cannot turn it into a scan of every older row.
    steps = [sql for sql in counter.sql if sql.lstrip().startswith('SELECT "sessions_app_item"."seq"')]
    assert steps and all('"seq" > ' in sql and '"seq" < ' in sql for sql in steps), steps


def naive_context(conversation, *, max_tokens=None, recent_k=None):
    """The reference: every item of the context read, then the pure assembly (the old O(n) path)."""
    conversation.refresh_from_db()
    summary_row = (Summary.objects.filter(conversation=conversation, upto_seq__lte=conversation.last_seq
                                          - conversation.tenant.window_size).order_by("-upto_seq").first())
    summary = SummaryPart(summary_row.upto_seq, summary_row.text, summary_row.token_estimate) if summary_row else None
    entries = context_entries(conversation, conversation.last_seq, summary.upto_seq if summary else 0)
    max_tokens = max_tokens or conversation.tenant.token_budget
    assembly = assemble(entries, max_tokens=max_tokens, encoding=conversation.tenant.encoding, summary=summary,
                        recent_k=recent_k)
    return json.loads(assembly.messages_json()), assembly.truncated, assembly.estimated_input_tokens


def assert_context_matches(api, conversation, **query):
    body = api.get(f"/v1/sessions/{conversation.conversation_id}/context", query).json()
    messages, truncated, estimated = naive_context(conversation, **query)
    assert (body["messages"], body["truncated"], body["estimated_input_tokens"]) == (messages, truncated, estimated)


def pages(api, conversation_id, order, limit, base="/v1/sessions", after=None, most=None):
    """Item ids walking the keyset cursor page by page (every page, or at most ``most``)."""
    ids, walked = [], 0
    while most is None or walked < most:
        query = {"limit": limit, "order": order} | ({"after": after} if after else {})
        body = api.get(f"{base}/{conversation_id}/items", query).json()
        ids += [item["id"] for item in body["data"]]
        walked += 1
        if not body["has_more"]:
            break
        after = ids[-1]
    return ids


@pytest.mark.parametrize("state", [pytest.param("hot", marks=pytest.mark.slow), "warm",
                                   pytest.param("archived", marks=pytest.mark.slow)])
def test_pages_and_contexts_at_10000_items_equal_the_naive_reference(api, tenant, state, monkeypatch):
    conversation = conversation_build(tenant=tenant, conversation_id=f"ref-{state}", n=10_000)
    conversation_state(conversation, state)
    ids = [f"msg_b{i:07d}" for i in range(10_000)]
    walk = dict(conversation_id=conversation.conversation_id, limit=100, most=3)
    assert pages(api, order="desc", **walk) == ids[::-1][:300]
    assert pages(api, order="asc", base="/v1/conversations", **walk) == ids[:300]
    for at in (40, 4321, 9899, 9990):  # into archived segments, across a segment's end, near the last item
        assert pages(api, order="asc", after=ids[at], **walk) == ids[at + 1 : at + 301]
        assert pages(api, order="desc", after=ids[at], base="/v1/conversations", **walk) == ids[:at][::-1][:300]
    for query in ({}, {"max_tokens": 500}, {"max_tokens": 100_000}, {"recent_k": 7}, {"max_tokens": 1}):
        assert_context_matches(api, conversation, **query)


def test_archived_paging_decodes_only_the_segments_holding_the_page(api, tenant, small_segments, monkeypatch):
    conversation = conversation_build(tenant=tenant, conversation_id="cold", n=1000)
    conversation_state(conversation, "archived")
    assert ArchiveSegment.objects.filter(conversation=conversation).count() == 20
    api.get("/v1/sessions/cold")
    decodes = DecodeCounter(monkeypatch)
    first = api.get("/v1/sessions/cold/items", {"limit": 20, "order": "desc"}).json()
    assert decodes.count == 1 and first["data"][0]["id"] == "msg_b0000999"
    middle = api.get("/v1/conversations/cold/items", {"limit": 20, "after": "msg_b0000510"}).json()
    assert [item["id"] for item in middle["data"]] == [f"msg_b{i:07d}" for i in range(509, 489, -1)]
    assert decodes.count <= 4  # the cursor's segment, then the page's one or two
    assert api.get("/v1/conversations/cold/items/msg_b0000123").json()["id"] == "msg_b0000123"
    before = decodes.count
    api.get("/v1/sessions/cold/context", {"max_tokens": 2000})
    assert decodes.count - before <= 3
    assert decodes.count <= 8


@st.composite
def scenarios(draw):
    items = draw(conversations())
    return {
        "items": items,
        "delete": draw(st.lists(st.integers(0, len(items) - 1), max_size=3, unique=True)),
        "summary_at": draw(st.one_of(st.none(), st.integers(1, len(items)))),
        "archive": draw(st.sampled_from(["none", "all", "keep_window"])),
        "redis": draw(st.sampled_from(["window", "dropped"])),
        "max_tokens": draw(st.integers(1, 400)),
        "recent_k": draw(st.one_of(st.none(), st.integers(0, 12))),
        "tail_page": draw(st.sampled_from([1, 2, 5, keyset.TAIL_PAGE])),
    }


@hsettings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenario=scenarios())
def test_contexts_and_pages_equal_the_naive_reference_on_random_conversations(api, tenant, settings, scenario):
    """Random item groups, deletes, a summary, archived segments (3 items each), a lost window, and the tail read
    in steps of a few seqs (ranges that are empty, cut an item group or a segment, or hold only deleted seqs)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keyset, "TAIL_PAGE", scenario["tail_page"])
        _random_scenario(api, tenant, settings, scenario)


def _random_scenario(api, tenant, settings, scenario):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_MAX_ITEMS": 3, "ARCHIVE_MIN_ITEMS": 1}
    tenant.window_size = 4
    tenant.save(update_fields=["window_size"])
    conversation_id = f"h{Conversation.objects.count()}"
    items = [dict(item, id=item.get("id") or f"it_{index}") for index, item in enumerate(scenario["items"])]
    for start in range(0, len(items), 20):
        conversation_append(tenant=tenant, conversation_id=conversation_id, items=items[start:start + 20])
    conversation = Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)
    if scenario["archive"] != "none":
        conversation_archive(conversation=conversation, keep_window=scenario["archive"] == "keep_window")
    for index in scenario["delete"]:
        item_delete(tenant=tenant, conversation_id=conversation_id, item_id=items[index]["id"])
    if scenario["summary_at"] is not None:
        Summary.objects.create(conversation=conversation, upto_seq=scenario["summary_at"], text="earlier", summariser="t")
    if scenario["redis"] == "dropped":
        hot_window.window_drop(tenant_id=tenant.pk, conversation_id=conversation_id)
    assert_context_matches(api, conversation, max_tokens=scenario["max_tokens"],
                           **({"recent_k": scenario["recent_k"]} if scenario["recent_k"] is not None else {}))
    conversation.refresh_from_db()
    expected = [json.loads(e.raw)["id"] for e in context_entries(conversation, conversation.last_seq)]
    assert pages(api, conversation_id, "asc", 2) == expected
    assert pages(api, conversation_id, "desc", 3, base="/v1/conversations") == expected[::-1]


@pytest.mark.parametrize("tail_page", [1, 3])
def test_a_fork_read_in_small_tail_steps_equals_the_naive_reference(api, tenant, settings, monkeypatch, tail_page):
    """A fork's context crosses its parent's archived and live items and its own, step by step over seq ranges."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_MAX_ITEMS": 3, "ARCHIVE_MIN_ITEMS": 1}
    monkeypatch.setattr(keyset, "TAIL_PAGE", tail_page)
    tenant.window_size = 4
    tenant.save(update_fields=["window_size"])
    stored = api.post("/v1/sessions/responses", {"conversation_id": "trunk", "input": [turn(i) for i in range(20)],
                                                 "output": [turn(20)]}, format="json").json()
    api.post("/v1/sessions/trunk/append", {"items": [turn(i) for i in range(21, 30)]}, format="json")
    conversation_archive(conversation=Conversation.objects.get(tenant=tenant, conversation_id="trunk"), keep_window=True)
    item_delete(tenant=tenant, conversation_id="trunk", item_id=turn(12)["id"])
    branch = api.post("/v1/sessions/responses", {"previous_response_id": stored["response_id"], "conversation_id": "branch",
                                                 "input": [turn(i) for i in range(40, 52)]}, format="json")
    assert branch.status_code == 201, branch.content
    fork = Conversation.objects.get(tenant=tenant, conversation_id="branch")
    assert fork.lineage
    for query in ({}, {"max_tokens": 300}, {"max_tokens": 900}, {"recent_k": 15}, {"max_tokens": 1}):
        hot_window.window_drop(tenant_id=tenant.pk, conversation_id="branch")
        assert_context_matches(api, fork, **query)


def test_a_hot_context_longer_than_its_window_reads_redis_once(api, tenant, round_trips, django_assert_num_queries, request):
    """Past the window (64 items) the context needs the row and the rows before the window: two queries, and the
    window read with the header is carried to the tail read; the header is rewritten only when it changes."""
    conversation = conversation_build(tenant=tenant, conversation_id="long", n=1000)
    conversation_state(conversation, "hot")
    first = api.get("/v1/sessions/long/context")  # the API key cached, the header written
    before = round_trips["count"]
    with django_assert_num_queries(2):
        again = api.get("/v1/sessions/long/context")
    assert again.content == first.content and again.json()["truncated"]["items"] > 800
    if not request.config.getoption("--redis-cluster"):
        assert round_trips["count"] - before == 1  # the key with window + header (sessions_app.auth prefetch)
    hot_window.window_drop(tenant_id=tenant.pk, conversation_id="long")
    assert api.get("/v1/sessions/long/context").content == first.content
    assert_context_matches(api, conversation)


def _item_index_blocks(plan: dict) -> int:
    """Buffers the plan's scans of sessions_app_item touched (shared hits and reads)."""
    own = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0) if plan.get("Relation Name") == "sessions_app_item" else 0
    return own + sum(_item_index_blocks(child) for child in plan.get("Plans", []))


def test_the_first_seq_of_an_archived_conversation_does_not_step_over_its_archived_rows(api, tenant):
    """Archiving deletes the rows it archived; their index entries stay until vacuum. The seek for the first
    item row starts after archived_upto_seq, so it touches a few index pages, not one per ~300 archived rows
    (the 100 000-item archived context spent ~30 ms there in bench/scaling.py)."""
    conversation = conversation_build(tenant=tenant, conversation_id="archived-first", n=6_000)
    conversation_state(conversation, "archived")
    assert api.post("/v1/sessions/archived-first/append", {"items": [{"role": "user", "content": "after"}]},
                    format="json").status_code == 201
    seeks = []

    def capture(execute, sql, params, many, context):
        if "min(seq)" in sql:
            seeks.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        body = api.get("/v1/sessions/archived-first/context").json()
    assert body["messages"][-1]["content"] == "after" and body["truncated"]["first_seq"] == 1, body["truncated"]
    assert seeks
    for sql, params in seeks:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0][0]["Plan"]
        assert _item_index_blocks(plan) <= 6, (sql, plan)
