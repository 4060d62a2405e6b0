"""rehydrate: turn a conversation's archive segments back into item rows and rebuild its hot window."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import counted

from sessions_app.lifecycle import selectors
from sessions_app import lifecycle


class Command(BaseCommand):
    help = "Restore a cold conversation's items from its segments into Postgres rows and Redis."

    def add_arguments(self, parser):
        parser.add_argument("conversation", help="Conversation id (or pk).")
        parser.add_argument("--tenant", default=None, help="Tenant (name or id) when the id exists in several tenants.")

    def handle(self, *args, conversation, tenant=None, **options):
        found_tenant = selectors.tenant_find(tenant) if tenant is not None else None
        if tenant is not None and found_tenant is None:
            raise CommandError(f"No tenant {tenant!r}.")
        matches = selectors.conversation_find(conversation, found_tenant)
        if len(matches) != 1:
            raise CommandError(f"No conversation {conversation!r}." if not matches else
                               f"{conversation!r} exists in several tenants; add --tenant.")
        restored = lifecycle.conversation_rehydrate(conversation=matches[0])
        self.stdout.write(f"{counted(restored, 'item')} restored to {matches[0].conversation_id} (tier {matches[0].tier})")
