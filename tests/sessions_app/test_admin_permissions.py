"""The permission matrix: superuser, the `support` group (view + safe actions) and staff without a group."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.urls import reverse

from sessions_app.models import AuditLogEntry, Conversation
from sessions_app.services import api_key_create
from tests.sessions_app.admin_fixtures import bare_staff, build_conversation, superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db

VIEWABLE = [
    "sessions_app_tenant", "sessions_app_apikey", "sessions_app_conversation", "sessions_app_response",
    "archive_app_archivesegment", "archive_app_codetable", "archive_app_summary", "archive_app_memory",
]
SAFE = {"evict_now", "archive_now", "rehydrate", "verify_archives", "summarise_now"}


def test_support_group_comes_from_the_migration():
    codenames = set(Group.objects.get(name="support").permissions.values_list("codename", flat=True))
    assert "run_safe_actions" in codenames and "view_conversation" in codenames
    assert not any(c.startswith(("add_", "change_", "delete_")) for c in codenames)


def test_support_views_everything_it_needs(client, support_user, tenant):
    conversation = build_conversation(tenant, "conv_support", 4)
    client.force_login(support_user)
    for name in VIEWABLE:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    page = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk]))
    assert page.status_code == 200 and "lookup_invoice" in page.content.decode()
    assert client.get(reverse("admin:dashboard")).status_code == 200
    assert 'id="convostore-dashboard"' in client.get(reverse("admin:index")).content.decode()


def test_support_gets_safe_actions_only(client, support_user, tenant):
    build_conversation(tenant, "conv_support_actions", 2)
    client.force_login(support_user)
    response = client.get(reverse("admin:sessions_app_conversation_changelist"))
    assert set(response.context["cl"].model_admin.get_actions(response.wsgi_request)) == SAFE


def test_support_cannot_purge_create_keys_revoke_or_read_the_audit_log(client, support_user, tenant):
    conversation = build_conversation(tenant, "conv_keep", 2)
    issued = api_key_create(tenant=tenant, name="kept")
    client.force_login(support_user)
    data = {"action": "purge", "post": "yes", helpers.ACTION_CHECKBOX_NAME: [conversation.pk]}
    client.post(reverse("admin:sessions_app_conversation_changelist"), data)
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert client.get(reverse("admin:sessions_app_apikey_add")).status_code == 403
    client.post(reverse("admin:sessions_app_apikey_changelist"),
                {"action": "revoke_keys", "index": 0, helpers.ACTION_CHECKBOX_NAME: [issued.api_key.pk]})
    issued.api_key.refresh_from_db()
    assert issued.api_key.revoked_at is None
    assert client.get(reverse("admin:sessions_app_auditlogentry_changelist")).status_code == 403
    assert client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 403
    key_page = client.get(reverse("admin:sessions_app_apikey_change", args=[issued.api_key.pk])).content.decode()
    assert issued.api_key.key_hash not in key_page
    assert not AuditLogEntry.objects.filter(action__in=["purge", "key_revoke"]).exists()


def test_staff_without_the_group_sees_nothing(client, bare_staff, tenant):
    conversation = build_conversation(tenant, "conv_hidden", 2)
    client.force_login(bare_staff)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200 and not index.context["app_list"] and "convostore-dashboard" not in index.content.decode()
    for name in VIEWABLE + ["sessions_app_auditlogentry"]:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
    assert client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).status_code == 403
    assert client.get(reverse("admin:dashboard")).status_code == 403
    assert not AuditLogEntry.objects.exists()


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("admin:dashboard"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_superuser_sees_the_audit_log_and_every_action(client, superuser, tenant):
    client.force_login(superuser)
    response = client.get(reverse("admin:sessions_app_conversation_changelist"))
    assert set(response.context["cl"].model_admin.get_actions(response.wsgi_request)) == SAFE | {"purge"}
    assert client.get(reverse("admin:sessions_app_auditlogentry_changelist")).status_code == 200
    assert client.get(reverse("admin:sessions_app_apikey_add")).status_code == 200
