"""Admin pages stay fast on large data: a bounded number of queries however many rows or items there are."""

from __future__ import annotations

import pytest
from django.urls import reverse

from archive_app.models import ArchiveSegment, Memory, Summary
from sessions_app.models import Conversation
from tests.sessions_app.admin_fixtures import build_conversation, superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db


def many_conversations(tenant, count: int) -> list[Conversation]:
    return Conversation.objects.bulk_create(
        Conversation(tenant=tenant, conversation_id=f"conv_bulk_{i}", item_count=i, byte_count=i * 100, metadata={"i": i})
        for i in range(count)
    )


def test_conversation_changelist_queries_do_not_grow_with_rows(client, superuser, tenant, other_tenant, django_assert_max_num_queries):
    many_conversations(tenant, 150)
    client.force_login(superuser)
    url = reverse("admin:sessions_app_conversation_changelist")
    with django_assert_max_num_queries(7):  # session, user, count, page, tenants for the filter (5 measured)
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 100
    with django_assert_max_num_queries(7):
        client.get(url, {"q": "conv_bulk_1", "tier": "hot", "forked": "no"})


def test_support_changelist_is_bounded_too(client, support_user, tenant, django_assert_max_num_queries):
    many_conversations(tenant, 120)
    client.force_login(support_user)
    with django_assert_max_num_queries(9):  # plus the permission lookups
        assert client.get(reverse("admin:sessions_app_conversation_changelist")).status_code == 200


def test_long_transcript_change_page_is_paginated_and_bounded(client, superuser, tenant, django_assert_max_num_queries):
    conversation = build_conversation(tenant, "conv_huge", 600, with_call=False)
    client.force_login(superuser)
    url = reverse("admin:sessions_app_conversation_change", args=[conversation.pk])
    for page in ("1", "3"):
        with django_assert_max_num_queries(12):  # 8–9 measured, whatever the length
            response = client.get(url, {"page": page})
        assert response.content.decode().count('class="cs-row') == 200


def test_archive_changelists_defer_payloads_and_vectors(client, superuser, tenant, django_assert_max_num_queries):
    conversations = many_conversations(tenant, 60)
    ArchiveSegment.objects.bulk_create(
        ArchiveSegment(conversation=c, first_seq=1, last_seq=5, item_count=5, codec=1, raw_bytes=1000, stored_bytes=400,
                       crc32=0, payload=b"x" * 1000)
        for c in conversations
    )
    Summary.objects.bulk_create(Summary(conversation=c, upto_seq=3, text="summary text", summariser="t",
                                        embedding=[0.5] * 256) for c in conversations)
    Memory.objects.bulk_create(Memory(tenant=tenant, conversation=c, first_seq=1, last_seq=2, excerpt="an excerpt",
                                      embedder="t", embedding=[0.25] * 256) for c in conversations)
    client.force_login(superuser)
    for name in ("archivesegment", "summary", "memory"):
        with django_assert_max_num_queries(10) as captured:
            html = client.get(reverse(f"admin:archive_app_{name}_changelist")).content.decode()
        selects = " ".join(q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT"))
        assert '"payload"' not in selects and '"embedding",' not in selects.replace('"embedding" IS NOT NULL', "")
        assert "0.5" not in html and "0.25" not in html
        assert "40.0%" in html or name != "archivesegment"
    summary = Summary.objects.first()
    page = client.get(reverse("admin:archive_app_summary_change", args=[summary.pk])).content.decode()
    assert "summary text" in page and "0.5, 0.5" not in page
