"""/metrics: one Prometheus exposition for every process of a host (gunicorn workers, Celery, commands), protected.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every process writes its samples there and a scrape sums them, so
work done by `manage.py evict` counts in the same series as the beat task's. Without it, this process only.
"""

from __future__ import annotations

import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from . import metrics
from .celery import app as celery_app

# Collectors read at scrape time (e.g. gauges counted in Postgres by an app), added by the apps' ready().
SCRAPE_TIME = CollectorRegistry()


def scrape_collector_add(collector) -> None:
    """Serve ``collector`` (an object with ``collect()``) on every scrape, next to the process metrics."""
    SCRAPE_TIME.register(collector)


def task_names() -> list[str]:
    """The Celery task names registered so far (the apps' tasks modules imported), without Celery's own ``celery.*``."""
    return sorted(name for name in celery_app.tasks if not name.startswith("celery."))


def preinitialise() -> None:
    """Every known series of this process at zero: Redis layers are the cache aliases, tasks the registered ones."""
    metrics.preinitialise(redis_layers=list(settings.CACHES), tasks=task_names())


def _allowed(request) -> bool:
    token = settings.CONVOSTORE.get("METRICS_TOKEN")
    if token:
        return request.headers.get("Authorization", "") == f"Bearer {token}"
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.CONVOSTORE.get("METRICS_ALLOW", []))


def registry():
    """The registry a scrape reads: the multiprocess directory's aggregate when configured, else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    aggregate = CollectorRegistry()
    multiprocess.MultiProcessCollector(aggregate)
    return aggregate


def metrics_view(request):
    """Prometheus text for loopback (``CONVOSTORE_METRICS_ALLOW``) or ``Authorization: Bearer $CONVOSTORE_METRICS_TOKEN``; else 403 JSON."""
    if not _allowed(request):
        return JsonResponse({"error": {"message": "Metrics are not available to this client.", "type": "invalid_request_error",
                                       "param": None, "code": "forbidden"}}, status=403)
    return HttpResponse(generate_latest(registry()) + generate_latest(SCRAPE_TIME), content_type=CONTENT_TYPE_LATEST)
