"""verify_archives: decode every archive segment, check its CRC and seq range, report the damaged ones."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app.lifecycle import selectors
from sessions_app import lifecycle
from sessions_app.models import Conversation


class Command(BaseCommand):
    help = "Decode every archive segment and check its CRC; lists the corrupt ones (--strict: exit non-zero then)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default=None, help="Only this tenant's segments (name or id).")
        parser.add_argument("--strict", action="store_true", help="Exit non-zero when any segment is corrupt (for cron).")

    def handle(self, *args, tenant=None, strict=False, **options):
        conversations = None
        if tenant is not None:
            found = selectors.tenant_find(tenant)
            if found is None:
                raise CommandError(f"No tenant {tenant!r}.")
            conversations = Conversation.objects.filter(tenant=found)
        with command_progress(self, "verify", noun="segment", **options) as progress:
            report = lifecycle.segments_verify(conversations=conversations, progress=progress.iterate)
        for pk in report["corrupt_ids"]:
            self.stdout.write(f"corrupt segment {pk}: {report['errors'][pk]}")
        self.stdout.write(f"{counted(report['checked'], 'segment')} checked: {report['ok']} ok, {report['corrupt']} corrupt "
                          f"({counted(report['items'], 'item')} decoded)")
        if report["corrupt"] and strict:
            raise CommandError(f"{report['corrupt']} corrupt segments: {', '.join(map(str, report['corrupt_ids']))}")
