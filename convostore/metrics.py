"""Prometheus metrics, shared by gunicorn workers and Celery through prometheus-client's multiprocess mode."""

from prometheus_client import Counter, Histogram

_LATENCY_BUCKETS_MS = (0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 25, 50, 100, 250, 1000)

resolve_latency = Histogram("resolve_latency_ms", "Resolve latency in milliseconds.", buckets=_LATENCY_BUCKETS_MS)
append_latency = Histogram("append_latency_ms", "Append latency in milliseconds.", buckets=_LATENCY_BUCKETS_MS)
append_conflicts = Counter("append_conflicts_total", "Appends refused with version_conflict.")
idempotent_replays = Counter("idempotent_replays_total", "Requests answered from an idempotency record.")
window_events = Counter("hot_window_events_total", "Hot window hits, misses and rebuilds.", ["event"])
redis_failures = Counter("redis_failures_total", "Redis calls that failed and fell back to Postgres.", ["layer"])
