"""Forks: storing a response on a non-head previous_response_id creates a child that shares, never copies, history."""

import pytest

from cache_app import hot_window, redis_client
from sessions_app.models import Conversation, Item

pytestmark = pytest.mark.django_db


def store(api, **body):
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def msg(role, content):
    return {"role": role, "content": content}


def resolve(api, response_id):
    response = api.get("/v1/sessions/resolve", {"previous_response_id": response_id})
    assert response.status_code == 200, response.content
    return response


def contents(response):
    return [item["content"] for item in response.json()["items"]]


@pytest.fixture
def branched(api):
    """main: q1 a1 (r1) q2 a2 (r2); fork from r1: q2' a2' (r3)."""
    r1 = store(api, conversation_id="main", input=[msg("user", "q1")], output=[msg("assistant", "a1")])
    r2 = store(api, previous_response_id=r1["response_id"], input=[msg("user", "q2")], output=[msg("assistant", "a2")])
    r3 = store(api, previous_response_id=r1["response_id"], input=[msg("user", "q2'")], output=[msg("assistant", "a2'")])
    return r1, r2, r3


def test_head_appends_and_non_head_forks(branched):
    r1, r2, r3 = branched
    assert (r1["forked"], r2["forked"], r3["forked"]) == (False, False, True)
    assert r2["conversation_id"] == "main" and r2["version"] == 2
    assert r3["conversation_id"] != "main"
    assert r3["conversation_id"].startswith("conv_")


def test_resolving_the_fork_never_shows_the_sibling_branch(api, branched):
    r1, r2, r3 = branched
    assert contents(resolve(api, r3["response_id"])) == ["q1", "a1", "q2'", "a2'"]
    assert contents(resolve(api, r2["response_id"])) == ["q1", "a1", "q2", "a2"]
    assert contents(resolve(api, r1["response_id"])) == ["q1", "a1"]
    body = resolve(api, r3["response_id"]).json()
    assert body["conversation_id"] == r3["conversation_id"] and body["response_id"] == r3["response_id"]


def test_fork_seqs_continue_after_the_fork_point(api, branched):
    _, _, r3 = branched
    items = api.get(f"/v1/sessions/{r3['conversation_id']}/items").json()["data"]
    assert [i["seq"] for i in items] == [1, 2, 3, 4]
    assert [i["content"] for i in items] == ["q1", "a1", "q2'", "a2'"]
    detail = api.get(f"/v1/sessions/{r3['conversation_id']}").json()
    assert detail["parent"] == "main" and detail["fork_seq"] == 2 and detail["last_seq"] == 4
    assert detail["items"] == 2  # only its own rows


def test_no_item_row_is_copied(api, branched):
    _, _, r3 = branched
    child = Conversation.objects.get(conversation_id=r3["conversation_id"])
    assert list(Item.objects.filter(conversation=child).values_list("seq", flat=True).order_by("seq")) == [3, 4]
    assert Item.objects.filter(conversation__tenant=api.tenant).count() == 6
    # every item id appears once in the database
    ids = list(Item.objects.filter(conversation__tenant=api.tenant).values_list("item_id", flat=True))
    assert len(ids) == len(set(ids))


def test_client_may_name_the_child(api, branched):
    r1, _, _ = branched
    named = store(api, previous_response_id=r1["response_id"], conversation_id="my-branch", output=[msg("assistant", "b")])
    assert named["forked"] is True and named["conversation_id"] == "my-branch"
    assert contents(resolve(api, named["response_id"])) == ["q1", "a1", "b"]


def test_naming_an_existing_conversation_for_a_fork_is_409(api, branched):
    r1, _, _ = branched
    api.post("/v1/sessions/taken/append", msg("user", "x"), format="json")
    response = api.post(
        "/v1/sessions/responses", {"previous_response_id": r1["response_id"], "conversation_id": "taken", "output": [msg("assistant", "b")]},
        format="json",
    )
    assert response.status_code == 409
    assert api.get("/v1/sessions/taken").json()["last_seq"] == 1


def test_continuing_the_fork_appends_to_the_fork(api, branched):
    _, _, r3 = branched
    r4 = store(api, previous_response_id=r3["response_id"], input=[msg("user", "q3")], output=[msg("assistant", "a3")])
    assert r4["forked"] is False and r4["conversation_id"] == r3["conversation_id"]
    assert contents(resolve(api, r4["response_id"])) == ["q1", "a1", "q2'", "a2'", "q3", "a3"]


def test_fork_of_a_fork(api, branched):
    _, _, r3 = branched
    r4 = store(api, previous_response_id=r3["response_id"], output=[msg("assistant", "x")])
    r5 = store(api, previous_response_id=r3["response_id"], output=[msg("assistant", "y")])
    assert r5["forked"] is True
    assert contents(resolve(api, r5["response_id"])) == ["q1", "a1", "q2'", "a2'", "y"]
    assert contents(resolve(api, r4["response_id"])) == ["q1", "a1", "q2'", "a2'", "x"]
    detail = api.get(f"/v1/sessions/{r5['conversation_id']}").json()
    assert detail["parent"] == r3["conversation_id"] and detail["fork_seq"] == 4


def test_fork_resolve_is_the_same_from_redis_and_from_postgres(api, branched):
    _, r2, r3 = branched
    hot_r2, hot_r3 = resolve(api, r2["response_id"]).content, resolve(api, r3["response_id"]).content
    redis_client.connection("hot").flushdb()
    assert resolve(api, r3["response_id"]).content == hot_r3
    assert resolve(api, r2["response_id"]).content == hot_r2
    # and again, now from the rebuilt windows
    assert resolve(api, r3["response_id"]).content == hot_r3


def test_fork_with_a_small_window_is_still_complete(api, tenant):
    tenant.window_size = 3
    tenant.save()
    first = store(api, conversation_id="long", input=[msg("user", f"u{i}") for i in range(4)], output=[msg("assistant", "a")])
    store(api, previous_response_id=first["response_id"], output=[msg("assistant", "head")])
    fork = store(api, previous_response_id=first["response_id"], output=[msg("assistant", "side")])
    assert fork["forked"] is True
    assert contents(resolve(api, fork["response_id"])) == ["u0", "u1", "u2", "u3", "a", "side"]
    window = hot_window.window_read(tenant_id=tenant.pk, conversation_id=fork["conversation_id"])
    assert window is None or not window.holds(0, 6) or len(window.entries) == 6


def test_older_response_in_a_conversation_resolves_to_its_own_context(api, branched):
    r1, r2, _ = branched
    body = resolve(api, r1["response_id"]).json()
    assert body["conversation_id"] == "main" and contents(resolve(api, r1["response_id"])) == ["q1", "a1"]


def test_unknown_previous_response_is_404_and_creates_nothing(api):
    response = api.post("/v1/sessions/responses", {"previous_response_id": "resp_nope", "conversation_id": "n", "output": []}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["param"] == "previous_response_id"
    assert not Conversation.objects.filter(conversation_id="n").exists()


def test_fork_depth_limit(api, tenant):
    tenant.max_fork_depth = 1
    tenant.save()
    r1 = store(api, conversation_id="deep", output=[msg("assistant", "1")])
    store(api, previous_response_id=r1["response_id"], output=[msg("assistant", "2")])
    child = store(api, previous_response_id=r1["response_id"], output=[msg("assistant", "3")])
    store(api, previous_response_id=child["response_id"], output=[msg("assistant", "4")])
    too_deep = api.post("/v1/sessions/responses", {"previous_response_id": child["response_id"], "output": [msg("assistant", "5")]}, format="json")
    assert too_deep.status_code == 400 and too_deep.json()["error"]["param"] == "previous_response_id"


def test_item_ids_are_unique_within_a_context_not_across_the_fork_tree(api, tenant):
    """The issue's reproduction: an id used only on the abandoned branch is free on the fork; twice in one context is 409."""
    r1 = store(api, conversation_id="tree", input=[msg("user", "q1")], output=[{"id": "msg_a1", **msg("assistant", "a1")}])
    store(api, previous_response_id=r1["response_id"], output=[{"id": "msg_r2", **msg("assistant", "head")}])
    fork = store(api, previous_response_id=r1["response_id"], output=[msg("assistant", "side")])
    fork_id = fork["conversation_id"]
    ok = api.post(f"/v1/sessions/{fork_id}/append", {"items": [{"id": "msg_r2", **msg("user", "same id, other branch")}]}, format="json")
    assert ok.status_code == 201, ok.content
    again = api.post(f"/v1/sessions/{fork_id}/append", {"items": [{"id": "msg_r2", **msg("user", "twice here")}]}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "item_id_taken"
    inherited = api.post(f"/v1/sessions/{fork_id}/append", {"items": [{"id": "msg_a1", **msg("user", "inherited id")}]}, format="json")
    assert inherited.status_code == 409 and inherited.json()["error"]["code"] == "item_id_taken"
    # A fork of the fork: the grandparent's items after the first fork point are not in its context either.
    grand = store(api, previous_response_id=fork["response_id"], conversation_id="grand", output=[msg("assistant", "g")])
    assert grand["conversation_id"] == "grand"
    stored = store(api, previous_response_id=grand["response_id"], output=[{"id": "msg_r2x", **msg("assistant", "x")}])
    assert stored["conversation_id"] == "grand"
    # "grand" forked at the fork's response, before msg_r2 was appended there: msg_r2 is not in its context …
    reused = api.post("/v1/sessions/grand/append", {"items": [{"id": "msg_r2", **msg("user", "after the fork point")}]}, format="json")
    assert reused.status_code == 201, reused.content
    # … while msg_a1 reaches it through both fork points.
    deep = api.post("/v1/sessions/grand/append", {"items": [{"id": "msg_a1", **msg("user", "two forks up")}]}, format="json")
    assert deep.status_code == 409
    free = store(api, previous_response_id=r1["response_id"], output=[{"id": "msg_r2x", **msg("assistant", "sibling")}])
    assert free["forked"] is True  # msg_r2x lives only on the "grand" branch
