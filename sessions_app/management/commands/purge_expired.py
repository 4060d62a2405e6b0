"""purge_expired: delete conversations past their ttl_seconds or their tenant's retention (the purge sweep's twin)."""

from django.core.management.base import BaseCommand

from convostore.progress import command_progress, counted
from sessions_app import lifecycle


class Command(BaseCommand):
    help = "Delete expired conversations everywhere (rows, forks, segments, Redis), as the hourly sweep does."

    def handle(self, *args, **options):
        with command_progress(self, "purge", **options) as progress:
            purged = lifecycle.purge_expired(progress=progress.update)
        self.stdout.write(f"{counted(purged, 'conversation')} purged")
