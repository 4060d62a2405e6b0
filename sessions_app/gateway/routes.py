"""Model routes: which upstream serves a model name for a tenant (a ModelRoute, else the environment's default route)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.checks import Error, register
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from convostore.errors import NotFound
from convostore.openai_client import openai_client

from ..models import ModelRoute, Tenant
from convostore.upstream_hosts import RouteNotAllowed, key_env_check, split_url

if TYPE_CHECKING:  # a type only: importing the SDK costs every process start seconds (convostore.openai_client)
    import openai

APIS = ("responses", "chat_completions")


@dataclass(frozen=True)
class Route:
    """Where one request goes. ``model`` is the public name the client sent; ``upstream_model`` is sent upstream."""

    model: str
    base_url: str
    api: str  # "responses" | "chat_completions"
    upstream_model: str
    api_key_env: str  # name of the environment variable holding the key; "" = no key
    context_window: int  # tokens
    timeout_s: float
    connect_timeout_s: float
    max_retries: int
    source: str  # "tenant" | "default"

    def client(self) -> openai.OpenAI:
        """The shared SDK client of this route (the key is read from the environment, never from the database)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return openai_client(
            base_url=self.base_url, api_key=key, timeout_s=self.timeout_s, connect_timeout_s=self.connect_timeout_s,
            max_retries=self.max_retries,
        )


def default_route(model: str) -> Route | None:
    """The environment's route for ``model`` (the name passes through unchanged), or None when none is configured."""
    config = settings.CONVOSTORE_UPSTREAM
    if not config.get("URL"):
        return None
    return Route(
        model=model, base_url=config["URL"].rstrip("/"), api=config.get("API") or "chat_completions", upstream_model=model,
        api_key_env=config.get("API_KEY_ENV") or "", context_window=int(config.get("CONTEXT_WINDOW") or 32768),
        timeout_s=float(config.get("TIMEOUT_SECONDS", 300.0)), connect_timeout_s=float(config.get("CONNECT_TIMEOUT_SECONDS", 5.0)),
        max_retries=int(config.get("MAX_RETRIES", 2)), source="default",
    )


def route_from_row(row: ModelRoute) -> Route:
    return Route(
        model=row.model, base_url=row.base_url.rstrip("/"), api=row.api, upstream_model=row.upstream_model or row.model,
        api_key_env=row.api_key_env, context_window=row.context_window, timeout_s=row.timeout_seconds,
        connect_timeout_s=row.connect_timeout_seconds, max_retries=row.max_retries, source="tenant",
    )


ROUTE_CACHE_SECONDS = 10  # a route saved in the admin reaches every process within this long
_tenant_routes: dict[int, tuple[float, dict]] = {}


def tenant_routes(tenant: Tenant, *, now=time.monotonic) -> dict[str, Route]:
    """The tenant's routes by model name: one query per tenant per process every ROUTE_CACHE_SECONDS."""
    cached = _tenant_routes.get(tenant.pk)
    if cached is not None and cached[0] > now():
        return cached[1]
    routes = {row.model: route_from_row(row) for row in ModelRoute.objects.filter(tenant=tenant)}
    _tenant_routes[tenant.pk] = (now() + ROUTE_CACHE_SECONDS, routes)
    return routes


@receiver([post_save, post_delete], sender=ModelRoute)
def routes_forget(**kwargs) -> None:
    """Drop this process's route cache (a route was saved or deleted here; other processes within ROUTE_CACHE_SECONDS)."""
    _tenant_routes.clear()


def route_for(*, tenant: Tenant, model: str) -> Route:
    """The tenant's route for ``model``, else the default route; 404 ``model_not_found`` only when neither exists."""
    route = tenant_routes(tenant).get(model)
    if route is not None:
        return route
    route = default_route(model)
    if route is None:
        raise NotFound(f"The model {model!r} does not exist or you do not have access to it.", param="model", code="model_not_found")
    return route


@register()
def check_default_route(app_configs=None, **kwargs):
    """manage.py check (and every start): the environment's default route is well-formed."""
    config = settings.CONVOSTORE_UPSTREAM
    errors = []
    if config.get("API") not in APIS:
        errors.append(Error(f"CONVOSTORE_UPSTREAM_API must be one of {APIS}, not {config.get('API')!r}.", id="convostore.E101"))
    try:
        key_env_check(config.get("API_KEY_ENV") or "")
        if config.get("URL"):
            split_url(config["URL"])
    except RouteNotAllowed as exc:
        errors.append(Error(str(exc), id="convostore.E102"))
    return errors
