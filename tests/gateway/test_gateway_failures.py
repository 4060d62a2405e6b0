"""Every upstream failure reaches the SDK as the documented status and exception, and nothing is written."""

import openai
import pytest

from sessions_app.models import Conversation, Item, Response, TokenUsage
from tests.api.test_openai_sdk_client import sdk  # noqa: F401 (fixture)
from tests.gateway.conftest import upstream_settings

RELAYED = [
    ("!fail 400 temperature is out of range", openai.BadRequestError, 400, "upstream_test_error"),
    ("!fail 404 The model does not exist", openai.NotFoundError, 404, "model_not_found"),
    ("!fail 409 busy", openai.ConflictError, 409, "upstream_test_error"),
    ("!fail 422 cannot do that", openai.UnprocessableEntityError, 422, "upstream_test_error"),
    ("!fail 429 slow down", openai.RateLimitError, 429, "rate_limit_exceeded"),
]


def _nothing_written():
    return not (Response.objects.exists() or Conversation.objects.exists() or Item.objects.exists() or TokenUsage.objects.exists())


@pytest.mark.parametrize("kind", ["chat_completions", "responses"])
@pytest.mark.parametrize("directive,exception,status,code", RELAYED)
def test_client_errors_are_relayed_with_the_upstream_message(sdk, upstream, settings, kind, directive, exception, status, code):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=kind)
    with pytest.raises(exception) as caught:
        sdk.responses.create(model="m", input=directive)
    assert caught.value.status_code == status and caught.value.body["code"] == code
    assert caught.value.body["message"] == directive.split(" ", 2)[2]
    assert _nothing_written()


def test_upstream_5xx_is_502_upstream_error(sdk, upstream, default_route):
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="!fail 500 boom")
    assert caught.value.status_code == 502
    assert (caught.value.body["type"], caught.value.body["code"]) == ("server_error", "upstream_error")
    assert _nothing_written()


def test_wrong_upstream_credentials_are_502_never_401(sdk, upstream, settings, monkeypatch):
    monkeypatch.setenv("CONVOSTORE_UPSTREAM_KEY_MAIN", "wrong")
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API_KEY_ENV="CONVOSTORE_UPSTREAM_KEY_MAIN")
    upstream.api_key = "right"
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="x")
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_error"
    assert upstream.requests[-1]["headers"]["authorization"] == "Bearer wrong"
    monkeypatch.setenv("CONVOSTORE_UPSTREAM_KEY_MAIN", "right")
    assert sdk.responses.create(model="m", input="x").output_text == "echo: x"
    assert _nothing_written() is False


def test_no_key_sends_no_authorization_header(sdk, upstream, default_route):
    sdk.responses.create(model="m", input="x")
    assert "authorization" not in upstream.requests[-1]["headers"]


def test_a_timeout_is_504(sdk, upstream, settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, TIMEOUT_SECONDS=0.5)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="!hang")
    assert caught.value.status_code == 504 and caught.value.body["code"] == "upstream_timeout"
    upstream.release.set()
    assert _nothing_written()


@pytest.mark.parametrize("kind", ["chat_completions", "responses"])
def test_an_unreachable_or_cut_upstream_is_502(sdk, upstream, settings, kind):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, API=kind)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="!cut")
    assert caught.value.status_code == 502
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://127.0.0.1:9/v1", API=kind)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="x")
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_error"
    assert _nothing_written()


def test_an_upstream_outside_the_allow_list_is_refused_at_call_time(sdk, upstream, settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url, ALLOWED_HOSTS=["models.internal"])
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.responses.create(model="m", input="x")
    assert caught.value.status_code == 502 and caught.value.body["code"] == "upstream_not_allowed"
    assert upstream.requests == []
