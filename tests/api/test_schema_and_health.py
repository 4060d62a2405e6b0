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


def test_schema_generation_has_no_warnings(tmp_path):
    """drf-spectacular resolves every field and component (--fail-on-warn turns any warning into an error)."""
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))


def test_embeddings_are_arrays_of_numbers_and_one_api_key_scheme(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    for name in ("LookupInputRequest", "StoreInputRequest", "EmbeddingPutInputRequest"):
        embedding = components[name]["properties"]["embedding"]
        assert embedding["type"] == "array" and embedding["items"]["type"] == "number", (name, embedding)
    assert list(schema["components"]["securitySchemes"]) == ["ApiKey"]


def test_operations_are_tagged_and_list_only_their_own_error_statuses(client):
    from sessions_app.api.openapi import OPERATION_ERRORS

    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert [tag["name"] for tag in schema["tags"]] == ["sessions", "context", "responses", "conversations", "cache", "operations"]
    seen = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            name = operation["operationId"]
            seen.add(name)
            assert len(operation["tags"]) == 1 and operation["tags"][0] in {t["name"] for t in schema["tags"]}, name
            errors = {status for status in operation["responses"] if status >= "400"}
            if path.startswith("/v1"):
                wanted = set(OPERATION_ERRORS[name].split()) | {"401", "429", "503"} | ({"404"} if "{" in path else set())
                assert errors == wanted, (name, sorted(errors))
    assert set(OPERATION_ERRORS) <= seen  # no stale entry
    assert schema["paths"]["/v1/sessions/resolve"]["get"]["tags"] == ["responses"]
    assert schema["paths"]["/v1/sessions/{conversation_id}/context"]["get"]["tags"] == ["context"]
    assert set(schema["paths"]["/v1/sessions/resolve"]["get"]["responses"]) == {"200", "400", "401", "404", "429", "503"}
