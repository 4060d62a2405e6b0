"""rotate_api_key: the new key works at once, the old one until its grace period ends; purge commands."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app.models import ApiKey, Conversation, Tenant
from sessions_app.services import api_key_create, conversation_append

pytestmark = pytest.mark.django_db


def _client(raw):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_rotation_keeps_the_old_key_for_the_grace_period_then_refuses_it(tenant):
    old = api_key_create(tenant=tenant)
    assert _client(old.raw_key).get("/v1/sessions/nothing").status_code == 404
    out = io.StringIO()
    call_command("rotate_api_key", old.api_key.prefix, "--grace-hours", "1", stdout=out)
    new_raw = out.getvalue().strip().splitlines()[-1]
    assert _client(new_raw).get("/v1/sessions/nothing").status_code == 404
    assert _client(old.raw_key).get("/v1/sessions/nothing").status_code == 404  # still in grace
    ApiKey.objects.filter(pk=old.api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    ApiKey.objects.get(pk=old.api_key.pk).save()  # the save signal drops the cached entry, as admin edits do
    assert _client(old.raw_key).get("/v1/sessions/nothing").status_code == 401
    assert ApiKey.objects.filter(tenant=tenant).count() == 2


def test_purge_conversation_and_purge_tenant_commands(tenant):
    conversation_append(tenant=tenant, conversation_id="a", items=[{"role": "user", "content": "x"}])
    conversation_append(tenant=tenant, conversation_id="b", items=[{"role": "user", "content": "y"}])
    call_command("purge_conversation", "a", "--tenant", tenant.name, stdout=io.StringIO())
    assert list(Conversation.objects.filter(tenant=tenant).values_list("conversation_id", flat=True)) == ["b"]
    out = io.StringIO()
    call_command("purge_tenant", tenant.name, "--yes", stdout=out)
    assert f"1 conversation of tenant {tenant.name} purged; tenant deleted" in out.getvalue()
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
