"""Operator commands: create_tenant (idempotent), create_api_key (raw key last line), revoke_api_key (401 after)."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from sessions_app.models import ApiKey, Tenant

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def bearer(raw_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_create_tenant_is_idempotent():
    run("create_tenant", "acme")
    run("create_tenant", "acme")
    assert Tenant.objects.filter(name="acme").count() == 1


def test_create_api_key_prints_the_raw_key_last_and_it_works():
    run("create_tenant", "acme")
    output = run("create_api_key", "--tenant", "acme")
    raw_key = output.strip().splitlines()[-1].strip()
    key = ApiKey.objects.get(tenant__name="acme")
    assert raw_key.startswith(key.prefix)
    assert raw_key not in (key.key_hash, key.prefix)
    client = bearer(raw_key)
    assert client.post("/v1/sessions/cmd/append", {"role": "user", "content": "hi"}, format="json").status_code == 201
    assert client.get("/v1/sessions/cmd").status_code == 200


def test_create_api_key_for_unknown_tenant_fails():
    with pytest.raises(CommandError):
        run("create_api_key", "--tenant", "nobody")
    assert not ApiKey.objects.exists()


def test_revoke_api_key_gives_401_afterwards_even_when_the_key_was_cached():
    run("create_tenant", "acme")
    raw_key = run("create_api_key", "--tenant", "acme").strip().splitlines()[-1].strip()
    client = bearer(raw_key)
    assert client.get("/v1/sessions/none").status_code == 404  # authenticated (and now cached in Redis)
    assert client.get("/v1/sessions/none").status_code == 404
    run("revoke_api_key", raw_key[:11])
    response = client.get("/v1/sessions/none")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert ApiKey.objects.get().revoked_at is not None


def test_revoking_one_key_leaves_the_other_working():
    run("create_tenant", "acme")
    first = run("create_api_key", "--tenant", "acme").strip().splitlines()[-1]
    second = run("create_api_key", "--tenant", "acme").strip().splitlines()[-1]
    run("revoke_api_key", first[:11])
    assert bearer(first).get("/v1/sessions/x").status_code == 401
    assert bearer(second).get("/v1/sessions/x").status_code == 404


def test_revoke_unknown_prefix_fails():
    with pytest.raises(CommandError):
        run("revoke_api_key", "cs_00000000")
