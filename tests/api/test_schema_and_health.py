"""OpenAPI schema and docs (offline assets), /healthz and /readyz."""

import re

import pytest

pytestmark = pytest.mark.django_db

@pytest.fixture(params=["anonymous", "api"])
def docs_client(request, client):
    """The docs are for people with a browser (no Bearer key); with a key they load too."""
    if request.param == "anonymous":
        return client
    return request.getfixturevalue("api")


def test_schema_loads_and_names_the_native_routes(docs_client):
    response = docs_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:300]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("/v1/sessions/{conversation_id}/append", "/v1/sessions/responses", "/v1/sessions/resolve",
                 "/v1/sessions/{conversation_id}", "/v1/sessions/{conversation_id}/items"):
        assert path in paths, sorted(paths)
    assert "post" in paths["/v1/sessions/{conversation_id}/append"]
    assert "delete" in paths["/v1/sessions/{conversation_id}"]


def test_schema_yaml_default(docs_client):
    response = docs_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi:" in response.content


def test_docs_page_uses_only_local_static_assets(docs_client, client):
    response = docs_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    urls += re.findall(r"""(?:url)\s*:\s*["']([^"']+)["']""", html)
    assert urls, html[:500]
    external = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert external == [], external
    assets = [u for u in urls if "static" in u]
    assert assets, urls
    for asset in assets:
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        if hasattr(fetched, "close"):
            fetched.close()


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_readyz_when_everything_is_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["postgres"] == "ok" and body["redis"] == "ok"


def test_probes_need_no_api_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
