"""The context sent upstream: truncation disabled/auto, summaries, item groups, and 8 concurrent continuations."""

import threading

import openai
import pytest

from sessions_app.lifecycle import summary_refresh
from cache_app.hot_window import Entry
from sessions_app.context.groups import blocked_cuts as group_blocked
from sessions_app.models import Conversation, Response
from sessions_app.services import conversation_append
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.conftest import upstream_settings

WORDS = " ".join(f"word{i}" for i in range(40))


@pytest.fixture
def long_conversation(sdk, settings, upstream):
    """40 items of about 60 tokens each (≈2 400 tokens) behind a route whose window is 1 000 tokens."""
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, CONTEXT_WINDOW=1000)
    items = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}: {WORDS}"} for i in range(40)]
    for start in range(0, 40, 20):
        conversation_append(tenant=sdk.tenant, conversation_id="long", items=items[start:start + 20])
    return Conversation.objects.get(tenant=sdk.tenant, conversation_id="long")


def test_truncation_disabled_refuses_an_over_long_context_before_the_upstream_call(sdk, upstream, long_conversation):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="m", input="and now?", conversation="long")
    assert caught.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model="m", input="x", conversation="long", truncation="auto", max_output_tokens=998)
    assert upstream.requests == []


def test_truncation_auto_sends_the_newest_turns_that_fit(sdk, upstream, long_conversation):
    answer = sdk.responses.with_raw_response.create(model="m", input="and now?", conversation="long", truncation="auto",
                                                    max_output_tokens=200)
    estimated = int(answer.headers["X-ConvoStore-Estimated-Input-Tokens"])
    assert estimated <= 800 and answer.parse().truncation == "auto"
    messages = upstream.requests[-1]["body"]["messages"]
    assert messages[-1]["content"] == "and now?" and messages[-2]["content"].startswith("turn 39:")
    assert 5 < len(messages) < 20
    turns = [int(m["content"].split(":")[0].split()[1]) for m in messages[:-1]]
    assert turns == list(range(turns[0], 40))  # a contiguous newest run


def test_truncation_auto_starts_with_the_conversation_summary(sdk, upstream, long_conversation):
    tenant = long_conversation.tenant
    tenant.window_size = 8
    tenant.save()
    summary = summary_refresh(conversation=Conversation.objects.select_related("tenant").get(pk=long_conversation.pk), force=True)
    assert summary is not None
    sdk.responses.create(model="m", input="and now?", conversation="long", truncation="auto", max_output_tokens=200,
                         instructions="Be brief.")
    messages = upstream.requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("Be brief.\n\nSummary of the earlier conversation (items 1-")
    assert messages[-1]["content"] == "and now?"


def _entry(seq, item):
    import json
    return Entry(seq, 10, json.dumps(item, sort_keys=True, separators=(",", ":")))


def test_a_trim_never_splits_a_reasoning_call_output_group():
    entries = [
        _entry(1, {"type": "message", "role": "user", "content": "q"}),
        _entry(2, {"type": "reasoning", "summary": []}),
        _entry(3, {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}),
        _entry(4, {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"}),
        _entry(5, {"type": "function_call_output", "call_id": "c1", "output": "a"}),
        _entry(6, {"type": "function_call_output", "call_id": "c2", "output": "b"}),
        _entry(7, {"type": "message", "role": "assistant", "content": "done"}),
    ]
    assert group_blocked(entries) == [False, False, True, True, True, True, False, False]


def test_eight_concurrent_continuations_make_one_extension_and_seven_forks(sdk, upstream, live_server, api, default_route):
    root = sdk.responses.create(model="m", input="root")
    results, errors = [], []

    def continue_it(n):
        with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0, timeout=60) as client:
            try:
                results.append(client.responses.create(model="m", input=f"branch {n}", previous_response_id=root.id))
            except Exception as exc:  # collected, asserted below
                errors.append(exc)

    threads = [threading.Thread(target=continue_it, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 8
    rows = Response.objects.filter(previous_response_id=root.id).select_related("conversation")
    root_conversation = Response.objects.get(response_id=root.id).conversation_id
    assert sum(1 for r in rows if r.conversation_id == root_conversation) == 1
    assert sum(1 for r in rows if r.conversation.parent_id == root_conversation) == 7
    for result in results:  # nothing lost or merged: each branch reads root + its own turn only
        items = sdk.responses.input_items.list(result.id).data
        assert [i.content[0].text for i in items] == [result.output_text.removeprefix("echo: ")]
        assert sdk.responses.retrieve(result.id).output_text == result.output_text
