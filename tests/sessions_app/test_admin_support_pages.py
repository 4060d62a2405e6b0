"""The conversation page as support reads it: transcript first, times and types on every item, linked response ids,
the tier that matches Redis, search by every id support is given, a destructive-looking purge, no favicon 404."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from sessions_app import lifecycle
from sessions_app.models import Conversation, Item, Response
from sessions_app.services import conversation_append
from sessions_app.support import transcripts
from tests.sessions_app.admin_fixtures import build_conversation, forked_pair, superuser  # noqa: F401

pytestmark = pytest.mark.django_db


def page(client, conversation) -> str:
    return client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).content.decode()


def test_the_transcript_comes_before_the_fields_which_are_collapsed(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_first", 6)
    client.force_login(superuser)
    html = page(client, conversation)
    assert html.index('id="transcript"') < html.index("Conversation fields") < html.index("prefix_fingerprint")
    fields = html[html.index("Conversation fields") - 400 : html.index("Conversation fields")]
    assert "<details" in fields and " open" not in fields.rsplit("<details", 1)[1]  # collapsed


def test_every_item_hot_or_archived_has_a_time_and_a_type(client, superuser, tenant):
    archived = build_conversation(tenant, "conv_times", 12)
    lifecycle.conversation_archive(conversation=archived, keep_window=False)
    conversation_append(tenant=tenant, conversation_id="conv_times", items=[{"role": "user", "content": "after the archive"}])
    client.force_login(superuser)
    html = page(client, Conversation.objects.get(pk=archived.pk))
    rows = re.findall(r'<tr class="cs-row.*?</tr>', html, re.S)
    assert len(rows) == 13 and html.count("cs-src-archive") == 12
    for row in rows:
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', row), row[:300]
        assert re.search(r'class="cs-type"><code>(message|function_call|function_call_output)</code>', row), row[:300]


def test_response_ids_link_to_the_chain_across_forks(client, superuser, tenant):
    parent, child = forked_pair(tenant)
    client.force_login(superuser)
    html = page(client, child)
    parent_url = reverse("admin:sessions_app_conversation_change", args=[parent.pk])
    fork_response = Response.objects.get(response_id="resp_fork")
    assert f'href="{parent_url}#resp_one"' in html  # the fork's previous response lives in the parent
    assert f'href="{reverse("admin:sessions_app_response_change", args=[fork_response.pk])}"' in html
    assert 'href="#resp_fork"' in html  # the fork's own items link to its chain
    assert 'id="resp_one"' in page(client, parent)


def test_after_rehydrate_and_archive_the_tier_and_the_redis_state_agree(client, superuser, tenant,
                                                                        django_capture_on_commit_callbacks):
    conversation = build_conversation(tenant, "conv_truth", 10)
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    lifecycle.conversation_rehydrate(conversation=conversation)
    assert Conversation.objects.get(pk=conversation.pk).tier == "hot"
    assert transcripts._hot_range(conversation)[0] is not None
    with django_capture_on_commit_callbacks(execute=True):  # the window is dropped once the archive commits
        lifecycle.conversation_archive(conversation=Conversation.objects.get(pk=conversation.pk), keep_window=False)
    conversation = Conversation.objects.get(pk=conversation.pk)
    assert conversation.tier == "cold"
    assert transcripts._hot_range(conversation) == (None, "not in Redis")
    client.force_login(superuser)
    html = page(client, conversation)
    assert '<span class="cs-tier cs-tier-cold">cold</span>' in html and "Redis: not in Redis" in html
    listing = client.get(reverse("admin:sessions_app_conversation_changelist")).content.decode()
    assert '<span class="cs-tier cs-tier-cold">cold</span>' in listing


@pytest.mark.parametrize("query", ["conv_wanted", "wanted", "resp_wanted", "msg_wanted_1", "alice@example.com",
                                   "purple elephant", "summary-only phrase"])
def test_search_by_ids_user_and_phrases(client, superuser, tenant, query):
    from archive_app.models import Summary

    conversation_append(tenant=tenant, conversation_id="conv_wanted", metadata={"user": "alice@example.com"},
                        items=[{"id": "msg_wanted_1", "type": "message", "role": "user", "content": "a purple elephant"}])
    from sessions_app.services import response_store

    response_store(tenant=tenant, conversation_id="conv_wanted", response_id="resp_wanted", input_items=[],
                   output_items=[{"role": "assistant", "content": "noted"}])
    wanted = Conversation.objects.get(conversation_id="conv_wanted")
    Summary.objects.create(conversation=wanted, upto_seq=1, text="the summary-only phrase of archived turns",
                           token_estimate=5, summariser="test")
    build_conversation(tenant, "conv_noise", 4, metadata={"user": "bob"})
    client.force_login(superuser)
    found = client.get(reverse("admin:sessions_app_conversation_changelist"), {"q": query}).context["cl"].result_list
    assert [c.conversation_id for c in found] == ["conv_wanted"]
    assert Item.objects.filter(item_id="msg_wanted_1").exists()


def test_header_favicon_index_order_and_a_destructive_purge(client, superuser, tenant):
    conversation = build_conversation(tenant, "conv_style", 2, with_call=False)
    client.force_login(superuser)
    index = client.get(reverse("admin:index")).content.decode()
    assert "ConvoStore administration" in index and "Django administration" not in index
    assert index.index('id="content-main"') < index.index('id="convostore-dashboard"')  # the app list first
    assert 'rel="icon"' in index
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 301 and client.get(favicon["Location"]).status_code == 200
    html = page(client, conversation)
    assert re.search(r'<button[^>]*value="purge"[^>]*class="button cs-danger"', html)
    css = client.get("/static/convostore_admin/admin.css")
    assert b".cs-danger" in b"".join(css.streaming_content) if css.streaming else css.content
