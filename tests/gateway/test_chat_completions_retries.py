"""POST /v1/chat/completions: Idempotency-Key retries, a streaming client that leaves midway, conversation conflicts."""

import threading

import openai
import pytest

from sessions_app.gateway.services import response_stored
from sessions_app.models import Conversation, Item, Response
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.test_chat_completions import conv

HELLO = [{"role": "user", "content": "Book a table for two."}]


def test_a_retry_with_the_same_key_is_stored_once_and_answered_as_before(sdk, upstream, default_route):
    key = {"Idempotency-Key": "chat-turn-1"}
    first = sdk.chat.completions.with_raw_response.create(model="m", messages=HELLO, extra_body=conv("idem"), extra_headers=key)
    again = sdk.chat.completions.with_raw_response.create(model="m", messages=HELLO, extra_body=conv("idem"), extra_headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and first.headers.get("Idempotent-Replayed") is None
    assert again.parse().id == first.parse().id
    assert again.parse().choices[0].message.content == first.parse().choices[0].message.content == "echo: Book a table for two."
    assert len(upstream.calls("/chat/completions")) == 1
    assert Response.objects.count() == 1 and Item.objects.filter(conversation__conversation_id="idem").count() == 2


def test_the_same_key_with_another_body_is_409_and_writes_nothing(sdk, upstream, default_route):
    key = {"Idempotency-Key": "chat-turn-2"}
    sdk.chat.completions.create(model="m", messages=HELLO, extra_body=conv("idem2"), extra_headers=key)
    with pytest.raises(openai.ConflictError) as raised:
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "Another."}], extra_body=conv("idem2"),
                                    extra_headers=key)
    assert raised.value.status_code == 409
    assert len(upstream.calls("/chat/completions")) == 1 and Item.objects.count() == 2


def test_a_key_without_a_conversation_is_400_since_nothing_is_stored(sdk, upstream, default_route):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="m", messages=HELLO, extra_headers={"Idempotency-Key": "k"})
    assert raised.value.body["param"] == "Idempotency-Key" and upstream.requests == []


def test_a_streamed_retry_is_replayed_as_chunks(sdk, upstream, default_route):
    key = {"Idempotency-Key": "chat-stream-1"}
    first = list(sdk.chat.completions.create(model="m", messages=HELLO, stream=True, extra_body=conv("s"), extra_headers=key))
    with sdk.chat.completions.with_streaming_response.create(model="m", messages=HELLO, stream=True, extra_body=conv("s"),
                                                             extra_headers=key) as raw:
        assert raw.headers["Idempotent-Replayed"] == "true" and raw.headers["Content-Type"].startswith("text/event-stream")
    again = list(sdk.chat.completions.create(model="m", messages=HELLO, stream=True, extra_body=conv("s"), extra_headers=key))
    text = "".join(c.choices[0].delta.content or "" for c in again if c.choices)
    assert text == "".join(c.choices[0].delta.content or "" for c in first if c.choices) == "echo: Book a table for two."
    assert {c.id for c in again} == {first[0].id} and again[-1].choices[0].finish_reason == "stop"
    assert len(upstream.calls("/chat/completions")) == 1


def test_a_client_leaving_midway_leaves_the_whole_answer_stored_never_half(sdk, upstream, default_route):
    """As /v1/responses: ConvoStore reads the upstream to its end and stores the complete turn (or nothing)."""
    stored, seen = threading.Event(), {}

    def on_stored(sender, response, **kwargs):
        if response.response_id == seen.get("id"):
            stored.set()

    response_stored.connect(on_stored)
    try:
        stream = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "!hold 400"}], stream=True,
                                             extra_body=conv("left"))
        deltas = 0
        for chunk in stream:
            seen["id"] = chunk.id
            deltas += bool(chunk.choices and chunk.choices[0].delta.content)
            if deltas == 2:
                break
        assert not Response.objects.filter(response_id=seen["id"]).exists()  # nothing is written while it streams
        stream.close()  # the client goes away while the upstream is still answering
        upstream.release.set()
        assert stored.wait(60), "the drained answer was not stored"
    finally:
        response_stored.disconnect(on_stored)
    texts = [i.content[0].text for i in sdk.conversations.items.list("left", order="asc")]
    assert texts == ["!hold 400", " ".join(f"w{i}" for i in range(400))]
    assert Response.objects.get(response_id=seen["id"]).status == "completed"


def test_body_and_header_naming_different_conversations_is_400_with_param(sdk, upstream, default_route):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="m", messages=HELLO, extra_body=conv("one"),
                                    extra_headers={"X-ConvoStore-Conversation": "two"})
    assert raised.value.body["param"] == "convostore.conversation" and raised.value.body["code"] == "invalid_value"
    assert upstream.requests == [] and not Conversation.objects.exists()
    same = sdk.chat.completions.create(model="m", messages=HELLO, extra_body=conv("one"),
                                       extra_headers={"X-ConvoStore-Conversation": "one"})
    assert same.choices[0].message.content == "echo: Book a table for two."
