"""train_code_table: train a tenant's token-Huffman code table from its recent items."""

from django.core.management.base import BaseCommand, CommandError

from sessions_app.lifecycle import selectors
from sessions_app import lifecycle
from convostore.errors import ApplicationError


class Command(BaseCommand):
    help = "Train and store a shared code table for a tenant; its new segments use it (token Huffman)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant name or id.")

    def handle(self, *args, tenant, **options):
        found = selectors.tenant_find(tenant)
        if found is None:
            raise CommandError(f"No tenant {tenant!r}.")
        try:
            table = lifecycle.code_table_train(tenant=found)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"code table {table.table_id} ({table.encoding}) trained on {table.sample_bytes} bytes for {found.name}")
