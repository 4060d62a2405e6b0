"""The lifecycle's work lists: what to evict, what to archive, what to purge; and how commands name their targets."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest

from ..models import Conversation, Tenant


def archive_min_items() -> int:
    """Items beyond the hot window that must accumulate before a hot conversation is archived."""
    return settings.CONVOSTORE.get("ARCHIVE_MIN_ITEMS", 64)


def idle_conversations(*, now: datetime, idle_seconds: int | None = None, tenant=None):
    """Hot conversations with no write for their tenant's evict_after_seconds (or ``idle_seconds``) before ``now``."""
    if idle_seconds is None:
        idle = Q(last_active_at__lt=now - timedelta(seconds=1) * F("tenant__evict_after_seconds"))
    else:
        idle = Q(last_active_at__lt=now - timedelta(seconds=idle_seconds))
    queryset = Conversation.objects.hot().filter(idle)
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    return queryset.select_related("tenant").only(
        "pk", "tenant_id", "conversation_id", "tier", "item_count", "byte_count", "tenant__evict_after_seconds"
    )


def archivable_conversations(*, tenant=None):
    """Conversations with rows to archive: evicted (warm) ones with any own item, hot ones far beyond their window."""
    own_items_after = Greatest(F("archived_upto_seq"), Coalesce(F("fork_seq"), Value(0)))
    queryset = Conversation.objects.annotate(unarchived=F("last_seq") - own_items_after)
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    warm = Q(tier=Conversation.Tier.WARM, item_count__gt=0, unarchived__gt=0)
    hot = Q(tier=Conversation.Tier.HOT, unarchived__gte=F("tenant__window_size") + archive_min_items())
    return queryset.filter(warm | hot).order_by("last_active_at", "pk")


def expired_conversations(now: datetime):
    """Conversations past their ttl_seconds or their tenant's retention (forks of an expired one go with it)."""
    return Conversation.objects.expired(now).select_related("tenant").order_by("pk")


def evict_cutoffs(tenant_ids, now: datetime, idle_seconds: int | None) -> dict[int, float]:
    """Per tenant id: the epoch second before which a conversation counts as idle."""
    seconds = dict(Tenant.objects.filter(pk__in=set(tenant_ids)).values_list("pk", "evict_after_seconds"))
    return {pk: (now - timedelta(seconds=idle_seconds if idle_seconds is not None else s)).timestamp() for pk, s in seconds.items()}


def tenant_find(ref: str):
    """A tenant by name, or by pk when ``ref`` is all digits and no tenant has that name; None when unknown."""
    found = Tenant.objects.filter(name=ref).first()
    if found is None and ref.isdigit():
        found = Tenant.objects.filter(pk=int(ref)).first()
    return found


def conversation_find(ref: str, tenant=None) -> list[Conversation]:
    """Conversations whose id is ``ref`` (in ``tenant`` when given), else the one with pk ``ref``."""
    queryset = Conversation.objects.select_related("tenant")
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    found = list(queryset.filter(conversation_id=ref)[:2])
    if not found and ref.isdigit():
        found = list(queryset.filter(pk=int(ref)))
    return found


def conversations_selected(*, tenant_name: str | None = None, conversation_id: str | None = None):
    """The conversations a command names: one id (in the named tenant when given), or all of a tenant's, or all.

    None when ``conversation_id`` names no conversation.
    """
    queryset = Conversation.objects.select_related("tenant")
    if tenant_name:
        queryset = queryset.filter(tenant__name=tenant_name)
    if conversation_id:
        queryset = queryset.filter(conversation_id=conversation_id)
        if not queryset.exists():
            return None
    return queryset
