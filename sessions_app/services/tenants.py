"""Tenants and API keys: keys are shown once, stored as SHA-256 with a short lookup prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cache_app.api_keys import key_entry_forget
from convostore.errors import NotFound

from ..models import ApiKey, Tenant

KEY_PREFIX_LEN = 11  # "cs_" + 8 hex characters


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class IssuedKey:
    api_key: ApiKey
    raw_key: str


def tenant_defaults() -> dict:
    """New tenants start from the deployment's settings (CONVOSTORE_DEFAULT_WINDOW_SIZE, …)."""
    config = settings.CONVOSTORE
    return {
        "window_size": config["DEFAULT_WINDOW_SIZE"],
        "token_budget": config["DEFAULT_TOKEN_BUDGET"],
        "evict_after_seconds": config["EVICT_AFTER_SECONDS"],
        "semantic_threshold": config["SEMANTIC_THRESHOLD"],
    }


def tenant_create(*, name: str, **settings_values) -> tuple[Tenant, bool]:
    """The tenant named ``name``, created when missing (idempotent)."""
    return Tenant.objects.get_or_create(name=name, defaults={**tenant_defaults(), **settings_values})


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str = "", expires_at=None) -> IssuedKey:
    """Issue a key; the raw value exists only in the returned object."""
    while True:
        raw = f"cs_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
        prefix = raw[:KEY_PREFIX_LEN]
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = ApiKey.objects.create(tenant=tenant, name=name, prefix=prefix, key_hash=hash_key(raw), expires_at=expires_at)
    return IssuedKey(key, raw)


def api_key_revoke(*, prefix: str) -> ApiKey:
    """Revoke the key with this prefix; it stops working at once, in every process."""
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"No API key with prefix {prefix!r}.", param="prefix")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    key_entry_forget(key.key_hash)
    return key


@transaction.atomic
def api_key_rotate(*, prefix: str, grace_seconds: int = 86400) -> tuple[ApiKey, IssuedKey]:
    """Issue a new key for the same tenant; the old one keeps working for ``grace_seconds``, then expires."""
    old = ApiKey.objects.select_for_update().filter(prefix=prefix, revoked_at__isnull=True).first()
    if old is None:
        raise NotFound(f"No active API key with prefix {prefix!r}.", param="prefix")
    issued = api_key_create(tenant=old.tenant, name=old.name)
    expires = timezone.now() + timedelta(seconds=grace_seconds)
    if old.expires_at is None or old.expires_at > expires:
        old.expires_at = expires
        old.save(update_fields=["expires_at"])
    return old, issued


def api_keys_forget(tenant: Tenant) -> None:
    """Drop every cached key entry of ``tenant`` (its settings changed, or it is being deleted)."""
    for key_hash in ApiKey.objects.filter(tenant=tenant).values_list("key_hash", flat=True):
        key_entry_forget(key_hash)
