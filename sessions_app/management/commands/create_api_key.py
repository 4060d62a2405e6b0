"""create_api_key --tenant NAME: the raw key is the last line printed, shown once."""

from django.core.management.base import BaseCommand, CommandError

from sessions_app.models import Tenant
from sessions_app.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The raw key is printed once, as the last line; only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args, tenant, name, **options):
        found = Tenant.objects.filter(name=tenant).first()
        if found is None:
            raise CommandError(f"no tenant named {tenant!r}; create it with create_tenant")
        issued = api_key_create(tenant=found, name=name)
        self.stdout.write(f"issued key {issued.api_key.prefix} for tenant {found.name}; store it now, it is not shown again:")
        self.stdout.write(issued.raw_key)
