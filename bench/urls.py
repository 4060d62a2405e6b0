"""The app's URLconf plus the floors the API is compared with: plain Django views, no DRF, no auth."""

from django.http import JsonResponse, StreamingHttpResponse
from django.urls import include, path

from cache_app.redis_client import connection


def floor(request):
    return JsonResponse({"ok": True})


def redis_get(request):
    value = connection("hot").get("bench:floor")
    return JsonResponse({"ok": True, "value": value.decode() if value else None})


def stream(request):
    """64 KiB chunks, up to 256 MiB: a client that stops reading leaves the server with data to send."""
    chunk = b"data: " + b"x" * (64 * 1024 - 8) + b"\n\n"
    return StreamingHttpResponse((chunk for _ in range(4096)), content_type="text/event-stream")


urlpatterns = [
    path("bench/floor", floor),
    path("bench/redis-get", redis_get),
    path("bench/stream", stream),
    path("", include("convostore.urls")),
]
