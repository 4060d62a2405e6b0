"""The fake upstream speaks what the official SDK expects, so gateway tests fail on ConvoStore, not on the fake."""

import openai
import pytest


@pytest.fixture
def client(upstream):
    with openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=0, timeout=5) as sdk:
        yield sdk


TOOLS_CHAT = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
TOOLS_RESPONSES = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]


def test_chat_answers_echo_and_tool_calls(client):
    answer = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "echo: hi" and answer.usage.total_tokens > 0
    call = client.chat.completions.create(model="m", messages=[{"role": "user", "content": '!tool get_weather {"city": "Paris"}'}],
                                          tools=TOOLS_CHAT)
    assert call.choices[0].message.tool_calls[0].function.name == "get_weather"
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b c"}], stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b c"
    assert chunks[-1].usage.total_tokens > 0


def test_responses_answers_and_streams(client):
    answer = client.responses.create(model="m", input="hi")
    assert answer.output_text == "echo: hi"
    with client.responses.stream(model="m", input='!tool get_weather {"city": "Oslo"}', tools=TOOLS_RESPONSES) as stream:
        final = stream.get_final_response()
    assert final.output[0].type == "function_call" and final.output[0].arguments == '{"city": "Oslo"}'
    events = [e.type for e in client.responses.create(model="m", input="!reason x", stream=True)]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_failure_modes(client, upstream):
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="m", input="!fail 429 slow down")
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "!fail 404 no such model"}])
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="m", input="!fail 503 down")
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).responses.create(model="m", input="!hang")
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model="m", input="!cut")
    cut = [e.type for e in client.responses.create(model="m", input="!cut", stream=True)]
    assert "response.output_text.delta" in cut and "response.completed" not in cut  # the SDK just stops: no error
    upstream.api_key = "secret"
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model="m", input="x")
    assert len(upstream.calls("/responses")) == 6
