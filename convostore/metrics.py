"""Prometheus metrics, shared by gunicorn workers, Celery and management commands through prometheus-client's multiprocess mode.

Every series is exported from the first scrape: ``preinitialise`` creates each labelled series with its
known label values (counters at 0, histograms empty); HTTP request series come from django-prometheus.
"""

from prometheus_client import Counter, Histogram

_LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 25, 50, 100, 250, 1000)

resolve_latency = Histogram("resolve_latency_ms", "Resolve latency in milliseconds.", buckets=_LATENCY_BUCKETS_MS)
append_latency = Histogram("append_latency_ms", "Append latency in milliseconds.", buckets=_LATENCY_BUCKETS_MS)
append_conflicts = Counter("append_conflicts_total", "Appends refused with version_conflict.")
idempotent_replays = Counter("idempotent_replays_total", "Requests answered from an idempotency record.")
window_events = Counter("hot_window_events_total", "Hot window hits, misses and rebuilds.", ["event"])
redis_failures = Counter("redis_failures_total", "Redis calls that failed and fell back to Postgres.", ["layer"])
session_size_bytes = Histogram(
    "session_size_bytes", "Conversation size in bytes after an append.",
    buckets=(1e3, 1e4, 1e5, 1e6, 1e7, 1e8),
)
estimated_input_tokens = Histogram(
    "estimated_input_tokens", "Estimated input tokens handed out by resolve and context.",
    buckets=(100, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000),
)
apc_fingerprint_changes = Counter("apc_fingerprint_changes_total", "Context prefix fingerprints that changed.")
lifecycle_conversations = Counter("lifecycle_conversations_total", "Conversations handled by lifecycle runs.", ["kind"])
archived_bytes = Counter("archived_bytes_total", "Bytes archived, raw and as stored.", ["form"])
semantic_cache_lookups = Counter("semantic_cache_lookups_total", "Semantic cache lookups by outcome.", ["outcome"])
task_duration = Histogram("task_duration_seconds", "Celery task durations.", ["task"])
task_failures = Counter("task_failures_total", "Celery task failures.", ["task"])

# Label values known in advance, so their series exist (at 0) before the first event.
KNOWN_LABELS = {
    window_events: {"event": ("hit", "miss", "rebuild")},
    archived_bytes: {"form": ("raw", "stored")},
    semantic_cache_lookups: {"outcome": ("hit", "miss", "unavailable")},
    lifecycle_conversations: {"kind": ("evict", "archive", "rehydrate", "summarise", "embed", "purge")},
}


def preinitialise(*, redis_layers=(), tasks=()) -> None:
    """Create every known labelled series now: the fixed ones above, each Redis layer (cache alias) and task name."""
    for metric, labels in KNOWN_LABELS.items():
        ((name, values),) = labels.items()
        for value in values:
            metric.labels(**{name: value})
    for layer in redis_layers:
        redis_failures.labels(layer=layer)
    for task in tasks:
        task_duration.labels(task=task)
        task_failures.labels(task=task)
