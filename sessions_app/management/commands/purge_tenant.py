"""purge_tenant NAME [--keep-tenant]: every conversation of a tenant through the GDPR path."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app.models import Tenant
from sessions_app.services.deletion import tenant_purge


class Command(BaseCommand):
    help = "Delete all of a tenant's data (and the tenant with its keys unless --keep-tenant)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--keep-tenant", action="store_true")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args, name, keep_tenant, yes, **options):
        tenant = Tenant.objects.filter(name=name).first()
        if tenant is None:
            raise CommandError(f"no tenant named {name!r}")
        if not yes and input(f"Delete every conversation of tenant {name!r}? Type the name to confirm: ") != name:
            raise CommandError("not confirmed")
        total = tenant.conversations.count()
        with command_progress(self, "purge", total=total, **options) as progress:
            removed = tenant_purge(tenant=tenant, keep_tenant=keep_tenant, progress=progress.update)
        kept = "kept" if keep_tenant else "deleted"
        self.stdout.write(f"{counted(removed, 'conversation')} of tenant {name} purged; tenant {kept}")
