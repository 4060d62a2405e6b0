"""install_schedule: create the missing periodic tasks of convostore.schedule (never overwrites admin edits)."""

from django.core.management.base import BaseCommand
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from convostore.schedule import SCHEDULE


class Command(BaseCommand):
    help = "Install the beat schedule into django-celery-beat; existing entries (and admin edits) are kept."

    def handle(self, *args, **options):
        created = 0
        for name, task, seconds in SCHEDULE:
            interval, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
            _, was_created = PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": interval})
            created += was_created
        self.stdout.write(f"{created} periodic task(s) installed, {len(SCHEDULE) - created} already present")
