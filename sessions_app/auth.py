"""Bearer API-key authentication: SHA-256 lookup, cached in the hot Redis layer so the hot path skips Postgres."""

from __future__ import annotations

import time

from django.utils import timezone
from drf_spectacular.drainage import set_override
from rest_framework import authentication, exceptions

from cache_app import api_keys, keys
from convostore import observability

from .models import ApiKey, Tenant
from .services.tenants import hash_key

LAST_USED_EVERY = 60
_TENANT_FIELDS = [f.attname for f in Tenant._meta.concrete_fields]


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
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # anonymous: IsAuthenticated answers 401 where a key is required
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <key>'.")
        principal = authenticate_key(raw, also=self.prefetch_keys(request))
        if principal is None:
            raise exceptions.AuthenticationFailed("Incorrect, revoked or expired API key.")
        observability.bind(tenant_id=principal.tenant.pk)
        return principal, None

    def prefetch_keys(self, request):
        """Views may name tenant-scoped Redis keys to read in the authentication round trip."""
        return None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


# A key never changes tenant, so its tenant id can be remembered in-process; this lets a request
# fetch tenant-scoped Redis keys in the same round trip as the (authoritative) cached key entry.
_TENANT_OF_KEY: dict[str, int] = {}


def authenticate_key(raw_key: str, *, also=None) -> ApiPrincipal | None:
    """The principal for a raw key, or None. ``also(tenant_id) -> [redis keys]`` are read in the same
    round trip when the key's tenant is known; their values land on ``principal.prefetched``."""
    key_hash = hash_key(raw_key)
    tenant_id = _TENANT_OF_KEY.get(key_hash)
    extra_keys = also(tenant_id) if (also is not None and tenant_id is not None) else []
    cached, extra_values, rate_count = api_keys.key_entry_read(key_hash, extra_keys)
    if cached is not None and set(cached["tenant"]) != set(_TENANT_FIELDS):
        cached = None  # written before a Tenant column was added, or damaged: a miss, Postgres answers
    if cached is not None:
        _TENANT_OF_KEY[key_hash] = cached["tenant"]["id"]
    if cached is not None and cached["tenant"]["id"] == tenant_id:
        prefetched = dict(zip(extra_keys, extra_values))
    else:
        prefetched = {}
    principal = _principal(key_hash, cached)
    if principal is not None:
        principal.prefetched = prefetched
        principal.rate_count = rate_count
    return principal


def _principal(key_hash: str, cached) -> ApiPrincipal | None:
    if cached is not None:
        tenant = Tenant(**cached["tenant"])
        tenant._state.adding = False
        tenant._state.db = "default"
        if cached.get("expires_at") is None or cached["expires_at"] > time.time():
            return ApiPrincipal(tenant, cached["key_id"])
        return None
    key = ApiKey.objects.select_related("tenant").filter(key_hash=key_hash).first()
    now = timezone.now()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    _remember(key_hash, key)
    _TENANT_OF_KEY[key_hash] = key.tenant_id
    return ApiPrincipal(key.tenant, key.pk)


def _remember(key_hash: str, key: ApiKey) -> None:
    tenant = {name: getattr(key.tenant, name) for name in _TENANT_FIELDS}
    tenant["created_at"] = None
    api_keys.key_entry_store(key_hash, {
        "key_id": key.pk,
        "tenant": tenant,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
    })


class ResolveAuthentication(ApiKeyAuthentication):
    """Reads the response index of ``previous_response_id`` together with the key entry."""

    def prefetch_keys(self, request):
        response_id = request.query_params.get("previous_response_id")
        if not response_id:
            return None
        return lambda tenant_id: [keys.response_index(tenant_id, response_id)]


# Both classes read the same Bearer key: the schema has one security scheme for them, "ApiKey"
# (convostore.schema.ApiKeyScheme), not two components of that name.
for _scheme_class in (ApiKeyAuthentication, ResolveAuthentication):
    set_override(_scheme_class, "suppress_collision_warning", True)
