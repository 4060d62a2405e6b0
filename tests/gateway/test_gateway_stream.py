"""stream: true — Responses streaming events through the SDK, stored only after the upstream completed."""

import threading

import openai
import pytest

from sessions_app.gateway.services import response_stored
from sessions_app.models import Conversation, Response
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.conftest import upstream_settings
from tests.gateway.test_gateway_create import TOOLS

MESSAGE_EVENTS = ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                  "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                  "response.output_item.done", "response.completed"]


@pytest.fixture(params=["chat_completions", "responses"])
def api_kind(request, settings, upstream):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=request.param)
    return request.param


def _collapse(types):
    return [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]


def test_stream_helper_gets_events_and_the_final_stored_response(sdk, upstream, api_kind):
    with sdk.responses.stream(model="m", input="stream me please", instructions="Be brief.") as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert _collapse([e.type for e in events]) == MESSAGE_EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "echo: stream me please"
    assert final.output_text == "echo: stream me please" and final.status == "completed" and final.usage.total_tokens > 0
    stored = sdk.responses.retrieve(final.id)
    assert stored.output_text == final.output_text and stored.output[0].id == final.output[0].id
    assert stored.instructions == "Be brief." and stored.usage == final.usage
    assert upstream.requests[-1]["body"]["stream"] is True


def test_stream_true_with_a_function_call(sdk, upstream, api_kind):
    events = list(sdk.responses.create(model="m", input='!tool get_weather {"city": "Rome"}', tools=TOOLS, stream=True))
    types = _collapse([e.type for e in events])
    assert types[2:] == ["response.output_item.added", "response.function_call_arguments.delta",
                         "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    final = events[-1].response
    assert final.output[0].type == "function_call" and final.output[0].arguments == '{"city": "Rome"}'
    follow = sdk.responses.create(model="m", previous_response_id=final.id, tools=TOOLS, stream=True,
                                  input=[{"type": "function_call_output", "call_id": final.output[0].call_id, "output": "warm"}])
    assert list(follow)[-1].response.output_text == "tool result: warm"


def test_completed_is_sent_only_after_the_commit(sdk, upstream, default_route):
    for event in sdk.responses.create(model="m", input="commit first", stream=True):
        if event.type == "response.created":
            assert not Response.objects.filter(response_id=event.response.id).exists()
        if event.type == "response.completed":
            assert Response.objects.filter(response_id=event.response.id, status="completed").exists()


@pytest.mark.parametrize("kind", ["chat_completions", "responses"])
def test_a_stream_cut_midway_ends_with_failed_and_stores_nothing(sdk, upstream, settings, kind):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=kind)
    events = list(sdk.responses.create(model="m", input="!cut", stream=True))
    assert events[-1].type == "response.failed" and "response.completed" not in [e.type for e in events]
    assert events[-1].response.error.code == "upstream_error"
    assert not Response.objects.exists() and not Conversation.objects.exists()


def test_an_upstream_refusal_before_streaming_is_an_http_status(sdk, upstream, default_route):
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="m", input="!fail 429 slow down", stream=True)
    assert not Response.objects.exists()


def test_store_false_streams_and_writes_nothing(sdk, upstream, default_route):
    events = list(sdk.responses.create(model="m", input="quiet", stream=True, store=False))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "echo: quiet"
    assert not Response.objects.exists()


def test_the_response_is_stored_when_the_client_leaves_midway(sdk, upstream, default_route):
    stored = threading.Event()
    seen = {}

    def on_stored(sender, response, **kwargs):
        if response.response_id == seen.get("id"):
            stored.set()

    response_stored.connect(on_stored)
    try:
        stream = sdk.responses.create(model="m", input="!hold 400", stream=True)
        deltas = 0
        for event in stream:
            if event.type == "response.created":
                seen["id"] = event.response.id
            deltas += event.type == "response.output_text.delta"
            if deltas == 2:
                break
        stream.close()  # the client goes away while the upstream is still answering
        upstream.release.set()
        assert stored.wait(60), "the drained response was not stored"
    finally:
        response_stored.disconnect(on_stored)
    row = Response.objects.get(response_id=seen["id"])
    assert sdk.responses.retrieve(row.response_id).output_text == " ".join(f"w{i}" for i in range(400))


def test_a_streamed_idempotent_retry_is_replayed_as_sse(sdk, upstream, default_route):
    headers = {"Idempotency-Key": "stream-1"}
    first = list(sdk.responses.create(model="m", input="replay me", stream=True, extra_headers=headers))
    with sdk.responses.with_streaming_response.create(model="m", input="replay me", stream=True, extra_headers=headers) as raw:
        assert raw.headers["Idempotent-Replayed"] == "true" and raw.headers["Content-Type"].startswith("text/event-stream")
    again = list(sdk.responses.create(model="m", input="replay me", stream=True, extra_headers=headers))
    assert _collapse([e.type for e in again]) == MESSAGE_EVENTS
    assert again[-1].response.to_dict() == sdk.responses.retrieve(first[-1].response.id).to_dict()
    assert again[-1].response.output_text == first[-1].response.output_text
    assert len(upstream.calls("/chat/completions")) == 1
