"""create_model_route --tenant NAME --model NAME --base-url URL [--api …] [--key-env CONVOSTORE_UPSTREAM_KEY_…]."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import ModelRoute, Tenant


class Command(BaseCommand):
    help = (
        "Route a tenant's model name to an upstream model server (gateway mode). The URL's host must be in "
        "CONVOSTORE_UPSTREAM_ALLOWED_HOSTS; the key is named by an environment variable, never given here. "
        "An existing route for the same tenant and model is updated."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--model", required=True, help="public model name clients send")
        parser.add_argument("--base-url", required=True, help="OpenAI-compatible base URL ending in /v1")
        parser.add_argument("--api", choices=[c.value for c in ModelRoute.Api], default=ModelRoute.Api.CHAT_COMPLETIONS)
        parser.add_argument("--upstream-model", default="", help="model name sent upstream (default: the public name)")
        parser.add_argument("--key-env", default="", help="environment variable holding the key (CONVOSTORE_UPSTREAM_KEY_…)")
        parser.add_argument("--context-window", type=int, default=32768, help="tokens")
        parser.add_argument("--timeout", type=float, default=300.0, help="read timeout in seconds")
        parser.add_argument("--max-retries", type=int, default=2)

    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(name=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant named {options['tenant']!r}; create it with create_tenant")
        route = ModelRoute.objects.filter(tenant=tenant, model=options["model"]).first() or ModelRoute(tenant=tenant, model=options["model"])
        route.base_url = options["base_url"]
        route.api = options["api"]
        route.upstream_model = options["upstream_model"]
        route.api_key_env = options["key_env"]
        route.context_window = options["context_window"]
        route.timeout_seconds = options["timeout"]
        route.max_retries = options["max_retries"]
        try:
            route.full_clean(validate_unique=False)
            route.save()
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())) from None
        self.stdout.write(f"route {route.model} → {route.base_url} ({route.api}) for tenant {tenant.name}")
