"""Every admin page renders for a superuser; transcripts show every tier in order; search and filters find conversations."""

from __future__ import annotations

import pytest
from django.urls import reverse

from archive_app.models import LifecycleEvent
from sessions_app.models import ApiKey, AuditLogEntry, Conversation
from sessions_app.services import api_key_create
from tests.sessions_app.admin_fixtures import bare_staff, build_conversation, forked_pair, superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db


def test_every_changelist_and_the_index_render(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_pages", 6)
    api_key_create(tenant=tenant, name="ops")
    client.force_login(superuser)
    names = [
        "sessions_app_tenant", "sessions_app_apikey", "sessions_app_conversation", "sessions_app_response",
        "sessions_app_auditlogentry", "archive_app_archivesegment", "archive_app_codetable", "archive_app_summary",
        "archive_app_memory", "archive_app_lifecycleevent", "django_celery_beat_periodictask",
        "django_celery_beat_intervalschedule", "django_celery_beat_crontabschedule",
    ]
    for name in names:
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:sessions_app_tenant_change", args=[tenant.pk])).status_code == 200
    assert client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).status_code == 200
    index = client.get(reverse("admin:index")).content.decode()
    assert 'id="convostore-dashboard"' in index and "Conversations by tier" in index


def test_beat_schedule_is_editable_by_superusers(client, superuser):
    client.force_login(superuser)
    response = client.get(reverse("admin:django_celery_beat_periodictask_add"))
    assert response.status_code == 200


def test_dashboard_page_plots_tiers_archive_lifecycle_and_semantic_rate(client, superuser, tenant):
    build_conversation(tenant, "conv_dash", 4)
    LifecycleEvent.objects.create(kind="evict", tenant=tenant, conversations=3)
    LifecycleEvent.objects.create(kind="archive", tenant=tenant, conversations=2, items=10, raw_bytes=1000, stored_bytes=400)
    client.force_login(superuser)
    html = client.get(reverse("admin:dashboard")).content.decode()
    assert html.count("<svg") >= 5
    for title in ("Conversations by tier", "Bytes by tier", "Semantic cache hit rate", "Lifecycle: conversations per day"):
        assert title in html
    assert "evict: 3" in html and "archive: 2" in html  # bar tooltips of today's bucket
    assert "cdn" not in html.lower() and "https://" not in html


def test_transcript_shows_roles_types_function_calls_in_order(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_transcript", 8)
    client.force_login(superuser)
    html = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).content.decode()
    assert "lookup_invoice" in html and "INV-42" in html  # function call name and arguments
    assert "function_call_output" in html and "paid" in html
    positions = [html.index(f"question number {i} about") for i in range(3)]
    assert positions == sorted(positions)
    assert 'id="seq-1"' in html and 'id="seq-8"' in html
    assert "Response chain" in html and "Current summary" in html


def test_transcript_marks_inherited_items_and_links_ancestry_and_responses(client, superuser, tenant):
    parent, child = forked_pair(tenant)
    client.force_login(superuser)
    html = client.get(reverse("admin:sessions_app_conversation_change", args=[child.pk])).content.decode()
    parent_url = reverse("admin:sessions_app_conversation_change", args=[parent.pk])
    assert f'href="{parent_url}"' in html
    assert "inherited from" in html and "a different follow-up" in html and "question number 0" in html
    assert "resp_fork" in html
    parent_html = client.get(parent_url).content.decode()
    assert child.conversation_id in parent_html  # forks listed on the parent
    assert 'href="#resp_one"' in parent_html  # resp_two links back to resp_one


def test_transcript_of_archived_conversation_decodes_segments(client, superuser, tenant):
    lifecycle = pytest.importorskip("sessions_app.lifecycle")
    conversation = build_conversation(tenant, "conv_cold", 30)
    assert lifecycle.conversation_archive(conversation=conversation, keep_window=False) is not None
    conversation.refresh_from_db()
    assert conversation.tier == "cold" and not conversation.items.exists()
    client.force_login(superuser)
    html = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).content.decode()
    assert "lookup_invoice" in html and "question number 13 about" in html
    assert html.count("cs-src-archive") == 30
    segments = client.get(reverse("admin:archive_app_archivesegment_changelist")).content.decode()
    assert "conv_cold" in segments and "%" in segments


def test_long_transcript_is_paginated(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_long", 450, with_call=False)
    client.force_login(superuser)
    url = reverse("admin:sessions_app_conversation_change", args=[conversation.pk])
    first = client.get(url).content.decode()
    assert 'id="seq-200"' in first and 'id="seq-201"' not in first and "?page=3" in first
    third = client.get(url + "?page=3").content.decode()
    assert 'id="seq-401"' in third and 'id="seq-450"' in third and 'id="seq-400"' not in third


def test_opening_a_transcript_is_audited(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_audit", 2, with_call=False)
    client.force_login(superuser)
    client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk]) + "?page=1")
    entry = AuditLogEntry.objects.get(action="view_transcript")
    assert (entry.user, entry.object_repr, entry.tenant, entry.object_id) == (superuser, "conv_audit", tenant, str(conversation.pk))
    assert entry.extra["page"] == 1
    assert "conv_audit" in client.get(reverse("admin:sessions_app_auditlogentry_changelist")).content.decode()


@pytest.mark.parametrize(
    "query, expected",
    [("conv_find_me", {"conv_find_me"}), ("acme-corp", {"conv_find_me"}), ("zebra", {"conv_other"}),
     ("tenant-", {"conv_find_me", "conv_other"})],
)
def test_search_by_id_metadata_and_item_text(client, superuser, tenant, query, expected):
    build_conversation(tenant, "conv_find_me", 2, metadata={"customer": "acme-corp"}, with_call=False)
    other = build_conversation(tenant, "conv_other", 2, with_call=False)
    from sessions_app.services import conversation_append

    conversation_append(tenant=tenant, conversation_id=other.conversation_id, items=[{"role": "user", "content": "a zebra crossed"}])
    client.force_login(superuser)
    response = client.get(reverse("admin:sessions_app_conversation_changelist"), {"q": query})
    found = {c.conversation_id for c in response.context["cl"].result_list}
    assert found == expected


def test_filters_by_tier_tenant_and_forked(client, superuser, tenant, other_tenant):
    parent, child = forked_pair(tenant)
    build_conversation(other_tenant, "conv_elsewhere", 2, with_call=False)
    Conversation.objects.filter(pk=parent.pk).update(tier="warm")
    client.force_login(superuser)
    url = reverse("admin:sessions_app_conversation_changelist")

    def ids(params):
        return {c.conversation_id for c in client.get(url, params).context["cl"].result_list}

    assert ids({"tier": "warm"}) == {"conv_parent"}
    assert ids({"forked": "yes"}) == {child.conversation_id}
    assert ids({"forked": "no", "tenant__id__exact": tenant.pk}) == {"conv_parent"}
    assert ids({"tenant__id__exact": other_tenant.pk}) == {"conv_elsewhere"}
    assert ids({"last_active_at__gte": "2000-01-01 00:00:00+00:00"}) == {"conv_parent", child.conversation_id, "conv_elsewhere"}


def test_creating_a_key_shows_it_once_and_stores_only_the_hash(client, superuser, tenant):
    client.force_login(superuser)
    response = client.post(
        reverse("admin:sessions_app_apikey_add"), {"tenant": tenant.pk, "name": "gateway", "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    raw = next(m for m in shown if "shown only once" in m).split("<code>")[1].split("</code>")[0]
    key = ApiKey.objects.get(name="gateway")
    assert raw.startswith(key.prefix) and key.key_hash != raw and raw not in key.key_hash
    from sessions_app.services.tenants import hash_key

    assert key.key_hash == hash_key(raw)
    again = client.get(reverse("admin:sessions_app_apikey_change", args=[key.pk])).content.decode()
    assert raw not in again and key.key_hash not in again
    assert AuditLogEntry.objects.filter(action="key_create", object_repr=key.prefix).exists()


def test_key_list_shows_last_use_and_never_the_hash(client, superuser, tenant):
    issued = api_key_create(tenant=tenant, name="ops")
    client.force_login(superuser)
    html = client.get(reverse("admin:sessions_app_apikey_changelist")).content.decode()
    assert issued.api_key.prefix in html and "last used" in html.lower()
    assert issued.api_key.key_hash not in html and issued.raw_key not in html
