"""OpenAI Conversations API through the real SDK: create, retrieve, update, delete, versions, native interop."""

import openai
import pytest

from sessions_app.models import Conversation, Tombstone
from tests.api.test_openai_sdk_client import other_sdk, sdk  # noqa: F401 (fixtures)


def _version(conversation_id):
    return Conversation.objects.get(conversation_id=conversation_id).version


def test_create_with_items_and_metadata_is_one_mutation(sdk):
    conversation = sdk.conversations.create(
        items=[{"type": "message", "role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}],
        metadata={"topic": "demo"},
    )
    assert conversation.object == "conversation"
    assert conversation.metadata == {"topic": "demo"}
    assert isinstance(conversation.created_at, int) and conversation.created_at > 1_600_000_000
    stored = Conversation.objects.get(conversation_id=conversation.id)
    assert (stored.version, stored.last_seq, stored.item_count) == (1, 2, 2)
    assert stored.tenant == sdk.tenant


def test_create_without_items_is_version_zero(sdk):
    conversation = sdk.conversations.create()
    assert conversation.metadata == {}
    assert _version(conversation.id) == 0
    assert sdk.conversations.items.list(conversation.id).data == []


def test_retrieve_answers_exactly_the_openai_fields(sdk):
    created = sdk.conversations.create(metadata={"k": "v"})
    raw = sdk.conversations.with_raw_response.retrieve(created.id).http_response.json()
    assert raw == {"id": created.id, "object": "conversation", "created_at": created.created_at, "metadata": {"k": "v"}}


def test_update_replaces_metadata_and_bumps_version_by_one(sdk):
    created = sdk.conversations.create(items=[{"role": "user", "content": "x"}], metadata={"a": "1"})
    updated = sdk.conversations.update(created.id, metadata={"b": "2"})
    assert updated.metadata == {"b": "2"} and updated.id == created.id
    assert sdk.conversations.retrieve(created.id).metadata == {"b": "2"}
    assert _version(created.id) == 2


def test_update_moves_the_hot_window_version_along(sdk):
    created = sdk.conversations.create(items=[{"role": "user", "content": "x"}])
    sdk.conversations.update(created.id, metadata={"b": "2"})
    sdk.conversations.items.create(created.id, items=[{"role": "user", "content": "y"}])
    from cache_app import hot_window

    window = hot_window.window_read(tenant_id=sdk.tenant.pk, conversation_id=created.id)
    assert window is not None and window.version == 3 and len(window.entries) == 2


def test_delete_answers_deleted_object_and_goes_through_the_gdpr_path(sdk):
    created = sdk.conversations.create(items=[{"role": "user", "content": "x"}])
    deleted = sdk.conversations.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "conversation.deleted", True)
    assert not Conversation.objects.filter(conversation_id=created.id).exists()
    assert Tombstone.objects.filter(conversation_id=created.id).exists()
    with pytest.raises(openai.NotFoundError):
        sdk.conversations.retrieve(created.id)


def test_metadata_limits_are_enforced(sdk):
    with pytest.raises(openai.BadRequestError) as too_many:
        sdk.conversations.create(metadata={f"k{i}": "v" for i in range(17)})
    assert too_many.value.body["param"] == "metadata"
    with pytest.raises(openai.BadRequestError):
        sdk.conversations.create(metadata={"k" * 65: "v"})
    with pytest.raises(openai.BadRequestError):
        sdk.conversations.create(metadata={"k": "v" * 513})
    ok = sdk.conversations.create(metadata={f"k{i}": "v" * 512 for i in range(16)})
    assert len(ok.metadata) == 16
    assert Conversation.objects.count() == 1


def test_create_accepts_at_most_twenty_items(sdk):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.create(items=[{"role": "user", "content": str(i)} for i in range(21)])
    assert caught.value.body["param"] == "items"
    assert not Conversation.objects.exists()
    assert _version(sdk.conversations.create(items=[{"role": "user", "content": str(i)} for i in range(20)]).id) == 1


def test_native_conversations_are_served_by_the_openai_api(sdk, api):
    api.post("/v1/sessions/chat-7/append", {"items": [{"role": "user", "content": "Hi"}], "metadata": {"m": "n"}}, format="json")
    conversation = sdk.conversations.retrieve("chat-7")
    assert conversation.id == "chat-7" and conversation.metadata == {"m": "n"}


def test_a_foreign_tenant_sees_404(sdk, other_sdk):
    created = sdk.conversations.create()
    with pytest.raises(openai.NotFoundError):
        other_sdk.conversations.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other_sdk.conversations.update(created.id, metadata={})
    with pytest.raises(openai.NotFoundError):
        other_sdk.conversations.delete(created.id)
    assert sdk.conversations.retrieve(created.id).id == created.id
