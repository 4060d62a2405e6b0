"""Gateway mode: model routes (where a model name goes upstream) and token usage per tenant, key and day."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from convostore.upstream_hosts import RouteNotAllowed, key_env_check, url_check

from .tenants import ApiKey, Tenant


class ModelRoute(models.Model):
    """Where a tenant's requests for a model go in gateway mode; made by operators only (admin, command)."""

    class Api(models.TextChoices):
        RESPONSES = "responses", "responses (/v1/responses: vLLM ≥ 0.10, OpenAI)"
        CHAT_COMPLETIONS = "chat_completions", "chat_completions (/v1/chat/completions: llama.cpp, TGI, older vLLM)"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="model_routes")
    model = models.CharField(max_length=200, help_text="The public model name clients send.")
    base_url = models.CharField(
        max_length=500, help_text="OpenAI-compatible base URL ending in /v1; its host must be in CONVOSTORE_UPSTREAM_ALLOWED_HOSTS."
    )
    api = models.CharField(max_length=20, choices=Api.choices, default=Api.CHAT_COMPLETIONS)
    upstream_model = models.CharField(max_length=200, blank=True, help_text="Model name sent upstream; empty = the public name.")
    api_key_env = models.CharField(
        max_length=100, blank=True,
        help_text="Name of the environment variable holding the upstream key (CONVOSTORE_UPSTREAM_KEY_…); "
                  "the key itself is never stored. Empty = no key.",
    )
    context_window = models.PositiveIntegerField(default=32768, validators=[MinValueValidator(256)], help_text="Tokens.")
    timeout_seconds = models.FloatField(default=300.0, validators=[MinValueValidator(0.1)], help_text="Read timeout per upstream call.")
    connect_timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(default=2, help_text="SDK retries on 429, 5xx and connection errors.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "model"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "model"], name="model_route_unique_per_tenant"),
            models.CheckConstraint(condition=Q(api__in=["responses", "chat_completions"]), name="model_route_api_known"),
            models.CheckConstraint(
                condition=Q(api_key_env="") | Q(api_key_env__startswith="CONVOSTORE_UPSTREAM_KEY_"), name="model_route_key_env_prefix"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.base_url} ({self.tenant})"

    def clean(self) -> None:
        try:
            url_check(self.base_url)
        except RouteNotAllowed as exc:
            raise ValidationError({"base_url": str(exc)}) from None
        try:
            key_env_check(self.api_key_env)
        except RouteNotAllowed as exc:
            raise ValidationError({"api_key_env": str(exc)}) from None

    def save(self, *args, **kwargs):
        self.clean()  # also when saved from code: a route never points outside the allow-list
        super().save(*args, **kwargs)


class TokenUsage(models.Model):
    """Upstream tokens per tenant, API key and UTC day (gateway mode), spread over a few counter rows (shards):
    the daily quota and the admin sum them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    day = models.DateField(help_text="UTC calendar day.")
    shard = models.PositiveSmallIntegerField(
        default=0, help_text="Which of the per-worker counter rows this is (so concurrent workers never wait on one row lock)."
    )
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0, help_text="Upstream answers counted.")

    class Meta:
        verbose_name_plural = "token usage"
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "api_key", "shard"], name="token_usage_unique", nulls_distinct=False)
        ]

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
