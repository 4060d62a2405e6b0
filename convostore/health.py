"""Process and readiness probes, and JSON error handlers for the whole site."""

from django.db import connection
from django.http import JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET
from django_redis import get_redis_connection
from redis.cluster import RedisCluster

from convostore.errors import json_error


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request):
    """Ready when Postgres answers; Redis is reported, not required (reads fall back to Postgres).

    On a Redis Cluster every primary is pinged and their number reported (``redis_primaries``).
    """
    body = {"postgres": "ok", "redis": "ok"}
    status = 200
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready
        body["postgres"] = f"unavailable: {exc.__class__.__name__}"
        status = 503
    try:
        client = get_redis_connection("hot")
        if isinstance(client, RedisCluster):  # every primary must answer: a slot without one is a partial outage
            client.ping(target_nodes=RedisCluster.PRIMARIES)
            body["redis_primaries"] = len(client.get_primaries())
        else:
            client.ping()
    except Exception as exc:
        body["redis"] = f"unavailable: {exc.__class__.__name__}"
    body["status"] = "ready" if status == 200 else "not ready"
    return JsonResponse(body, status=status)


def not_found(request, exception=None):
    if request.path.startswith("/v1"):
        return json_error(404, "Not found.", code="not_found")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/v1"):
        return json_error(500, "Internal server error.", error_type="server_error", code="internal_error")
    return defaults.server_error(request)
