"""Bearer API-key authentication: SHA-256 lookup, cached in the hot Redis layer so the hot path skips Postgres.

A failed authentication writes nothing, to Redis or Postgres (but for the reads ahead of the first failing request of
a key this process had seen valid — docs/reliability.md, known limits): a header that is not ``Bearer <key>`` with a
key of the issued format is refused before any lookup; a key found unknown (or revoked, or expired) is
remembered in this process for CONVOSTORE["AUTH_NEGATIVE_CACHE_SECONDS"] and answered from there; and
past CONVOSTORE["AUTH_FAILURES_PER_MINUTE"] failures a client address gets 429 without any lookup
(sessions_app.throttling.AuthFailures). The client address is REMOTE_ADDR, or, when REST_FRAMEWORK["NUM_PROXIES"]
is set (DJANGO_NUM_PROXIES), the one DRF's throttles take from X-Forwarded-For (``client_address``).
"""

from __future__ import annotations

import re
import threading
import time

from cachetools import TTLCache
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from cache_app import api_keys
from convostore import observability

from .models import ApiKey, Tenant
from .services.tenants import hash_key
from .throttling import auth_failures

LAST_USED_EVERY = 60
_TENANT_FIELDS = [f.attname for f in Tenant._meta.concrete_fields]
_TENANT_FIELD_SET = frozenset(_TENANT_FIELDS)
# A bearer token as RFC 6750 §2.1 spells it (b64token), 8 to 512 characters: what services.tenants.api_key_create
# issues ("cs_" + 8 hex + "_" + token_urlsafe(32)) and keys stored by other means alike. Anything else cannot be a
# key, and is refused without hashing or looking it up.
KEY_FORMAT = re.compile(r"[A-Za-z0-9._~+/-]{8,512}=*")
NEGATIVE_CACHE_KEYS = 10_000  # unknown key hashes remembered per process (least recently used dropped first)


class ApiPrincipal:
    """What request.user holds for an API call: the key and its tenant."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, tenant: Tenant, key_id: int):
        self.tenant = tenant
        self.key_id = key_id
        self.pk = key_id
        self.prefetched: dict = {}
        self.rate_count: int | None = None

    def __str__(self) -> str:
        return f"api-key:{self.key_id}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        """(ApiPrincipal, None); None without an Authorization header; 401 for a wrong key, 429 for an address
        over CONVOSTORE["AUTH_FAILURES_PER_MINUTE"] failures (a key this process has seen valid still passes)."""
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # anonymous: IsAuthenticated answers 401 where a key is required
        address = client_address(request)
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        well_formed = scheme.lower() == "bearer" and KEY_FORMAT.fullmatch(raw) is not None
        key_hash = hash_key(raw) if well_formed else None
        if key_hash not in _TENANT_OF_KEY:
            auth_failures.check(address)
        principal = authenticate_hash(key_hash, also=self.prefetch_keys(request)) if well_formed else None
        if principal is None:
            auth_failures.add(address)
            if scheme.lower() != "bearer" or not raw:
                raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <key>'.")
            raise exceptions.AuthenticationFailed("Incorrect, revoked or expired API key.")
        observability.bind(tenant_id=principal.tenant.pk)
        return principal, None

    def prefetch_keys(self, request):
        """The view's ``prefetch(request, tenant_id) -> [redis_client.Query]``: tenant-scoped reads that ride
        the key's round trip of a GET or HEAD once the key's tenant is known in this process (None: the view has
        none, or the request is not a read). The edge (convostore.edge) has refused every malformed id before
        authentication runs, so a prefetch reads only what its view will read."""
        view = (getattr(request, "parser_context", None) or {}).get("view")
        prefetch = getattr(view, "prefetch", None)
        if prefetch is None or request.method not in ("GET", "HEAD"):  # reads ride along; a write reads afterwards
            return None
        return lambda tenant_id: prefetch(request, tenant_id)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def client_address(request) -> str:
    """The address failed authentications are counted against: REMOTE_ADDR ("-" when absent), unless
    REST_FRAMEWORK["NUM_PROXIES"] is set; then DRF's throttle identity (BaseThrottle.get_ident), the address
    that many proxies back in X-Forwarded-For (REMOTE_ADDR without the header, or with NUM_PROXIES 0).
    Unset, X-Forwarded-For is ignored: a client could write any address there."""
    if api_settings.NUM_PROXIES is None:
        return request.META.get("REMOTE_ADDR") or "-"
    return _IDENT.get_ident(request) or "-"


_IDENT = BaseThrottle()
# A key never changes tenant, so its tenant id can be remembered in-process; this lets a request
# fetch tenant-scoped Redis keys in the same round trip as the (authoritative) cached key entry.
_TENANT_OF_KEY: dict[str, int] = {}


class NegativeCache:
    """Hashes of keys found unknown, revoked or expired, each remembered for CONVOSTORE["AUTH_NEGATIVE_CACHE_SECONDS"].

    In-process (a failed authentication may write nothing to Redis), bounded (a flood of distinct junk keys
    evicts the least recently used, never grows memory) and short-lived: a key that becomes valid after
    being remembered (created, or its expiry extended) works at the latest that many seconds later in
    every process. A cachetools TTLCache: an LRU of fixed size whose entries also expire.
    """

    def __init__(self, size: int = NEGATIVE_CACHE_KEYS):
        self.size = size
        self._lock = threading.Lock()
        self._cache: TTLCache | None = None

    def _current(self) -> TTLCache:
        ttl = settings.CONVOSTORE.get("AUTH_NEGATIVE_CACHE_SECONDS", 10)
        if self._cache is None or self._cache.ttl != ttl:  # a changed setting (tests) starts afresh
            self._cache = TTLCache(maxsize=self.size, ttl=ttl, timer=lambda: clock())
        return self._cache

    def __contains__(self, key_hash: str) -> bool:
        with self._lock:
            return key_hash in self._current()

    def add(self, key_hash: str) -> None:
        with self._lock:
            cache = self._current()
            if cache.ttl > 0:
                cache[key_hash] = True

    def clear(self) -> None:
        with self._lock:
            self._cache = None


clock = time.monotonic  # the negative cache's clock (tests move it)
unknown_keys = NegativeCache()


def authenticate_hash(key_hash: str, *, also=None) -> ApiPrincipal | None:
    """The principal for a key, by its hash (services.tenants.hash_key of the raw key), or None.

    ``also(tenant_id) -> [redis_client.Query]`` are read in the same round trip when this process already
    knows the key's tenant; their replies land on ``principal.prefetched`` (query name → replies) only when
    the key entry read in that round trip names the same tenant, so a read of another tenant's keys is
    never used. A key found wanting is remembered in ``unknown_keys`` and answered from there, with no
    Redis or Postgres work, until that entry expires."""
    if key_hash in unknown_keys:
        return None
    tenant_id = _TENANT_OF_KEY.get(key_hash)
    queries = also(tenant_id) if (also is not None and tenant_id is not None) else []
    cached, replies, rate_count = api_keys.key_entry_read(key_hash, queries)
    if cached is not None and cached["tenant"].keys() != _TENANT_FIELD_SET:
        cached = None  # written before a Tenant column was added, or damaged: a miss, Postgres answers
    if cached is not None:
        _TENANT_OF_KEY[key_hash] = cached["tenant"]["id"]
    if cached is not None and cached["tenant"]["id"] == tenant_id and replies:
        prefetched = {query.name: reply for query, reply in zip(queries, replies) if reply is not None}
    else:
        prefetched = {}
    principal = _principal(key_hash, cached, counted=rate_count is not None)
    if principal is None:
        unknown_keys.add(key_hash)
        _TENANT_OF_KEY.pop(key_hash, None)  # no more prefetches for it: a failed authentication writes nothing
        return None
    principal.prefetched = prefetched
    if principal.rate_count is None:
        principal.rate_count = rate_count
    return principal


def _principal(key_hash: str, cached, *, counted: bool) -> ApiPrincipal | None:
    """From the cached entry, else from Postgres (then cached, and the request counted unless it was already)."""
    if cached is not None:
        fields = cached["tenant"]
        tenant = Tenant.from_db("default", _TENANT_FIELDS, [fields[name] for name in _TENANT_FIELDS])  # positional: ~3x faster
        if cached.get("expires_at") is None or cached["expires_at"] > time.time():
            return ApiPrincipal(tenant, cached["key_id"])
        return None
    key = ApiKey.objects.select_related("tenant").filter(key_hash=key_hash).first()
    now = timezone.now()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    principal = ApiPrincipal(key.tenant, key.pk)
    principal.rate_count = _remember(key_hash, key, count=not counted)
    _TENANT_OF_KEY[key_hash] = key.tenant_id
    return principal


def _remember(key_hash: str, key: ApiKey, *, count: bool) -> int | None:
    tenant = {name: getattr(key.tenant, name) for name in _TENANT_FIELDS}
    tenant["created_at"] = None
    return api_keys.key_entry_store(key_hash, {
        "key_id": key.pk,
        "tenant": tenant,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
    }, count=count)
