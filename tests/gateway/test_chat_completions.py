"""POST /v1/chat/completions through the official SDK against a live ConvoStore, the fake upstream behind it."""

import openai
import pytest

from sessions_app.models import Conversation, Item, Response
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.conftest import upstream_settings

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def conv(conversation_id: str) -> dict:
    return {"convostore": {"conversation": conversation_id}}


@pytest.fixture(params=["chat_completions", "responses"])
def api_kind(request, settings, upstream):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=request.param)
    return request.param


def test_without_a_conversation_it_is_a_pass_through_that_stores_nothing(sdk, upstream, default_route):
    answer = sdk.chat.completions.create(model="small", seed=7, temperature=0.3, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])
    assert answer.object == "chat.completion" and answer.choices[0].message.content == "echo: Hello"
    assert answer.choices[0].finish_reason == "stop" and answer.usage.total_tokens > 0 and answer.model == "small"
    body = upstream.calls("/chat/completions")[-1]["body"]
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert body["seed"] == 7 and body["temperature"] == 0.3  # fields ConvoStore does not model go upstream unchanged
    assert not Response.objects.exists() and not Conversation.objects.exists() and not Item.objects.exists()


def test_a_second_call_sees_the_first_calls_messages_and_answer(sdk, upstream, api_kind):
    first = sdk.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "My name is Ada."}],
        extra_body=conv("chat-1"))
    assert first.headers["X-ConvoStore-Conversation"] == "chat-1"
    assert first.parse().choices[0].message.content == "echo: My name is Ada."
    second = sdk.chat.completions.create(model="m", messages=[{"role": "system", "content": "Be brief."},
                                                              {"role": "user", "content": "What is my name?"}],
                                         extra_headers={"X-ConvoStore-Conversation": "chat-1"})
    assert second.choices[0].message.content == "echo: What is my name?"
    sent = upstream.requests[-1]["body"]
    if api_kind == "chat_completions":
        assert [(m["role"], m["content"]) for m in sent["messages"]] == [
            ("system", "Be brief."), ("user", "My name is Ada."), ("assistant", "echo: My name is Ada."), ("user", "What is my name?")]
    else:
        assert sent["instructions"] == "Be brief." and [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
    conversation = Conversation.objects.get(tenant=sdk.tenant, conversation_id="chat-1")  # created by the first call
    texts = [i.content[0].text for i in sdk.conversations.items.list(conversation.conversation_id, order="asc")]
    assert texts == ["My name is Ada.", "echo: My name is Ada.", "What is my name?", "echo: What is my name?"]
    assert Response.objects.filter(conversation=conversation).count() == 2


def test_tool_calls_round_trip(sdk, upstream, api_kind):
    asked = sdk.chat.completions.create(model="m", tools=TOOLS, extra_body=conv("tools"),
                                        messages=[{"role": "user", "content": '!tool get_weather {"city": "Rome"}'}])
    (call,) = asked.choices[0].message.tool_calls
    assert asked.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Rome"}'
    answered = sdk.chat.completions.create(model="m", tools=TOOLS, extra_body=conv("tools"),
                                           messages=[{"role": "tool", "tool_call_id": call.id, "content": "warm"}])
    assert answered.choices[0].message.content == "tool result: warm"
    if api_kind == "chat_completions":
        sent = upstream.requests[-1]["body"]["messages"]
        assert sent[1]["tool_calls"][0]["id"] == call.id and sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "warm"}
    kinds = list(Item.objects.filter(conversation__conversation_id="tools").order_by("seq").values_list("type", flat=True))
    assert kinds == ["message", "function_call", "function_call_output", "message"]


@pytest.mark.parametrize("directive,exception", [("!fail 429 slow down", openai.RateLimitError),
                                                  ("!fail 500 boom", openai.InternalServerError)])
def test_failures_map_as_in_gateway_mode_and_write_nothing(sdk, upstream, default_route, directive, exception):
    with pytest.raises(exception) as raised:
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": directive}], extra_body=conv("fails"))
    assert raised.value.status_code in (429, 502)
    assert not Conversation.objects.exists() and not Response.objects.exists() and not Item.objects.exists()


def test_bad_input_is_400_with_param_before_any_upstream_call(sdk, upstream, default_route):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], extra_body=conv("bad id!"))
    assert raised.value.body["param"] == "convostore.conversation"
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="m", messages=[{"role": "wizard", "content": "x"}])
    assert raised.value.body["param"] == "messages[0].role"
    assert upstream.requests == []
