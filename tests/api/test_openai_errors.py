"""Every error class the SDK maps, produced honestly by the live server, in OpenAI's error shape."""

import openai
import pytest

from sessions_app.models import Conversation
from tests.api.test_openai_sdk_client import other_sdk, sdk  # noqa: F401 (fixtures)


def _shape(error: openai.APIStatusError) -> dict:
    body = error.response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize("bad_id", ["bad id!", "resolve", "-leading-dash", "x" * 65])
def test_invalid_conversation_id_in_the_url_is_400(sdk, bad_id):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.retrieve(bad_id)
    error = _shape(caught.value)
    assert error["param"] == "conversation_id" and error["type"] == "invalid_request_error"


def test_bad_items_are_400_and_change_nothing(sdk):
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "x"}])
    for items, param in (
        ([{"type": "message", "role": "user"}], "items[0].content"),
        ([{"role": "user", "content": "ok"}, "not an object"], "items[1]"),
        ([{"role": "user", "content": str(i)} for i in range(21)], "items"),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.conversations.items.create(conversation.id, items=items)
        assert _shape(caught.value)["param"] == param
    with pytest.raises(openai.BadRequestError) as missing:
        sdk.conversations.items.create(conversation.id, items=[])
    assert _shape(missing.value)["param"] == "items"
    stored = Conversation.objects.get(conversation_id=conversation.id)
    assert (stored.version, stored.item_count) == (1, 1)


def test_update_without_metadata_is_400(sdk):
    conversation = sdk.conversations.create()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.conversations.with_raw_response.update(conversation.id, extra_body={"other": 1}, metadata=openai.omit)
    assert _shape(caught.value)["param"] == "metadata"


def test_invalid_ids_and_order_are_400(sdk):
    conversation = sdk.conversations.create()
    with pytest.raises(openai.BadRequestError) as order:
        sdk.conversations.items.list(conversation.id, order="sideways")
    assert _shape(order.value)["param"] == "order"
    with pytest.raises(openai.BadRequestError) as item:
        sdk.conversations.items.retrieve("bad item", conversation_id=conversation.id)
    assert _shape(item.value)["param"] == "item_id"
    with pytest.raises(openai.BadRequestError) as response:
        sdk.responses.retrieve("bad response")
    assert _shape(response.value)["param"] == "response_id"


def test_missing_and_foreign_are_the_same_404(sdk, other_sdk):
    mine = sdk.conversations.create(items=[{"id": "msg_x", "role": "user", "content": "x"}])
    for call in (
        lambda c: c.conversations.retrieve("conv_missing"),
        lambda c: c.conversations.items.list("conv_missing"),
        lambda c: c.conversations.items.create("conv_missing", items=[{"role": "user", "content": "x"}]),
        lambda c: c.responses.retrieve("resp_missing"),
        lambda c: c.responses.input_items.list("resp_missing"),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call(sdk)
        assert _shape(caught.value)["code"] == "not_found"
    with pytest.raises(openai.NotFoundError) as foreign:
        other_sdk.conversations.items.retrieve("msg_x", conversation_id=mine.id)
    assert _shape(foreign.value)["param"] == "conversation_id"
    with pytest.raises(openai.NotFoundError):
        other_sdk.conversations.items.delete("msg_x", conversation_id=mine.id)
    with pytest.raises(openai.NotFoundError) as after:
        sdk.conversations.items.list(mine.id, after="msg_nope")
    assert _shape(after.value)["param"] == "after"
    assert not Conversation.objects.filter(conversation_id="conv_missing").exists()


def test_reusing_an_item_id_is_409(sdk):
    conversation = sdk.conversations.create(items=[{"id": "msg_same", "role": "user", "content": "x"}])
    with pytest.raises(openai.ConflictError) as caught:
        sdk.conversations.items.create(conversation.id, items=[{"id": "msg_same", "role": "user", "content": "y"}])
    assert _shape(caught.value)["code"] == "item_id_taken"
    assert Conversation.objects.get(conversation_id=conversation.id).version == 1


def test_streaming_a_stored_response_is_422(sdk, api):
    stored = api.post("/v1/sessions/responses", {"conversation_id": "s", "input": [{"role": "user", "content": "x"}]}, format="json").json()
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        sdk.responses.retrieve(stored["response_id"], stream=True)
    assert caught.value.status_code == 422
    assert _shape(caught.value)["param"] == "stream"


def test_throttled_calls_are_429_rate_limit_errors(sdk, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 3}
    conversation = sdk.conversations.create()
    sdk.conversations.retrieve(conversation.id)
    sdk.conversations.items.list(conversation.id)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.conversations.retrieve(conversation.id)
    error = _shape(caught.value)
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert int(caught.value.response.headers["Retry-After"]) > 0


def test_no_rate_configured_means_no_throttle(sdk, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    conversation = sdk.conversations.create()
    for _ in range(5):
        sdk.conversations.retrieve(conversation.id)
