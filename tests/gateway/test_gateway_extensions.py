"""The convostore extensions (extra_body): semantic cache, recall, and the prefix/estimate/cache headers."""

import hashlib

import pytest

from sessions_app.lifecycle import conversation_embed
from sessions_app.models import Conversation, Response
from sessions_app.services import conversation_append
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)

CACHE = {"convostore": {"semantic_cache": {}}}


def test_every_answer_carries_the_prefix_fingerprint_and_the_estimate(sdk, upstream, default_route):
    raw = sdk.responses.with_raw_response.create(model="m", input="hi", instructions="Be brief.")
    prefix = '[{"content":"Be brief.","role":"system","type":"message"}]'
    assert raw.headers["X-ConvoStore-Prefix-Fingerprint"] == hashlib.sha256(prefix.encode()).hexdigest()
    assert int(raw.headers["X-ConvoStore-Estimated-Input-Tokens"]) > 0
    assert "X-ConvoStore-Cache" not in raw.headers  # only when semantic_cache was sent


def test_a_semantic_cache_hit_answers_without_the_upstream_and_is_stored(sdk, upstream, default_route):
    first = sdk.responses.with_raw_response.create(model="m", input="What is the capital of France?", extra_body=CACHE)
    assert first.headers["X-ConvoStore-Cache"] == "miss"
    again = sdk.responses.with_raw_response.create(model="m", input="What is the capital of France?", extra_body=CACHE)
    assert again.headers["X-ConvoStore-Cache"] == "hit"
    assert again.parse().output_text == first.parse().output_text and again.parse().id != first.parse().id
    assert len(upstream.requests) == 1
    assert Response.objects.get(response_id=again.parse().id).usage is None  # no upstream tokens were spent
    other = sdk.responses.with_raw_response.create(model="m", input="What is the capital of France?", instructions="Be formal.",
                                                   extra_body=CACHE)
    assert other.headers["X-ConvoStore-Cache"] == "miss"  # another namespace: model + instructions fingerprint
    streamed = list(sdk.responses.create(model="m", input="What is the capital of France?", extra_body=CACHE, stream=True))
    assert streamed[-1].type == "response.completed" and streamed[-1].response.output_text == first.parse().output_text
    assert len(upstream.requests) == 2


def test_recall_injects_one_developer_message_of_memories(sdk, upstream, default_route):
    tenant = sdk.tenant
    conversation_append(tenant=tenant, conversation_id="old", metadata={"user": "u1"}, items=[
        {"role": "user", "content": "My dog is called Rex and he loves the beach."},
        {"role": "assistant", "content": "Rex sounds lovely."},
    ])
    conversation_embed(conversation=Conversation.objects.select_related("tenant").get(tenant=tenant, conversation_id="old"))
    recall = {"convostore": {"recall": {"k": 2, "scope": "user", "user": "u1"}}}
    sdk.responses.create(model="m", input="What is my dog called?", instructions="Be brief.", extra_body=recall)
    system = upstream.requests[-1]["body"]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.\n\nRecalled from earlier history:\n")
    assert "Rex" in system["content"]
    sdk.responses.create(model="m", input="What is my dog called?", extra_body={"convostore": {"recall": {"k": 2, "scope": "conversation"}}})
    assert "Recalled" not in str(upstream.requests[-1]["body"]["messages"])  # a new conversation has no history of its own


@pytest.mark.parametrize("extension,param", [
    ({"nope": {}}, "convostore.nope"),
    ({"semantic_cache": {"threshold": 2}}, "convostore.semantic_cache.threshold"),
    ({"recall": {"k": 3, "scope": "galaxy"}}, "convostore.recall.scope"),
])
def test_bad_extensions_are_400(sdk, upstream, default_route, extension, param):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="m", input="x", extra_body={"convostore": extension})
    assert caught.value.body["param"] == param and upstream.requests == []
