"""purge_expired: delete conversations past their ttl_seconds or their tenant's retention (the purge sweep's twin)."""

from django.core.management.base import BaseCommand

from sessions_app import lifecycle


class Command(BaseCommand):
    help = "Delete expired conversations everywhere (rows, forks, segments, Redis), as the hourly sweep does."

    def handle(self, *args, **options):
        self.stdout.write(f"{lifecycle.purge_expired()} conversations purged")
