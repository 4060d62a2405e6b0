"""Scrape-time gauges of the tiers: conversations and bytes by tier (hot, warm, cold), counted in Postgres."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.db.models import Count, Sum
from prometheus_client.core import GaugeMetricFamily

from .models import Conversation

logger = logging.getLogger(__name__)

TIERS = ("hot", "warm", "cold")


class TierCollector:
    """``conversations{tier}`` and ``conversation_bytes{tier}``: one GROUP BY per scrape; nothing when Postgres is down.

    Gauges are read at scrape time rather than kept per process: multiprocess gauges would need a
    merge mode, and Postgres already holds the truth.
    """

    def collect(self):
        totals = {tier: (0, 0) for tier in TIERS}
        try:
            for row in Conversation.objects.order_by().values("tier").annotate(n=Count("id"), size=Sum("byte_count")):
                totals[row["tier"]] = (row["n"], row["size"] or 0)
        except DatabaseError as exc:
            logger.warning("tier gauges skipped, the database is unavailable: %s", exc)
            return
        count = GaugeMetricFamily("conversations", "Conversations by tier (Postgres, at scrape time).", labels=["tier"])
        size = GaugeMetricFamily("conversation_bytes", "Item bytes of conversations by tier (Postgres, at scrape time).",
                                 labels=["tier"])
        for tier, (n, total) in totals.items():
            count.add_metric([tier], n)
            size.add_metric([tier], total)
        yield count
        yield size
