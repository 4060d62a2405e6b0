"""revoke_api_key PREFIX."""

from django.core.management.base import BaseCommand, CommandError

from convostore.errors import NotFound
from sessions_app.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke the API key with this prefix (the first 11 characters of the key, as shown in admin)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        try:
            key = api_key_revoke(prefix=prefix)
        except NotFound as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"revoked key {key.prefix} of tenant {key.tenant.name}")
