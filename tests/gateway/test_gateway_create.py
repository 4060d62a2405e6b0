"""POST /v1/responses through the official SDK against a live ConvoStore, the fake upstream behind it."""

import openai
import pytest

from sessions_app.models import Conversation, Item, Response, TokenUsage
from tests.api.test_openai_sdk_client import other_sdk, sdk  # noqa: F401 (fixtures)
from tests.gateway.conftest import upstream_settings

TOOLS = [{"type": "function", "name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(params=["chat_completions", "responses"])
def api_kind(request, settings, upstream):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=request.param)
    return request.param


def test_create_answers_the_responses_object_and_get_returns_the_same(sdk, upstream, default_route):
    created = sdk.responses.create(model="small", input="Hello", instructions="Be brief.", metadata={"team": "a"}, temperature=0.2)
    assert created.id.startswith("resp_") and created.object == "response" and created.status == "completed"
    assert created.output_text == "echo: Hello" and created.model == "small"
    assert created.instructions == "Be brief." and created.metadata == {"team": "a"} and created.temperature == 0.2
    assert created.conversation is None and created.previous_response_id is None
    assert created.usage.input_tokens > 0 and created.usage.total_tokens == created.usage.input_tokens + created.usage.output_tokens
    assert sdk.responses.retrieve(created.id).to_dict() == created.to_dict()
    (call,) = upstream.calls("/chat/completions")
    assert call["body"]["model"] == "small"
    assert call["body"]["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    usage = TokenUsage.objects.get(tenant=sdk.tenant)
    assert (usage.input_tokens, usage.output_tokens, usage.calls) == (created.usage.input_tokens, created.usage.output_tokens, 1)


def test_chained_creates_by_previous_response_id(sdk, upstream, api_kind):
    first = sdk.responses.create(model="m", input="one")
    second = sdk.responses.create(model="m", input="two", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text == "echo: two"
    sent = upstream.requests[-1]["body"]
    if api_kind == "chat_completions":
        assert [(m["role"], m["content"]) for m in sent["messages"]] == [("user", "one"), ("assistant", "echo: one"), ("user", "two")]
    else:
        assert [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
        assert sent["store"] is False and "previous_response_id" not in sent and all("id" not in i for i in sent["input"])
    assert Conversation.objects.filter(tenant=sdk.tenant).count() == 1  # the head was extended


def test_chained_creates_by_conversation(sdk, upstream, default_route):
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "My name is Ada."},
                                                   {"role": "assistant", "content": "Hello Ada."}])
    answer = sdk.responses.create(model="m", input="What is my name?", conversation=conversation.id)
    assert answer.conversation.id == conversation.id and answer.previous_response_id is None
    assert [m["content"] for m in upstream.requests[-1]["body"]["messages"]] == ["My name is Ada.", "Hello Ada.", "What is my name?"]
    again = sdk.responses.create(model="m", input="And now?", conversation={"id": conversation.id})
    assert len(upstream.requests[-1]["body"]["messages"]) == 5
    texts = [i.content[0].text for i in sdk.conversations.items.list(conversation.id, order="asc")]
    assert texts == ["My name is Ada.", "Hello Ada.", "What is my name?", "echo: What is my name?", "And now?", "echo: And now?"]
    assert sdk.responses.retrieve(again.id).conversation.id == conversation.id


def test_continuing_an_earlier_response_forks(sdk, upstream, default_route):
    first = sdk.responses.create(model="m", input="root")
    sdk.responses.create(model="m", input="branch A", previous_response_id=first.id)
    other = sdk.responses.create(model="m", input="branch B", previous_response_id=first.id)
    assert [m["content"] for m in upstream.requests[-1]["body"]["messages"]] == ["root", "echo: root", "branch B"]
    row = Response.objects.select_related("conversation").get(response_id=other.id)
    assert row.conversation.parent is not None  # a child conversation: nothing copied, nothing lost
    assert [i.role for i in sdk.responses.input_items.list(other.id)] == ["user"]


def test_function_calling_round_trip(sdk, upstream, api_kind):
    call = sdk.responses.create(model="m", input='!tool get_weather {"city": "Paris"}', tools=TOOLS)
    (item,) = call.output
    assert item.type == "function_call" and item.name == "get_weather" and item.arguments == '{"city": "Paris"}'
    assert item.id.startswith("fc_") and item.call_id
    answer = sdk.responses.create(model="m", previous_response_id=call.id, tools=TOOLS,
                                  input=[{"type": "function_call_output", "call_id": item.call_id, "output": "sunny"}])
    assert answer.output_text == "tool result: sunny"
    sent = upstream.requests[-1]["body"]
    if api_kind == "chat_completions":
        assert sent["tools"] == [{"type": "function", "function": {k: TOOLS[0][k] for k in ("name", "description", "parameters")}}]
        assert sent["messages"][1]["tool_calls"][0]["id"] == item.call_id
        assert sent["messages"][2] == {"role": "tool", "tool_call_id": item.call_id, "content": "sunny"}
    else:
        assert [i["type"] for i in sent["input"]] == ["message", "function_call", "function_call_output"]
        assert sent["tools"] == TOOLS
    assert sdk.responses.retrieve(answer.id).tools[0].name == "get_weather"


def test_reasoning_content_becomes_a_reasoning_item(sdk, upstream, api_kind):
    answer = sdk.responses.create(model="m", input="!reason why?")
    assert [i.type for i in answer.output] == ["reasoning", "message"]
    assert answer.output[0].summary[0].text == "Thinking it over."
    follow = sdk.responses.create(model="m", input="next", previous_response_id=answer.id)
    sent = upstream.requests[-1]["body"]
    assert all(i.get("type") != "reasoning" for i in sent.get("input") or sent["messages"])  # kept in the store only
    assert follow.status == "completed"


def test_store_false_writes_nothing(sdk, upstream, default_route):
    answer = sdk.responses.create(model="m", input="secret", store=False)
    assert answer.output_text == "echo: secret" and answer.store is False
    assert not Response.objects.exists() and not Conversation.objects.exists() and not Item.objects.exists()
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(answer.id)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="m", input="x", store=False, extra_headers={"Idempotency-Key": "k1"})
    assert caught.value.body["param"] == "Idempotency-Key"


def test_an_idempotent_retry_returns_the_stored_response_without_calling_upstream(sdk, upstream, default_route):
    first = sdk.responses.with_raw_response.create(model="m", input="once", extra_headers={"Idempotency-Key": "turn-1"})
    again = sdk.responses.with_raw_response.create(model="m", input="once", extra_headers={"Idempotency-Key": "turn-1"})
    assert again.headers.get("Idempotent-Replayed") == "true" and first.headers.get("Idempotent-Replayed") is None
    assert again.parse().to_dict() == first.parse().to_dict()
    assert len(upstream.calls("/chat/completions")) == 1 and Response.objects.count() == 1
    with pytest.raises(openai.ConflictError):
        sdk.responses.create(model="m", input="another body", extra_headers={"Idempotency-Key": "turn-1"})
    # its own scope: the native store-response endpoint does not see the key
    sdk.post("/sessions/responses", cast_to=object, body={"conversation_id": "c", "input": [], "output": []},
             options={"headers": {"Idempotency-Key": "turn-1"}})


def test_bad_input_is_400_with_param_before_any_upstream_call(sdk, upstream, default_route):
    first = sdk.responses.create(model="m", input="x")
    cases = [
        (dict(input="x", previous_response_id=first.id, conversation="conv_1"), "conversation"),
        (dict(input=[]), "input"),
        (dict(input="x", temperature=3), "temperature"),
        (dict(input="x", truncation="sometimes"), "truncation"),
        (dict(input=[{"type": "message"}]), "input[0].role"),
        (dict(input="x", metadata={"k": 5}), "metadata.k"),
        (dict(input="x", extra_body={"convostore": {"recall": {"k": 0}}}), "convostore.recall.k"),
    ]
    for kwargs, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.responses.create(model="m", **kwargs)
        assert caught.value.body["param"] == param, kwargs
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="m", input="x", previous_response_id="resp_nope")
    assert caught.value.body["param"] == "previous_response_id"
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="m", input="x", conversation="conv_nope")
    assert caught.value.body["param"] == "conversation"
    assert len(upstream.requests) == 1


def test_an_unrouted_model_is_model_not_found(sdk, settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("")
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model="nowhere", input="x")
    assert (caught.value.body["code"], caught.value.body["param"]) == ("model_not_found", "model")


def test_a_spent_daily_quota_is_429_before_the_upstream_call(sdk, upstream, default_route):
    tenant = sdk.tenant
    tenant.daily_token_quota = 5
    tenant.save()
    from sessions_app.services.tenants import api_keys_forget as forget_tenant_keys
    forget_tenant_keys(tenant)
    sdk.responses.create(model="m", input="spend it all please")
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.responses.create(model="m", input="more")
    assert caught.value.body["code"] == "insufficient_quota" and caught.value.body["type"] == "insufficient_quota"
    assert len(upstream.requests) == 1


def test_another_tenants_response_or_conversation_is_404_and_never_sent_upstream(sdk, other_sdk, upstream, default_route):
    mine = sdk.responses.create(model="m", input="my secret")
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "my other secret"}])
    for kwargs, param in ((dict(previous_response_id=mine.id), "previous_response_id"), (dict(conversation=conversation.id), "conversation")):
        with pytest.raises(openai.NotFoundError) as caught:
            other_sdk.responses.create(model="m", input="show me", **kwargs)
        assert caught.value.body["param"] == param
    assert len(upstream.requests) == 1


def test_the_readme_gateway_example_runs_unchanged(live_server, api, upstream, default_route):
    from openai import OpenAI

    with OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0) as client:
        first = client.responses.create(model="Qwen/Qwen2.5-7B-Instruct", input="Name three rivers in France.")
        second = client.responses.create(model="Qwen/Qwen2.5-7B-Instruct", input="Which is longest?", previous_response_id=first.id)
    assert second.output_text == "echo: Which is longest?"
    assert [m["content"] for m in upstream.requests[-1]["body"]["messages"]][:2] == ["Name three rivers in France.",
                                                                                   "echo: Name three rivers in France."]
