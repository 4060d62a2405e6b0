"""The official openai SDK pointed at a live ConvoStore: the `sdk` fixture, auth and header handling."""

import openai
import pytest


@pytest.fixture
def sdk(live_server, api) -> openai.OpenAI:
    """The real SDK against the live server, with the tenant's ConvoStore key; no retries hide errors."""
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0, timeout=30)
    client.tenant = api.tenant
    yield client
    client.close()


@pytest.fixture
def other_sdk(live_server, other_api) -> openai.OpenAI:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=other_api.raw_key, max_retries=0, timeout=30)
    yield client
    client.close()


def test_sdk_creates_and_retrieves_a_conversation(sdk):
    conversation = sdk.conversations.create()
    assert conversation.id.startswith("conv_") and conversation.object == "conversation"
    assert sdk.conversations.retrieve(conversation.id).id == conversation.id


def test_extra_openai_headers_are_ignored(live_server, api):
    with openai.OpenAI(
        base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0, organization="org-x", project="proj-y",
        default_headers={"OpenAI-Beta": "whatever"},
    ) as client:
        assert client.conversations.create(metadata={"a": "b"}).metadata == {"a": "b"}


def test_wrong_key_is_authentication_error(live_server, db):
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="cs_nope_nope", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.conversations.create()
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"


def test_the_readme_example_runs_unchanged(live_server, api):
    from openai import OpenAI

    with OpenAI(base_url=f"{live_server.url}/v1", api_key=api.raw_key, max_retries=0) as client:
        conv = client.conversations.create(items=[{"role": "user", "content": "Hello"}], metadata={"topic": "demo"})
        client.conversations.items.create(conv.id, items=[{"role": "assistant", "content": "Hi! How can I help?"}])
        texts = [item.content[0].text for item in client.conversations.items.list(conv.id, order="asc")]
    assert texts == ["Hello", "Hi! How can I help?"]


def test_items_create_accepts_include(sdk):
    conversation = sdk.conversations.create()
    created = sdk.conversations.items.create(
        conversation.id, items=[{"role": "user", "content": "x"}], include=["message.input_image.image_url", "file_search_call.results"]
    )
    assert len(created.data) == 1
