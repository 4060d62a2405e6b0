"""Items pages read from Postgres (the window lost) step over seq ranges bounded on both sides (keyset.context_steps):
every page, in both orders, from any cursor, equals the reference list across deleted items, archive segments and
forks, and every item range read names both bounds."""

import json

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from bench.builders import turn
from cache_app import hot_window
from sessions_app.lifecycle.archive import conversation_archive
from sessions_app.models import Conversation
from sessions_app.selectors import context_entries
from sessions_app.services import item_delete

from .test_scaling_reads import RowCounter, assert_bounded

pytestmark = pytest.mark.django_db


@st.composite
def shapes(draw):
    n = draw(st.integers(1, 30))
    run = draw(st.integers(0, n - 1))
    return {
        "n": n,
        "cut": draw(st.integers(1, min(n, 20))),  # the trunk's response ends at items[cut - 1]; a fork branches there
        "fork": draw(st.integers(0, 10)),  # the fork's own items (0: no fork)
        "deleted": draw(st.sets(st.integers(0, n - 1), max_size=8)) | set(range(run, min(n, run + draw(st.integers(0, 12))))),
        "fork_deleted": draw(st.sets(st.integers(0, 9), max_size=4)),
        "archive": draw(st.sampled_from(["none", "trunk", "both"])),
        "limit": draw(st.integers(1, 6)),
        "start": draw(st.floats(0, 1)),  # where the cursor walk starts, as a fraction of the context
        "base": draw(st.sampled_from(["/v1/sessions", "/v1/conversations"])),
    }


def build(api, tenant, shape) -> Conversation:
    """The conversation to page: the trunk, or a fork of it at its response (ids unique per example)."""
    trunk = f"t{Conversation.objects.count()}"
    items = [turn(i) for i in range(shape["n"])]
    cut = shape["cut"]
    stored = api.post("/v1/sessions/responses", {"conversation_id": trunk, "input": items[: cut - 1],
                                                 "output": items[cut - 1 : cut]}, format="json")
    assert stored.status_code == 201, stored.content
    for start in range(cut, shape["n"], 20):  # at most 20 items per call
        appended = api.post(f"/v1/sessions/{trunk}/append", {"items": items[start : start + 20]}, format="json")
        assert appended.status_code == 201, appended.content
    target = trunk
    if shape["fork"]:
        own = [turn(100 + i) for i in range(shape["fork"])]
        forked = api.post("/v1/sessions/responses", {"previous_response_id": stored.json()["response_id"], "input": own},
                          format="json")
        assert forked.status_code == 201, forked.content
        target = forked.json()["conversation_id"]
        for index in shape["fork_deleted"] & set(range(len(own))):
            item_delete(tenant=tenant, conversation_id=target, item_id=own[index]["id"])
    archived = {"none": [], "trunk": [trunk], "both": [trunk, target]}[shape["archive"]]
    for conversation_id in dict.fromkeys(archived):
        conversation_archive(conversation=Conversation.objects.get(tenant=tenant, conversation_id=conversation_id),
                             keep_window=False)
    for index in shape["deleted"]:
        item_delete(tenant=tenant, conversation_id=trunk, item_id=items[index]["id"])
    for conversation_id in {trunk, target}:
        hot_window.window_drop(tenant_id=tenant.pk, conversation_id=conversation_id)
    return Conversation.objects.get(tenant=tenant, conversation_id=target)


def walk(api, base, conversation_id, *, order, limit, after):
    """Every item id after ``after`` in ``order``, page by page, and the SQL the pages ran."""
    ids, counter = [], RowCounter()
    with connection.execute_wrapper(counter):
        while True:
            query = {"limit": limit, "order": order} | ({"after": after} if after else {})
            response = api.get(f"{base}/{conversation_id}/items", query)
            assert response.status_code == 200, response.content
            body = response.json()
            assert len(body["data"]) <= limit
            ids += [item["id"] for item in body["data"]]
            if not body["has_more"]:
                return ids, counter
            assert body["data"], body
            after = ids[-1]


@hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(shape=shapes())
def test_pages_across_gaps_archives_and_forks_equal_the_reference(api, tenant, settings, shape):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEGMENT_MAX_ITEMS": 3, "ARCHIVE_MIN_ITEMS": 1}
    conversation = build(api, tenant, shape)
    expected = [json.loads(e.raw)["id"] for e in context_entries(conversation, conversation.last_seq)]
    at = min(int(shape["start"] * len(expected)), len(expected) - 1) if expected else None
    for order, reference in (("asc", expected), ("desc", expected[::-1])):
        for after in (None, reference[at] if at is not None else None):
            start = reference.index(after) + 1 if after else 0
            ids, counter = walk(api, shape["base"], conversation.conversation_id, order=order, limit=shape["limit"], after=after)
            assert ids == reference[start:], (order, after)
            assert_bounded(counter, shape, some=start < len(reference))  # nothing after the last item: no read
