"""Rate limits: per key (counted in Redis in the authentication round trip), and failed authentications per
client address (counted in this process only, since a failed authentication may write nothing)."""

from __future__ import annotations

import threading
import time

from cachetools import TTLCache
from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from cache_app.api_keys import RATE_WINDOW_SECONDS

AUTH_FAILURE_ADDRESSES = 10_000  # client addresses remembered per process (least recently failed go first)
clock = time.time  # the failure windows' clock (tests hold it still)


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
        return _window_left()


def _window_left() -> float:
    return RATE_WINDOW_SECONDS - (clock() % RATE_WINDOW_SECONDS)


class AuthFailures:
    """Failed authentications per client address in fixed one-minute windows, held in this process.

    Past CONVOSTORE["AUTH_FAILURES_PER_MINUTE"] failures (0 disables) an address's requests with a key this
    process has not seen valid answer 429 at once, with no Redis or Postgres work. Nothing is written
    anywhere on a failure, so the bound is per worker process: a deployment of W processes lets an
    address make up to W × the limit lookups a minute. At most AUTH_FAILURE_ADDRESSES addresses are
    remembered (a cachetools TTLCache: least recently used dropped first, each window forgotten after two).
    """

    def __init__(self, addresses: int = AUTH_FAILURE_ADDRESSES):
        self._counts: TTLCache = TTLCache(maxsize=addresses, ttl=RATE_WINDOW_SECONDS * 2, timer=lambda: clock())
        self._lock = threading.Lock()

    @staticmethod
    def _slot(address: str) -> tuple[str, int]:
        return address, int(clock() // RATE_WINDOW_SECONDS)

    def check(self, address: str) -> None:
        """Raise Throttled (429, Retry-After) when ``address`` is over its limit this minute."""
        limit = settings.CONVOSTORE.get("AUTH_FAILURES_PER_MINUTE", 0)
        with self._lock:
            failures = self._counts.get(self._slot(address), 0)
        if limit and failures >= limit:
            raise exceptions.Throttled(
                wait=_window_left(), detail="Too many failed authentications from this address; retry later."
            )

    def add(self, address: str) -> None:
        slot = self._slot(address)
        with self._lock:
            self._counts[slot] = self._counts.get(slot, 0) + 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


auth_failures = AuthFailures()
