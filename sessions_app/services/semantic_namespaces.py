"""Per-namespace semantic-cache thresholds, calibrated on the operator's labelled pairs, and their lookup."""

from __future__ import annotations

import threading
import time

import numpy as np
from django.db import transaction

from archive_app.embedders import BaseEmbedder, get_embedder
from cache_app.semantic_calibration import threshold_pick
from cache_app.semantic_guard import agree
from convostore.errors import ValidationFailed

from ..models import SemanticNamespace, Tenant

CACHE_SECONDS = 30.0  # a calibration reaches every process within this long
_cache: dict[tuple[int, str], tuple[float, SemanticNamespace | None]] = {}
_lock = threading.Lock()


@transaction.atomic
def semantic_namespace_calibrate(
    *, tenant: Tenant, namespace: str, pairs: list[dict], max_false_hit_rate: float, guard: bool = True, embedder: BaseEmbedder | None = None
) -> SemanticNamespace:
    """Embed every pair ``{"a", "b", "same"}`` with the server's embedder, pick the threshold with the most
    true hits at <= ``max_false_hit_rate`` false hits (with the guard unless ``guard`` is False) and store
    it for ``namespace``. Raises ValidationFailed when the pairs lack either kind or no threshold up to
    1.0 meets the target."""
    embedder = embedder or get_embedder()
    a = embedder.embed([pair["a"] for pair in pairs])
    b = embedder.embed([pair["b"] for pair in pairs])
    same = np.array([bool(pair["same"]) for pair in pairs])
    agrees = np.array([agree(pair["a"], pair["b"]) for pair in pairs]) if guard else None
    try:
        picked = threshold_pick((a * b).sum(axis=1), same, agrees, max_false_hit_rate=max_false_hit_rate)
    except ValueError as exc:
        raise ValidationFailed(str(exc), param="pairs", code="calibration_pairs") from exc
    if picked is None:
        raise ValidationFailed(
            f"no threshold up to 1.0 keeps false hits at or under {max_false_hit_rate:.1%} on these pairs"
            + ("" if guard else " (try with the guard)"),
            param="pairs",
            code="calibration_impossible",
        )
    row, _ = SemanticNamespace.objects.update_or_create(
        tenant=tenant,
        namespace=namespace,
        defaults={
            "threshold": picked.threshold,
            "embedder": embedder.cache_id,
            "guard": guard,
            "max_false_hit_rate": max_false_hit_rate,
            "true_hit_rate": round(picked.true_hit_rate, 4),
            "false_hit_rate": round(picked.false_hit_rate, 4),
            "pairs": len(pairs),
        },
    )
    with _lock:
        _cache.pop((tenant.pk, namespace), None)
    return row


def semantic_lookup_settings(
    *, tenant: Tenant, namespace: str, threshold: float | None, guard: bool | None, server_embeds: bool
) -> tuple[float, bool]:
    """(threshold, guard) of a lookup: what the request sends, else the namespace's calibration (only for
    text the server embeds with the embedder it was calibrated for: the threshold and whether the guard
    was on), else the tenant's ``semantic_threshold`` and the guard on. The namespace row is read at most
    once per CACHE_SECONDS per process (no query on the hot path)."""
    row = None
    if server_embeds and (threshold is None or guard is None):
        row = _namespace(tenant.pk, namespace)
        if row is not None and row.embedder != get_embedder().cache_id:
            row = None
    if threshold is None:
        threshold = row.threshold if row is not None else tenant.semantic_threshold
    if guard is None:
        guard = row.guard if row is not None else True
    return threshold, guard


def _namespace(tenant_id: int, namespace: str) -> SemanticNamespace | None:
    now = time.monotonic()
    cached = _cache.get((tenant_id, namespace))
    if cached is not None and cached[0] > now:
        return cached[1]
    row = SemanticNamespace.objects.filter(tenant_id=tenant_id, namespace=namespace).first()
    with _lock:
        if len(_cache) > 10_000:
            _cache.clear()  # bounded: namespaces are tenant-chosen strings
        _cache[(tenant_id, namespace)] = (now + CACHE_SECONDS, row)
    return row
