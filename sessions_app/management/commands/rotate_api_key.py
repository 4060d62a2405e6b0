"""rotate_api_key PREFIX [--grace-hours H]: a new key now, the old one stops after the grace period."""

from django.core.management.base import BaseCommand, CommandError

from convostore.errors import NotFound
from sessions_app.services import api_key_rotate


class Command(BaseCommand):
    help = "Issue a replacement key for the key with this prefix; the old key expires after the grace period. The new raw key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("prefix")
        parser.add_argument("--grace-hours", type=float, default=24.0)

    def handle(self, *args, prefix, grace_hours, **options):
        try:
            old, issued = api_key_rotate(prefix=prefix, grace_seconds=int(grace_hours * 3600))
        except NotFound as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"key {old.prefix} expires at {old.expires_at.isoformat()}; new key {issued.api_key.prefix}:")
        self.stdout.write(issued.raw_key)
