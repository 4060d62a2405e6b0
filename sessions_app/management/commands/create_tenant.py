"""create_tenant NAME: idempotent."""

from django.core.management.base import BaseCommand

from sessions_app.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (does nothing if it exists)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        tenant, created = tenant_create(name=name)
        self.stdout.write(f"{'created' if created else 'exists'} tenant {tenant.name} (id {tenant.pk})")
