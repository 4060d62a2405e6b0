"""GET /v1/sessions/{id}/context and /v1/sessions/context?previous_response_id=: bytes, budget, summary, fingerprint."""

import json

import pytest

from sessions_app.lifecycle import summary_refresh
from cache_app import hot_window
from sessions_app.models import Conversation

pytestmark = pytest.mark.django_db


def append(api, conversation_id, items):
    response = api.post(f"/v1/sessions/{conversation_id}/append", {"items": items}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def chat(api, conversation_id, turns, start=0):
    for n in range(start, start + turns):
        append(
            api,
            conversation_id,
            [
                {"role": "user", "content": f"Question {n}: how do I tune the {['cache', 'index', 'queue'][n % 3]} for tenant {n}?"},
                {"role": "assistant", "content": f"Answer {n}: set the {['ttl', 'ef_search', 'prefetch'][n % 3]} to {n * 7} and retry."},
            ],
        )


def context(api, conversation_id, **params):
    response = api.get(f"/v1/sessions/{conversation_id}/context", params)
    assert response.status_code == 200, response.content
    return response


def test_shape_and_order_without_summary(api):
    chat(api, "c1", 2)
    body = context(api, "c1", instructions="Be brief.").json()
    assert set(body) == {"conversation_id", "version", "messages", "estimated_input_tokens", "prefix_fingerprint", "truncated", "summary_upto_seq"}
    assert body["messages"][0] == {"type": "message", "role": "system", "content": "Be brief."}
    assert [m["content"][:10] for m in body["messages"][1:]] == ["Question 0", "Answer 0: ", "Question 1", "Answer 1: "]
    assert body["truncated"]["items"] == 0 and body["summary_upto_seq"] is None and body["version"] == 2


def test_identical_history_and_parameters_give_identical_bytes_from_redis_or_postgres(api, tenant):
    chat(api, "c2", 5)
    params = {"instructions": "Be brief.\nUse metric units.", "max_tokens": 120}
    first = context(api, "c2", **params).content
    second = context(api, "c2", **params).content
    hot_window.window_drop(tenant_id=tenant.pk, conversation_id="c2")
    from_postgres = context(api, "c2", **params).content
    assert first == second == from_postgres
    assert b"\r" not in first


def test_budget_is_respected_for_every_max_tokens(api):
    chat(api, "c3", 4)
    for budget in (1, 5, 20, 40, 80, 160, 10_000):
        body = context(api, "c3", max_tokens=budget).json()
        assert body["estimated_input_tokens"] <= budget
        assert len(body["messages"]) + body["truncated"]["items"] == 8


def test_instructions_larger_than_the_budget_are_sent_alone(api):
    chat(api, "c4", 1)
    body = context(api, "c4", instructions="Rules. " * 200, max_tokens=50).json()
    assert len(body["messages"]) == 1 and body["estimated_input_tokens"] > 50
    assert body["truncated"]["items"] == 2


def test_function_call_pairs_are_never_split(api):
    append(api, "c5", [{"role": "user", "content": "Weather in Paris?"}])
    append(
        api,
        "c5",
        [
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "Sunny and 21 degrees, light wind from the west."},
            {"role": "assistant", "content": "It is sunny."},
        ],
    )
    for budget in range(1, 120, 3):
        types = [m["type"] for m in context(api, "c5", max_tokens=budget).json()["messages"]]
        assert ("function_call" in types) == ("function_call_output" in types), budget


def test_summary_of_a_long_conversation_precedes_the_verbatim_window(api, tenant):
    tenant.window_size, tenant.summary_threshold_tokens = 6, 50
    tenant.save()
    chat(api, "long", 20)
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="long")
    summary = summary_refresh(conversation=conversation)
    assert summary is not None and summary.upto_seq == 34
    body = context(api, "long", instructions="Be brief.").json()
    assert body["summary_upto_seq"] == 34
    assert body["messages"][1]["role"] == "system"
    assert body["messages"][1]["content"].startswith("Summary of the earlier conversation (items 1-34):\n")
    assert len(body["messages"]) == 2 + 6
    assert body["messages"][2]["content"].startswith("Question 17")


def test_fingerprint_is_stable_across_appends_and_changes_are_counted(api, tenant):
    tenant.window_size, tenant.summary_threshold_tokens = 4, 20
    tenant.save()
    chat(api, "fp", 6)
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="fp")
    summary_refresh(conversation=conversation)
    first = context(api, "fp", instructions="Be brief.").json()["prefix_fingerprint"]
    chat(api, "fp", 1, start=6)  # new verbatim turns, same prefix
    assert context(api, "fp", instructions="Be brief.").json()["prefix_fingerprint"] == first
    conversation.refresh_from_db()
    assert conversation.prefix_fingerprint == first and conversation.apc_fingerprint_changes == 0
    changed = context(api, "fp", instructions="Be verbose.").json()["prefix_fingerprint"]
    assert changed != first
    context(api, "fp", instructions="Be verbose.")
    conversation.refresh_from_db()
    assert conversation.apc_fingerprint_changes == 1 and conversation.prefix_fingerprint == changed
    context(api, "fp", instructions="Be brief.")
    conversation.refresh_from_db()
    assert conversation.apc_fingerprint_changes == 2


def test_context_read_is_read_only_when_the_fingerprint_holds(api, tenant, django_assert_max_num_queries):
    chat(api, "ro", 3)
    context(api, "ro")
    version = Conversation.objects.get(tenant=tenant, conversation_id="ro").version
    with django_assert_max_num_queries(2):  # the conversation with its summary (one query), nothing else
        context(api, "ro")
    assert Conversation.objects.get(tenant=tenant, conversation_id="ro").version == version


def test_previous_response_id_gives_the_path_up_to_that_response(api):
    first = api.post(
        "/v1/sessions/responses",
        {"conversation_id": "r", "input": [{"role": "user", "content": "Hi"}], "output": [{"role": "assistant", "content": "Hello!"}]},
        format="json",
    ).json()
    api.post(
        "/v1/sessions/responses",
        {"previous_response_id": first["response_id"], "input": [{"role": "user", "content": "More"}], "output": [{"role": "assistant", "content": "Sure."}]},
        format="json",
    )
    response = api.get("/v1/sessions/context", {"previous_response_id": first["response_id"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["response_id"] == first["response_id"] and body["conversation_id"] == "r"
    assert [m["content"] for m in body["messages"]] == ["Hi", "Hello!"]


@pytest.mark.parametrize(
    "params, param",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1_000_001}, "max_tokens"),
        ({"max_tokens": "ten"}, "max_tokens"),
        ({"recent_k": 1001}, "recent_k"),
        ({"recall_k": 51}, "recall_k"),
        ({"recall_scope": "world"}, "recall_scope"),
        ({"instructions": "x" * (64 * 1024 + 1)}, "instructions"),
    ],
)
def test_bad_parameters_answer_400_naming_the_parameter(api, params, param):
    chat(api, "v", 1)
    response = api.get("/v1/sessions/v/context", params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unknown_or_foreign_conversation_and_response_are_404(api, other_api):
    chat(api, "mine", 1)
    assert other_api.get("/v1/sessions/mine/context").status_code == 404
    assert api.get("/v1/sessions/nope/context").status_code == 404
    missing = api.get("/v1/sessions/context", {"previous_response_id": "resp_missing"})
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "previous_response_id"
    assert api.get("/v1/sessions/context").status_code == 400


def test_a_fork_uses_its_parents_summary_up_to_the_fork_point(api, tenant):
    tenant.window_size, tenant.summary_threshold_tokens = 4, 20
    tenant.save()
    stored = []
    for n in range(8):
        body = {"input": [{"role": "user", "content": f"Question {n} about cache tuning and ttl values?"}],
                "output": [{"role": "assistant", "content": f"Answer {n}: set ttl to {n * 60} seconds."}]}
        body.update({"previous_response_id": stored[-1]} if stored else {"conversation_id": "parent"})
        stored.append(api.post("/v1/sessions/responses", body, format="json").json()["response_id"])
    summary = summary_refresh(conversation=Conversation.objects.get(tenant=tenant, conversation_id="parent"))
    assert summary.upto_seq == 12
    fork = api.post("/v1/sessions/responses", {"previous_response_id": stored[-2], "input": [{"role": "user", "content": "Other branch"}],
                                               "output": [{"role": "assistant", "content": "Sure."}]}, format="json").json()
    assert fork["forked"] is True
    body = api.get(f"/v1/sessions/{fork['conversation_id']}/context").json()
    assert body["summary_upto_seq"] == 12
    assert [m["content"][:8] for m in body["messages"][1:]] == ["Question", "Answer 6", "Other br", "Sure."]
