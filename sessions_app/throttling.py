"""Per-key rate limit: a fixed one-minute window counted in Redis in the authentication round trip."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from cache_app.api_keys import RATE_WINDOW_SECONDS


class ApiKeyRateThrottle(BaseThrottle):
    """429 once a key has made more than CONVOSTORE["RATE_LIMIT_PER_MINUTE"] requests this minute (0 disables).

    The counter is an INCR riding the key-cache pipeline, so throttling costs no extra round trip;
    when Redis is down requests are not counted (availability over limiting).
    """

    def allow_request(self, request, view):
        limit = settings.CONVOSTORE.get("RATE_LIMIT_PER_MINUTE", 0)
        count = getattr(request.user, "rate_count", None)
        return not limit or count is None or count <= limit

    def wait(self):
        return RATE_WINDOW_SECONDS - (time.time() % RATE_WINDOW_SECONDS)
