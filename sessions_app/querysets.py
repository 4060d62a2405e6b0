"""Filters over many conversations and items."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q


class ConversationQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)

    def idle_since(self, moment):
        return self.filter(last_active_at__lt=moment)

    def hot(self):
        return self.filter(tier="hot")

    def expired(self, now):
        """Conversations past their own ttl_seconds or their tenant's retention."""
        by_ttl = Q(ttl_seconds__isnull=False) & Q(
            last_active_at__lt=now - timedelta(seconds=1) * models.F("ttl_seconds")
        )
        by_retention = Q(tenant__retention_days__isnull=False) & Q(
            last_active_at__lt=now - timedelta(days=1) * models.F("tenant__retention_days")
        )
        return self.filter(by_ttl | by_retention)


class ItemQuerySet(models.QuerySet):
    def for_path(self, path, upto_seq):
        """Items of a context path: [(conversation pk, upto seq or None)], capped at upto_seq."""
        condition = Q()
        for conversation_pk, upto in path:
            limit = upto_seq if upto is None else min(upto, upto_seq)
            condition |= Q(conversation_id=conversation_pk, seq__lte=limit)
        return self.filter(condition).order_by("seq")
