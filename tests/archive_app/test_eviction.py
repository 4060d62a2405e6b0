"""Eviction: idle conversations leave Redis (injected clock), and the hot budget evicts least recently used first."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from archive_app.models import LifecycleEvent
from sessions_app import lifecycle
from cache_app import hot_window
from sessions_app.models import Conversation
from sessions_app.selectors import window_load

pytestmark = pytest.mark.django_db


def append(api, conversation_id, count=3, start=0):
    items = [{"role": "user", "content": f"{conversation_id} message {i} " + "lorem ipsum " * 5} for i in range(start, start + count)]
    response = api.post(f"/v1/sessions/{conversation_id}/append", {"items": items}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def window_of(tenant, conversation_id):
    return hot_window.window_read(tenant_id=tenant.pk, conversation_id=conversation_id)


def test_evict_idle_uses_the_injected_clock_and_the_tenant_setting(api, tenant):
    tenant.evict_after_seconds = 600
    tenant.save()
    append(api, "quiet")
    now = timezone.now()
    assert lifecycle.evict_idle(now=now + timedelta(seconds=60)) == 0
    assert Conversation.objects.get(conversation_id="quiet").tier == "hot"

    assert lifecycle.evict_idle(now=now + timedelta(seconds=700)) == 1
    conversation = Conversation.objects.get(conversation_id="quiet")
    assert conversation.tier == "warm"
    assert window_of(tenant, "quiet") is None
    event = LifecycleEvent.objects.get(kind="evict")
    assert (event.tenant_id, event.conversations, event.items) == (tenant.pk, 1, 3)
    # Idempotent: nothing left to do.
    assert lifecycle.evict_idle(now=now + timedelta(seconds=700)) == 0


def test_evict_idle_idle_seconds_override_and_tenant_filter(api, other_api, tenant, other_tenant):
    append(api, "mine")
    append(other_api, "theirs")
    later = timezone.now() + timedelta(seconds=30)
    assert lifecycle.evict_idle(now=later, idle_seconds=10, tenant=other_tenant) == 1
    assert Conversation.objects.get(tenant=tenant, conversation_id="mine").tier == "hot"
    assert Conversation.objects.get(tenant=other_tenant, conversation_id="theirs").tier == "warm"


def test_evict_idle_without_a_clock_uses_last_active_at(api, tenant):
    append(api, "old")
    append(api, "new")
    Conversation.objects.filter(conversation_id="old").update(last_active_at=timezone.now() - timedelta(hours=2))
    assert lifecycle.evict_idle() == 1
    assert dict(Conversation.objects.values_list("conversation_id", "tier")) == {"old": "warm", "new": "hot"}


def test_reads_after_eviction_come_back_byte_identical(api, tenant):
    append(api, "back", count=5)
    before = api.get("/v1/sessions/back/items", {"limit": 100}).content
    assert lifecycle.evict_idle(now=timezone.now() + timedelta(days=1)) == 1
    assert api.get("/v1/sessions/back/items", {"limit": 100}).content == before
    # A read that rebuilds the window of a warm conversation; it is evicted again once idle.
    window_load(tenant, Conversation.objects.get(conversation_id="back"))
    assert window_of(tenant, "back") is not None
    assert lifecycle.evict_idle(now=timezone.now() + timedelta(days=1)) == 1
    assert window_of(tenant, "back") is None


def test_enforce_hot_budget_evicts_least_recently_used_first(api, tenant):
    for name in ["a", "b", "c", "d"]:
        append(api, name, count=4)
    api.get("/v1/sessions/a/items")  # a is now the most recently used
    usage = lifecycle.hot_usage()
    assert usage["conversations"] == 4 and usage["bytes"] > 0
    per_conversation = usage["bytes"] / 4
    # Room for two and a half windows: the two least recently used (b, c) must go, a and d stay.
    evicted = lifecycle.enforce_hot_budget(max_bytes=int(per_conversation * 2.5))
    assert evicted == 2
    tiers = dict(Conversation.objects.values_list("conversation_id", "tier"))
    assert tiers == {"a": "hot", "b": "warm", "c": "warm", "d": "hot"}
    assert window_of(tenant, "b") is None and window_of(tenant, "a") is not None
    assert lifecycle.hot_usage()["bytes"] <= per_conversation * 2.5
    assert lifecycle.enforce_hot_budget(max_bytes=int(per_conversation * 2.5)) == 0


def test_enforce_hot_budget_is_a_no_op_under_budget(api):
    append(api, "small")
    assert lifecycle.enforce_hot_budget(max_bytes=10**9) == 0
    assert Conversation.objects.get(conversation_id="small").tier == "hot"


def test_evict_command_reports_counts(api, tenant):
    append(api, "cmd")
    out = StringIO()
    call_command("evict", "--idle-seconds", "0", "--tenant", tenant.name, stdout=out)
    assert "1 conversation evicted" in out.getvalue()
    out = StringIO()
    call_command("evict", "--idle-seconds", "0", "--budget", "--max-bytes", "0", stdout=out)
    assert "0 conversations evicted" in out.getvalue()
    assert "(0 idle, 0 over the hot budget); hot tier now" in out.getvalue()
