"""POST /v1/chat/completions with stream=True and the convostore extensions, through the official SDK."""

import openai
import pytest

from sessions_app.lifecycle import conversation_embed
from sessions_app.models import Conversation, Item, Response
from sessions_app.services import conversation_append
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.conftest import upstream_settings
from tests.gateway.test_chat_completions import TOOLS, conv


@pytest.fixture(params=["chat_completions", "responses"])
def api_kind(request, settings, upstream):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=request.param)
    return request.param


def test_stream_is_chunks_then_done_and_is_stored_before_the_finish_chunk(sdk, upstream, api_kind):
    chunks = []
    for chunk in sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "!long 5"}], stream=True,
                                             stream_options={"include_usage": True}, extra_body=conv("streamed")):
        if chunk.choices and chunk.choices[0].finish_reason:  # sent after the commit
            assert Response.objects.filter(response_id=chunk.id, status="completed").exists()
        chunks.append(chunk)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].object == "chat.completion.chunk"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "w0 w1 w2 w3 w4"
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    follow = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "next"}], extra_body=conv("streamed"))
    assert follow.choices[0].message.content == "echo: next"
    if api_kind == "chat_completions":
        assert [m["content"] for m in upstream.requests[-1]["body"]["messages"]] == ["!long 5", "w0 w1 w2 w3 w4", "next"]


def test_a_streamed_tool_call_round_trips(sdk, upstream, api_kind):
    chunks = list(sdk.chat.completions.create(model="m", tools=TOOLS, stream=True, extra_body=conv("st"),
                                              messages=[{"role": "user", "content": '!tool get_weather {"city": "Rome"}'}]))
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    call_id, name = calls[0].id, calls[0].function.name
    assert name == "get_weather" and "".join(tc.function.arguments or "" for tc in calls) == '{"city": "Rome"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    answered = list(sdk.chat.completions.create(model="m", tools=TOOLS, stream=True, extra_body=conv("st"),
                                                messages=[{"role": "tool", "tool_call_id": call_id, "content": "warm"}]))
    assert "".join(c.choices[0].delta.content or "" for c in answered if c.choices) == "tool result: warm"


def test_a_stream_cut_midway_raises_in_the_sdk_and_stores_nothing(sdk, upstream, api_kind):
    with pytest.raises(openai.APIError):
        list(sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "!cut"}], stream=True, extra_body=conv("cut")))
    assert not Response.objects.exists() and not Conversation.objects.exists() and not Item.objects.exists()


def test_an_upstream_refusal_before_streaming_is_an_http_status(sdk, upstream, default_route):
    with pytest.raises(openai.RateLimitError):
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "!fail 429 slow"}], stream=True, extra_body=conv("x"))
    assert not Conversation.objects.exists()


def test_a_semantic_cache_hit_skips_the_upstream(sdk, upstream, default_route):
    body = {"convostore": {"semantic_cache": {}}}
    question = [{"role": "user", "content": "What is the capital of France?"}]
    first = sdk.chat.completions.with_raw_response.create(model="m", messages=question, extra_body=body)
    assert first.headers["X-ConvoStore-Cache"] == "miss"
    again = sdk.chat.completions.with_raw_response.create(model="m", messages=question, extra_body=body)
    assert again.headers["X-ConvoStore-Cache"] == "hit"
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content
    streamed = list(sdk.chat.completions.create(model="m", messages=question, extra_body=body, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "echo: What is the capital of France?"
    assert len(upstream.requests) == 1


def test_recall_injects_one_developer_message_of_memories(sdk, upstream, default_route):
    conversation_append(tenant=sdk.tenant, conversation_id="old", metadata={"user": "u1"}, items=[
        {"role": "user", "content": "My dog is called Rex and he loves the beach."}, {"role": "assistant", "content": "Rex sounds lovely."}])
    conversation_embed(conversation=Conversation.objects.select_related("tenant").get(tenant=sdk.tenant, conversation_id="old"))
    extensions = {"convostore": {"conversation": "new-one", "recall": {"k": 2, "scope": "user", "user": "u1"}}}
    sdk.chat.completions.create(model="m", messages=[{"role": "system", "content": "Be brief."},
                                                     {"role": "user", "content": "What is my dog called?"}], extra_body=extensions)
    system = upstream.requests[-1]["body"]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.\n\nRecalled from earlier history:\n")
    assert system["content"].count("Rex is called") == 0 and system["content"].count("My dog is called Rex") == 1
    stored = Item.objects.filter(conversation__conversation_id="new-one").values_list("role", flat=True)
    assert list(stored) == ["user", "assistant"]  # the recalled memories are not stored
