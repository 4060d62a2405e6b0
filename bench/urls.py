"""The app's URLconf plus the floors the API is compared with: plain Django views, no DRF, no auth."""

from django import db
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import include, path

from cache_app.redis_client import connection


def floor(request):
    return JsonResponse({"ok": True})


def redis_get(request):
    value = connection("hot").get("bench:floor")
    return JsonResponse({"ok": True, "value": value.decode() if value else None})


def redis_two_gets(request):
    """Two sequential Redis round trips: what a hot resolve's I/O costs (authentication, then the window)."""
    hot = connection("hot")
    first, second = hot.get("bench:floor"), hot.get("bench:floor")
    return JsonResponse({"ok": True, "value": (first or b"").decode() + (second or b"").decode()})


def durable_insert(request):
    """One durable INSERT (autocommit: its own commit, fsync'd): what an append's Postgres work costs at least."""
    with db.connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_commit (v) VALUES (%s)", ["x" * 64])
    return JsonResponse({"ok": True})


def stream(request):
    """64 KiB chunks, up to 256 MiB: a client that stops reading leaves the server with data to send."""
    chunk = b"data: " + b"x" * (64 * 1024 - 8) + b"\n\n"
    return StreamingHttpResponse((chunk for _ in range(4096)), content_type="text/event-stream")


urlpatterns = [
    path("bench/floor", floor),
    path("bench/redis-get", redis_get),
    path("bench/redis-two-gets", redis_two_gets),
    path("bench/durable-insert", durable_insert),
    path("bench/stream", stream),
    path("", include("convostore.urls")),
]
