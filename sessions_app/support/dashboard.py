"""The admin dashboard: tiers, archive ratio, lifecycle counts over time and semantic cache hit rate, as SVG."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncHour
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from archive_app.models import ArchiveSegment, LifecycleEvent
from cache_app.semantic_purge import counters as semantic_cache_counters

from ..models import Conversation
from . import charts
from .charts import COLOURS

logger = logging.getLogger(__name__)

DASHBOARD_PERMISSION = "sessions_app.view_conversation"

TIERS = ("hot", "warm", "cold")
SERIES_KINDS = ("evict", "archive", "rehydrate", "summarise", "purge")


def tier_totals() -> dict[str, dict[str, int]]:
    totals = {tier: {"conversations": 0, "bytes": 0} for tier in TIERS}
    for row in Conversation.objects.order_by().values("tier").annotate(n=Count("id"), bytes=Sum("byte_count")):
        totals.setdefault(row["tier"], {"conversations": 0, "bytes": 0})
        totals[row["tier"]] = {"conversations": row["n"], "bytes": row["bytes"] or 0}
    return totals


def archive_totals() -> dict:
    sums = ArchiveSegment.objects.aggregate(segments=Count("id"), raw=Sum("raw_bytes"), stored=Sum("stored_bytes"))
    raw, stored = sums["raw"] or 0, sums["stored"] or 0
    return {"segments": sums["segments"], "raw": raw, "stored": stored, "ratio": stored / raw if raw else None}


def lifecycle_series(*, now=None, days: int = 14, hours: int = 0) -> tuple[list[str], dict[str, list[int]]]:
    """Conversations touched per day (or per hour when ``hours``) and per kind, oldest bucket first."""
    now = now or timezone.now()
    if hours:
        start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
        buckets = [start + timedelta(hours=i) for i in range(hours)]
        trunc, label = TruncHour("created_at"), "%H:00"
    else:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
        buckets = [start + timedelta(days=i) for i in range(days)]
        trunc, label = TruncDay("created_at"), "%m-%d"
    index = {bucket: i for i, bucket in enumerate(buckets)}
    series = {kind: [0] * len(buckets) for kind in SERIES_KINDS}
    rows = (
        LifecycleEvent.objects.filter(created_at__gte=start, kind__in=SERIES_KINDS)
        .annotate(bucket=trunc)
        .order_by()
        .values("bucket", "kind")
        .annotate(n=Sum("conversations"))
    )
    for row in rows:
        position = index.get(row["bucket"])
        if position is not None:
            series[row["kind"]][position] += row["n"] or 0
    return [bucket.strftime(label) for bucket in buckets], series


def semantic_counters() -> dict | None:
    """hits/misses/stores/evictions of the semantic cache, or None when it cannot be read."""
    try:
        return semantic_cache_counters(tenant_id=None)
    except Exception as exc:  # Redis down or hung: the dashboard still renders
        logger.warning("semantic cache counters unavailable: %s", exc)
        return None


def dashboard_context(*, now=None) -> dict:
    tiers = tier_totals()
    archive = archive_totals()
    days, daily = lifecycle_series(now=now, days=14)
    hours, hourly = lifecycle_series(now=now, hours=24)
    counters = semantic_counters()
    panels = [
        ("Conversations by tier", charts.donut(
            [(t, tiers[t]["conversations"], COLOURS[t]) for t in TIERS],
            title="Conversations by tier", centre=str(sum(tiers[t]["conversations"] for t in TIERS)))),
        ("Bytes by tier", charts.hbars(
            [(t, tiers[t]["bytes"], COLOURS[t], filesizeformat(tiers[t]["bytes"])) for t in TIERS], title="Bytes by tier")),
        (_archive_title(archive), charts.hbars(
            [("raw", archive["raw"], COLOURS["raw"], filesizeformat(archive["raw"])),
             ("stored", archive["stored"], COLOURS["stored"], filesizeformat(archive["stored"]))],
            title="Archive raw vs stored bytes")),
        ("Semantic cache hit rate", _semantic_chart(counters)),
        ("Lifecycle: conversations per day (14 days)", charts.columns(
            days, [(kind, COLOURS[kind], daily[kind]) for kind in SERIES_KINDS], title="Lifecycle per day")),
        ("Lifecycle: conversations per hour (24 hours)", charts.columns(
            hours, [(kind, COLOURS[kind], hourly[kind]) for kind in ("evict", "archive")], title="Evict and archive per hour")),
    ]
    return {"charts": panels, "tiers": tiers, "archive": archive, "semantic": counters}


def _archive_title(archive: dict) -> str:
    if archive["ratio"] is None:
        return "Archive: no segments yet"
    return f"Archive ratio {archive['ratio']:.1%} ({archive['segments']} segments, {1 / archive['ratio']:.1f}× smaller)" if archive["ratio"] else "Archive ratio"


def _semantic_chart(counters: dict | None):
    if counters is None:
        return charts.donut([("unavailable", 0, COLOURS["miss"])], title="Semantic cache hit rate", centre="unavailable")
    hits, misses = int(counters.get("hits", 0)), int(counters.get("misses", 0))
    rate = f"{hits / (hits + misses):.0%}" if hits + misses else "—"
    return charts.donut([("hits", hits, COLOURS["hit"]), ("misses", misses, COLOURS["miss"])],
                            title="Semantic cache hit rate", centre=rate)
