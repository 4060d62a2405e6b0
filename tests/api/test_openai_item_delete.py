"""Deleting one item through the SDK keeps the store consistent: seqs, version, counters, hot window, archive, forks."""

import openai
import pytest

from cache_app import hot_window
from sessions_app.models import Conversation, Item
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)


def _three(sdk):
    return sdk.conversations.create(items=[
        {"id": "msg_1", "role": "user", "content": "one"},
        {"id": "msg_2", "role": "assistant", "content": "two"},
        {"id": "msg_3", "role": "user", "content": "three"},
    ])


def test_delete_answers_the_conversation_and_keeps_other_seqs(sdk, api):
    conversation = _three(sdk)
    before = Conversation.objects.get(conversation_id=conversation.id)
    answered = sdk.conversations.items.delete("msg_2", conversation_id=conversation.id)
    assert answered.id == conversation.id and answered.object == "conversation"
    after = Conversation.objects.get(conversation_id=conversation.id)
    assert after.version == before.version + 1
    assert list(Item.objects.filter(conversation=after).order_by("seq").values_list("item_id", "seq")) == [("msg_1", 1), ("msg_3", 3)]
    assert after.item_count == before.item_count - 1
    assert after.byte_count < before.byte_count and after.token_count < before.token_count
    assert after.last_seq == 3
    assert [i.id for i in sdk.conversations.items.list(conversation.id, order="asc")] == ["msg_1", "msg_3"]
    native = api.get(f"/v1/sessions/{conversation.id}/items").json()["data"]
    assert [(i["id"], i["seq"]) for i in native] == [("msg_1", 1), ("msg_3", 3)]
    appended = api.post(f"/v1/sessions/{conversation.id}/append", {"role": "user", "content": "four"}, format="json").json()
    assert appended["items"][0]["seq"] == 4 and appended["version"] == after.version + 1


def test_hot_window_is_rebuilt_without_the_item(sdk):
    conversation = _three(sdk)
    assert hot_window.window_read(tenant_id=sdk.tenant.pk, conversation_id=conversation.id) is not None
    sdk.conversations.items.delete("msg_1", conversation_id=conversation.id)
    window = hot_window.window_read(tenant_id=sdk.tenant.pk, conversation_id=conversation.id)
    assert window is not None and window.version == 2 and window.full
    assert [entry.seq for entry in window.entries] == [2, 3]


def test_resolve_after_delete_no_longer_returns_the_item(sdk, api):
    stored = api.post("/v1/sessions/responses", {"conversation_id": "r", "input": [{"id": "msg_in", "role": "user", "content": "Hi"}],
                                                  "output": [{"id": "msg_out", "role": "assistant", "content": "Hello"}]}, format="json").json()
    assert len(api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]}).json()["items"]) == 2
    sdk.conversations.items.delete("msg_in", conversation_id="r")
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]}).json()
    assert [i["id"] for i in resolved["items"]] == ["msg_out"]


def test_deleting_a_missing_item_changes_nothing(sdk):
    conversation = _three(sdk)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.conversations.items.delete("msg_9", conversation_id=conversation.id)
    assert caught.value.body["param"] == "item_id"
    stored = Conversation.objects.get(conversation_id=conversation.id)
    assert (stored.version, stored.item_count) == (1, 3)


def test_inherited_items_cannot_be_deleted_through_a_fork(sdk, api):
    first = api.post("/v1/sessions/responses", {"conversation_id": "p", "input": [{"id": "msg_p1", "role": "user", "content": "a"}],
                                                 "output": [{"id": "msg_p2", "role": "assistant", "content": "b"}]}, format="json").json()
    api.post("/v1/sessions/responses", {"conversation_id": "p", "previous_response_id": first["response_id"],
                                         "input": [{"role": "user", "content": "c"}]}, format="json")
    fork = api.post("/v1/sessions/responses", {"previous_response_id": first["response_id"], "conversation_id": "child",
                                                "input": [{"id": "msg_c1", "role": "user", "content": "d"}]}, format="json").json()
    assert fork["forked"] is True
    assert [i.id for i in sdk.conversations.items.list("child", order="asc")] == ["msg_p1", "msg_p2", "msg_c1"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.items.delete("msg_p1", conversation_id="child")
    assert caught.value.body["code"] == "item_inherited"
    sdk.conversations.items.delete("msg_c1", conversation_id="child")
    # Deleting in the parent changes the fork's context too: its window is dropped and rebuilt on read.
    sdk.conversations.items.delete("msg_p2", conversation_id="p")
    assert [i.id for i in sdk.conversations.items.list("child", order="asc")] == ["msg_p1"]


def test_archived_items_are_deleted_from_their_segment(sdk):
    from sessions_app.lifecycle import conversation_archive

    conversation = _three(sdk)
    row = Conversation.objects.get(conversation_id=conversation.id)
    conversation_archive(conversation=row, keep_window=False)
    row.refresh_from_db()
    assert row.archived_upto_seq == 3 and not Item.objects.filter(conversation=row).exists()
    assert sdk.conversations.items.retrieve("msg_2", conversation_id=conversation.id).content[0].text == "two"
    sdk.conversations.items.delete("msg_2", conversation_id=conversation.id)
    after = Conversation.objects.get(conversation_id=conversation.id)
    assert (after.version, after.item_count) == (row.version + 1, row.item_count - 1)
    assert after.byte_count < row.byte_count
    assert [i.id for i in sdk.conversations.items.list(conversation.id, order="asc")] == ["msg_1", "msg_3"]
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.items.retrieve("msg_2", conversation_id=conversation.id)
