"""Caller-chosen request ids are echoed only when safe; the API docs load nothing from outside."""

import re

import pytest

from convostore.observability import request_id_from

pytestmark = pytest.mark.django_db

SAFE = ["abc123", "0f8fad5b-d9cb-469f-a165-70867728950e", "req_01H:trace.1", "a" * 64]
UNSAFE = ["", "a" * 65, "has space", "quote\"d", "<script>", "new\nline", "tab\there", "semi;colon", "ünïcode", "a/b"]


@pytest.mark.parametrize("value", SAFE)
def test_a_safe_request_id_is_echoed(api, value):
    assert api.get("/healthz", HTTP_X_REQUEST_ID=value)["X-Request-ID"] == value


@pytest.mark.parametrize("value", UNSAFE)
def test_any_other_request_id_is_replaced_by_a_new_one(value):
    generated = request_id_from(value)
    assert generated != value and re.fullmatch(r"[0-9a-f]{32}", generated)


def test_an_unsafe_request_id_is_not_echoed_over_http(api):
    response = api.get("/healthz", HTTP_X_REQUEST_ID="x" * 65)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert len(api.get("/healthz")["X-Request-ID"]) == 32


def test_redoc_is_gone(client):
    assert client.get("/api/redoc/").status_code == 404


def test_swagger_ui_loads_only_from_this_server(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+""", html)
    assert external == []
    assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
