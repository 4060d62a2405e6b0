"""Stored responses through the SDK: retrieve, input_items pages, delete (items stay)."""

import openai
import pytest

from cache_app import hot_window
from sessions_app.models import Conversation, Item, Response
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)


def _store(api, conversation_id="c", inputs=None, outputs=None, **extra):
    body = {
        "conversation_id": conversation_id,
        "input": inputs if inputs is not None else [{"role": "user", "content": "Hi"}],
        "output": outputs if outputs is not None else [{"role": "assistant", "content": "Hello!"}],
        "model": "gpt-test",
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        **extra,
    }
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_retrieve_a_stored_response(sdk, api):
    api.post("/v1/sessions/c/append", {"role": "system", "content": "Be brief."}, format="json")
    stored = _store(api)
    response = sdk.responses.retrieve(stored["response_id"])
    assert response.id == stored["response_id"] and response.object == "response"
    assert response.status == "completed" and response.model == "gpt-test"
    assert response.output_text == "Hello!"
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    assert response.conversation.id == "c"
    assert response.usage.total_tokens == 5
    assert isinstance(response.created_at, (int, float)) and response.created_at > 1_600_000_000
    follow = _store(api, previous_response_id=stored["response_id"], inputs=[{"role": "user", "content": "More"}], outputs=[])
    assert sdk.responses.retrieve(follow["response_id"]).previous_response_id == stored["response_id"]
    assert sdk.responses.retrieve(follow["response_id"]).output == []


def test_retrieve_accepts_documented_include_values(sdk, api):
    stored = _store(api)
    response = sdk.responses.retrieve(stored["response_id"], include=["message.output_text.logprobs", "reasoning.encrypted_content"])
    assert response.id == stored["response_id"]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.retrieve(stored["response_id"], include=["output.everything"])
    assert caught.value.body["param"] == "include"


def test_input_items_pages_in_both_orders(sdk, api):
    inputs = [{"id": f"msg_{i:02d}", "role": "user", "content": f"q{i}"} for i in range(20)]
    stored = _store(api, inputs=inputs)
    assert [i.id for i in sdk.responses.input_items.list(stored["response_id"], order="asc")] == [i["id"] for i in inputs[:20]]
    assert [i.id for i in sdk.responses.input_items.list(stored["response_id"], limit=6)] == [i["id"] for i in inputs[:20]][::-1]
    page = sdk.responses.input_items.list(stored["response_id"], limit=6, order="asc")
    assert [i.id for i in page.data] == [f"msg_{i:02d}" for i in range(6)] and page.has_more is True
    second = page.get_next_page()
    assert [i.id for i in second.data] == [f"msg_{i:02d}" for i in range(6, 12)]
    default = sdk.responses.input_items.list(stored["response_id"])
    assert len(default.data) == 20 and default.data[0].id == "msg_19" and default.has_more is False
    assert all(item.content[0].type == "input_text" for item in default.data)


def test_input_items_of_a_response_without_inputs_is_empty(sdk, api):
    stored = _store(api, inputs=[])
    page = sdk.responses.input_items.list(stored["response_id"])
    assert page.data == [] and page.has_more is False


def test_delete_forgets_the_response_but_keeps_its_items(sdk, api):
    stored = _store(api)
    version = Conversation.objects.get(conversation_id="c").version
    assert hot_window.response_lookup(tenant_id=sdk.tenant.pk, response_id=stored["response_id"]) is not None
    assert sdk.responses.delete(stored["response_id"]) is None
    assert not Response.objects.filter(response_id=stored["response_id"]).exists()
    assert hot_window.response_lookup(tenant_id=sdk.tenant.pk, response_id=stored["response_id"]) is None
    assert Item.objects.filter(conversation__conversation_id="c").count() == 2
    assert Conversation.objects.get(conversation_id="c").version == version
    assert len(sdk.conversations.items.list("c").data) == 2
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(stored["response_id"])
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(stored["response_id"])
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]})
    assert resolved.status_code == 404


def test_delete_answers_a_deleted_object(sdk, api):
    stored = _store(api)
    raw = sdk.responses.with_raw_response.delete(stored["response_id"]).http_response.json()
    assert raw == {"id": stored["response_id"], "object": "response.deleted", "deleted": True}
