"""outbox_sweep: apply the Redis invalidation outbox now (the beat task's twin)."""

from django.core.management.base import BaseCommand

from sessions_app.services.outbox import outbox_apply


class Command(BaseCommand):
    help = "Drop the Redis copies recorded in the invalidation outbox."

    def handle(self, *args, **options):
        self.stdout.write(f"{outbox_apply()} outbox entries applied")
