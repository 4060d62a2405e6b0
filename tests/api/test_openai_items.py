"""Conversation items through the real SDK: create, list pages both ways, retrieve, shapes, native interop."""

import json

import openai
import pytest

from sessions_app.models import Conversation, Item
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)


def _numbered(conversation_id, sdk, count):
    ids = []
    for start in range(0, count, 20):
        created = sdk.conversations.items.create(
            conversation_id, items=[{"role": "user", "content": f"m{i}"} for i in range(start, min(count, start + 20))]
        )
        ids.extend(item.id for item in created.data)
    return ids


def test_items_create_answers_a_list_in_order(sdk):
    conversation = sdk.conversations.create()
    created = sdk.conversations.items.create(
        conversation.id,
        items=[{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}, {"role": "assistant", "content": "Yo"}],
    )
    assert created.object == "list" and created.has_more is False
    assert [item.role for item in created.data] == ["user", "assistant"]
    assert created.first_id == created.data[0].id and created.last_id == created.data[1].id
    assert created.data[0].id.startswith("msg_")
    assert Conversation.objects.get(conversation_id=conversation.id).version == 1


def test_pagination_across_pages_in_both_orders(sdk):
    conversation = sdk.conversations.create()
    ids = _numbered(conversation.id, sdk, 45)
    first = sdk.conversations.items.list(conversation.id, limit=20, order="asc")
    assert [i.id for i in first.data] == ids[:20] and first.has_more is True and first.last_id == ids[19]
    assert [i.id for i in sdk.conversations.items.list(conversation.id, limit=20, order="asc")] == ids
    assert [i.id for i in sdk.conversations.items.list(conversation.id, limit=7, order="desc")] == ids[::-1]
    default = sdk.conversations.items.list(conversation.id)
    assert [i.id for i in default.data] == ids[::-1][:20]  # default order desc, limit 20
    last = sdk.conversations.items.list(conversation.id, after=ids[39], order="asc")
    assert [i.id for i in last.data] == ids[40:] and last.has_more is False
    pages = list(sdk.conversations.items.list(conversation.id, limit=20, order="desc").iter_pages())
    assert [len(p.data) for p in pages] == [20, 20, 5]


def test_limit_is_between_1_and_100(sdk):
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "x"}])
    for bad in (0, 101):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.conversations.items.list(conversation.id, limit=bad)
        assert caught.value.body["param"] == "limit"
    assert len(sdk.conversations.items.list(conversation.id, limit=100).data) == 1


def test_string_content_is_shown_as_parts_without_changing_stored_bytes(sdk, api):
    api.post("/v1/sessions/shape/append", {"items": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                                                     {"role": "system", "content": "S"}, {"role": "developer", "content": "D"}]}, format="json")
    before = list(Item.objects.order_by("seq").values_list("raw", flat=True))
    items = sdk.conversations.items.list("shape", order="asc").data
    assert [(i.content[0].type, i.content[0].text) for i in items] == [
        ("input_text", "Q"), ("output_text", "A"), ("input_text", "S"), ("input_text", "D")
    ]
    assert all(i.status == "completed" and i.type == "message" for i in items)
    assert items[1].content[0].annotations == []
    assert list(Item.objects.order_by("seq").values_list("raw", flat=True)) == before
    assert json.loads(before[0])["content"] == "Q"


def test_tool_items_round_trip_verbatim(sdk):
    conversation = sdk.conversations.create()
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": "{\"q\": \"x\"}", "status": "completed"}
    output = {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "42", "status": "completed"}
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "think"}], "encrypted_content": "gAAA"}
    sdk.conversations.items.create(conversation.id, items=[call, output, reasoning])
    raw = sdk.conversations.items.with_raw_response.list(conversation.id, order="asc").http_response.json()["data"]
    assert raw == [call, output, reasoning]
    got = sdk.conversations.items.retrieve("fc_1", conversation_id=conversation.id)
    assert (got.type, got.call_id, got.name, got.arguments) == ("function_call", "call_1", "lookup", "{\"q\": \"x\"}")
    assert sdk.conversations.items.retrieve("rs_1", conversation_id=conversation.id).encrypted_content == "gAAA"


def test_status_is_added_only_where_the_sdk_requires_it(sdk):
    conversation = sdk.conversations.create(items=[
        {"type": "function_call", "id": "fc_2", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "reasoning", "id": "rs_2", "summary": []},
        {"type": "x_custom", "id": "x_1", "payload": {"a": 1}},
    ])
    raw = sdk.conversations.items.with_raw_response.list(conversation.id, order="asc").http_response.json()["data"]
    assert raw[0]["status"] == "completed"
    assert raw[1] == {"type": "reasoning", "id": "rs_2", "summary": []}
    assert raw[2] == {"type": "x_custom", "id": "x_1", "payload": {"a": 1}}


def test_native_append_is_visible_through_the_sdk_and_back(sdk, api):
    appended = api.post("/v1/sessions/both-ways/append", {"items": [{"role": "user", "content": "native"}]}, format="json").json()
    listed = sdk.conversations.items.list("both-ways")
    assert [i.id for i in listed.data] == [appended["items"][0]["id"]]
    assert listed.data[0].content[0].text == "native"
    created = sdk.conversations.items.create("both-ways", items=[{"role": "assistant", "content": "openai"}])
    native = api.get("/v1/sessions/both-ways/items").json()["data"]
    assert [(i["id"], i["content"], i["seq"]) for i in native] == [
        (appended["items"][0]["id"], "native", 1), (created.data[0].id, "openai", 2)
    ]
    assert api.get("/v1/sessions/both-ways").json()["version"] == 2


def test_retrieve_an_item_and_include_values(sdk):
    conversation = sdk.conversations.create(items=[{"id": "msg_a", "role": "user", "content": "hello"}])
    item = sdk.conversations.items.retrieve("msg_a", conversation_id=conversation.id, include=["message.output_text.logprobs"])
    assert item.id == "msg_a" and item.content[0].text == "hello"
    listed = sdk.conversations.items.list(conversation.id, include=["reasoning.encrypted_content", "web_search_call.action.sources"])
    assert [i.id for i in listed.data] == ["msg_a"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.items.list(conversation.id, include=["nonsense.value"])
    assert caught.value.body["param"] == "include"
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.conversations.items.retrieve("msg_zzz", conversation_id=conversation.id)
    assert missing.value.body["param"] == "item_id"
