"""The app's URLconf plus the floors the API is compared with: plain Django views, no DRF, no auth."""

from django.http import JsonResponse
from django.urls import include, path

from cache_app.redis_client import connection


def floor(request):
    return JsonResponse({"ok": True})


def redis_get(request):
    value = connection("hot").get("bench:floor")
    return JsonResponse({"ok": True, "value": value.decode() if value else None})


urlpatterns = [
    path("bench/floor", floor),
    path("bench/redis-get", redis_get),
    path("", include("convostore.urls")),
]
