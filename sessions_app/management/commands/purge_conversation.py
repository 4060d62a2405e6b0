"""purge_conversation --tenant T ID: the GDPR delete (rows, forks, segments, summaries, memories, caches, Redis)."""

from django.core.management.base import BaseCommand, CommandError

from convostore.errors import NotFound
from convostore.progress import counted
from sessions_app.models import Tenant
from sessions_app.services import conversation_delete


class Command(BaseCommand):
    help = "Delete a conversation and its forks everywhere, as DELETE /v1/sessions/{id} does."

    def add_arguments(self, parser):
        parser.add_argument("conversation_id")
        parser.add_argument("--tenant", required=True)

    def handle(self, *args, conversation_id, tenant, **options):
        found = Tenant.objects.filter(name=tenant).first()
        if found is None:
            raise CommandError(f"no tenant named {tenant!r}")
        try:
            removed = conversation_delete(tenant=found, conversation_id=conversation_id)
        except NotFound as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{counted(len(removed), 'conversation')} purged (with its forks): {', '.join(removed)}")
