"""Abuse: path-like and unicode-edge ids are refused with 400 and change nothing; oversized bodies are 413."""

import pytest

from sessions_app.models import Conversation

pytestmark = pytest.mark.django_db

BAD_IDS = [
    "..", ".hidden", "-dash-first", "_under", "a" * 65, "%2e%2e", "a%2Fb", "conv%00x", "ｃｏｎｖ", "conv\u200b",
    "conv\u202eevil", "é", "conv id", "conv;drop", "conv'--", "resolve", "context", "responses", "conv?x=1",
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_conversation_ids_are_400_and_create_nothing(api, bad):
    from urllib.parse import quote

    path = "/v1/sessions/" + (bad if "%" in bad else quote(bad, safe="")) + "/append"
    response = api.post(path, {"role": "user", "content": "x"}, format="json")
    if bad in ("resolve", "context", "responses") or "%2F" in bad:
        # Reserved words hit their own routes; an encoded slash splits the path and matches no route.
        assert response.status_code in (400, 404, 405)
    else:
        assert response.status_code == 400, (bad, response.status_code, response.content)
        assert response.json()["error"]["param"] == "conversation_id"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("bad", ["..", "a" * 65, "ｃｏｎｖ", "conv\u202eevil"])
def test_bad_ids_in_the_openai_routes_are_400(api, bad):
    from urllib.parse import quote

    response = api.get("/v1/conversations/" + quote(bad, safe=""))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "conversation_id"


def test_body_over_the_request_limit_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post("/v1/sessions/big/append", {"role": "user", "content": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not Conversation.objects.exists()


def test_item_over_the_item_limit_is_413_and_names_it(api, settings):
    settings.CONVOSTORE_MAX_ITEM_BYTES = 100
    response = api.post("/v1/sessions/big/append", {"items": [{"role": "user", "content": "y" * 200}]}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["param"] == "items[0]"
    assert not Conversation.objects.exists()
