"""Conversation actions call the lifecycle services, report counts and are audited; purge asks first."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from archive_app.models import ArchiveSegment, Summary
from cache_app import hot_window
from sessions_app.models import ApiKey, AuditLogEntry, Conversation, Tombstone
from sessions_app.services import api_key_create
from tests.sessions_app.admin_fixtures import build_conversation, forked_pair, superuser  # noqa: F401

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:sessions_app_conversation_changelist"


def run(client, action, conversations, **extra):
    data = {"action": action, "index": 0, helpers.ACTION_CHECKBOX_NAME: [c.pk for c in conversations], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def window_of(conversation):
    return hot_window.window_read(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)


@pytest.fixture
def lifecycle():
    return pytest.importorskip("sessions_app.lifecycle")


def test_evict_now_drops_the_hot_window(client, superuser, tenant, lifecycle):
    conversation = build_conversation(tenant, "conv_evict", 4)
    assert window_of(conversation) is not None
    client.force_login(superuser)
    response = run(client, "evict_now", [conversation])
    assert "Evicted 1 of 1 conversation(s)" in " ".join(messages_of(response))
    assert window_of(conversation) is None
    assert AuditLogEntry.objects.get(action="evict").object_repr == "conv_evict"


def test_archive_now_then_rehydrate_then_verify(client, superuser, tenant, lifecycle):
    conversation = build_conversation(tenant, "conv_cycle", 12)
    client.force_login(superuser)
    archived = run(client, "archive_now", [conversation])
    assert "Archived 12 item(s) of 1 conversation(s) into 1 segment(s)" in " ".join(messages_of(archived))
    conversation.refresh_from_db()
    assert conversation.tier == "cold" and ArchiveSegment.objects.filter(conversation=conversation).count() == 1

    verified = run(client, "verify_archives", [conversation])
    assert "1 ok, 0 corrupt" in " ".join(messages_of(verified))

    rehydrated = run(client, "rehydrate", [conversation])
    assert "Rehydrated 1 conversation(s), 12 item(s) loaded" in " ".join(messages_of(rehydrated))
    assert conversation.items.count() == 12
    assert list(AuditLogEntry.objects.order_by("pk").values_list("action", flat=True)) == ["archive", "verify", "rehydrate"]


def test_verify_reports_a_corrupt_segment(client, superuser, tenant, lifecycle):
    conversation = build_conversation(tenant, "conv_corrupt", 10)
    segment = lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    payload = bytearray(bytes(ArchiveSegment.objects.get(pk=segment.pk).payload))
    payload[-5] ^= 0xFF
    ArchiveSegment.objects.filter(pk=segment.pk).update(payload=bytes(payload))
    client.force_login(superuser)
    text = " ".join(messages_of(run(client, "verify_archives", [conversation])))
    assert "0 ok, 1 corrupt" in text and str(segment.pk) in text


def test_summarise_now_writes_a_summary(client, superuser, tenant):
    pytest.importorskip("sessions_app.lifecycle")
    tenant.window_size = 4
    tenant.save()
    conversation = build_conversation(tenant, "conv_summary", 12)
    client.force_login(superuser)
    text = " ".join(messages_of(run(client, "summarise_now", [conversation])))
    assert "Summarised 1 of 1 conversation(s)" in text
    summary = Summary.objects.get(conversation=conversation)
    html = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).content.decode()
    assert f"covers seq 1..{summary.upto_seq}" in html


def test_purge_asks_for_confirmation_then_deletes_with_forks(client, superuser, tenant):
    parent, child = forked_pair(tenant)
    client.force_login(superuser)
    asked = run(client, "purge", [parent])
    assert asked.status_code == 200 and "Yes, purge 1 conversation\"" in asked.content.decode()
    assert Conversation.objects.filter(pk=parent.pk).exists()  # nothing deleted yet

    data = {"action": "purge", "post": "yes", helpers.ACTION_CHECKBOX_NAME: [parent.pk]}
    done = client.post(reverse(CHANGELIST), data, follow=True)
    assert "Purged 1 conversation(s), 2 deleted with their forks" in " ".join(messages_of(done))
    assert not Conversation.objects.filter(pk__in=[parent.pk, child.pk]).exists()
    assert Tombstone.objects.filter(tenant=tenant, conversation_id="conv_parent").exists()
    entry = AuditLogEntry.objects.get(action="purge")
    assert entry.object_repr == "conv_parent" and child.conversation_id in entry.extra["deleted"]


def test_change_page_buttons_run_actions_and_come_back(client, superuser, tenant, lifecycle):
    conversation = build_conversation(tenant, "conv_buttons", 4)
    url = reverse("admin:sessions_app_conversation_change", args=[conversation.pk])
    client.force_login(superuser)
    html = client.get(url).content.decode()
    assert 'value="evict_now"' in html and 'value="purge"' in html
    response = run(client, "evict_now", [conversation], _return_to=url)
    assert response.redirect_chain[-1][0] == url


def test_revoke_keys_action(client, superuser, tenant):
    issued = api_key_create(tenant=tenant, name="old")
    client.force_login(superuser)
    data = {"action": "revoke_keys", "index": 0, helpers.ACTION_CHECKBOX_NAME: [issued.api_key.pk]}
    response = client.post(reverse("admin:sessions_app_apikey_changelist"), data, follow=True)
    assert "Revoked 1 API key(s)" in " ".join(messages_of(response))
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None
    assert AuditLogEntry.objects.filter(action="key_revoke", object_repr=issued.api_key.prefix).exists()
