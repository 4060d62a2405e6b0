"""After a model change, recall reads only the current model's rows and the context answer says some await re-embedding."""

import pytest
from django.core.management import call_command

from archive_app import selectors as recall
from archive_app.models import Memory

from .test_recall import FACTS, talk

pytestmark = pytest.mark.django_db


def context(api):
    response = api.get("/v1/sessions/ctx/context", {"recall_k": 5, "query": "giraffe Gerald", "max_tokens": 200})
    assert response.status_code == 200, response.content
    return response.json()


def test_rows_of_another_model_are_skipped_and_reported_until_reindexed(api, tenant, django_assert_max_num_queries):
    talk(tenant, "ctx", FACTS * 3)
    recall._reindex_pending.clear()
    body = context(api)
    assert body["recall_reindex_pending"] is False and body["recalled"]

    giraffe_turns = [m.pk for m in Memory.objects.filter(tenant=tenant, excerpt__contains="giraffe")]
    Memory.objects.filter(pk__in=giraffe_turns).update(embedder="hashing:hashing-v1")  # as if embedded before the switch
    recall._reindex_pending.clear()
    body = context(api)
    assert body["recall_reindex_pending"] is True
    assert all("giraffe" not in m["content"] for m in body["messages"] if m["role"] == "system")  # never compared
    with django_assert_max_num_queries(0):
        assert recall.reindex_pending(tenant_id=tenant.pk) is True  # cached per process

    call_command("reindex_embeddings", verbosity=0)
    recall._reindex_pending.clear()
    body = context(api)
    assert body["recall_reindex_pending"] is False
    assert any("giraffe" in m["content"] for m in body["messages"] if m["role"] == "system")
