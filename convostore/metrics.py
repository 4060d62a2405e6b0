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
replica_fallbacks = Counter("db_replica_fallbacks_total", "Reads meant for the Postgres replica that ran on the primary.", ["reason"])
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
semantic_best_similarity = Histogram(
    "semantic_cache_best_similarity",
    "Cosine similarity of the best live candidate of a semantic-cache lookup (hit or miss; lookups with no candidate are not observed).",
    ["tenant", "namespace"],
    buckets=(0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.93, 0.94, 0.95, 0.97, 0.99, 1.0),
)
semantic_cache_lookups = Counter("semantic_cache_lookups_total", "Semantic cache lookups by outcome.", ["outcome"])
task_duration = Histogram("task_duration_seconds", "Celery task durations.", ["task"])
task_failures = Counter("task_failures_total", "Celery task failures.", ["task"])
gateway_upstream_calls = Counter("gateway_upstream_calls_total", "Gateway upstream calls by API kind and outcome (ok or the status answered).", ["api", "outcome"])
gateway_upstream_latency = Histogram(
    "gateway_upstream_latency_ms", "Time to a whole non-streaming upstream answer, in milliseconds.", ["api"],
    buckets=(10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000),
)
gateway_tokens = Counter("gateway_tokens_total", "Upstream tokens spent through the gateway, by API-key id.", ["api_key", "kind"])

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
