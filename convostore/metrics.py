"""Prometheus metrics, shared by gunicorn workers and Celery through prometheus-client's multiprocess mode."""

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
semantic_cache_lookups = Counter("semantic_cache_lookups_total", "Semantic cache lookups by outcome.", ["outcome"])
task_duration = Histogram("task_duration_seconds", "Celery task durations.", ["task"])
task_failures = Counter("task_failures_total", "Celery task failures.", ["task"])
