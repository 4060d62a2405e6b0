"""export_conversations [--tenant T] [--since DATE] [--from-replica] > file.jsonl"""

from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from convostore.db_router import replica_probe, replica_reads
from convostore.progress import command_progress, counted
from sessions_app.models import Tenant
from sessions_app.services.portability import conversations_export_lines, conversations_for_export


class Command(BaseCommand):
    help = "Write conversations as JSON lines (parents before forks) to stdout; progress goes to stderr."

    def add_arguments(self, parser):
        parser.add_argument("--tenant")
        parser.add_argument("--since", help="Only conversations active since this date or datetime (ISO 8601).")
        parser.add_argument("--from-replica", action="store_true",
                            help="Read the Postgres replica (may lag: a data-subject export should read the primary). "
                                 "Falls back to the primary when the replica does not answer at the start.")

    def handle(self, *args, from_replica=False, **options):
        if from_replica and replica_probe("export_conversations"):
            with replica_reads():
                return self.export(**options)
        return self.export(**options)

    def export(self, *, tenant=None, since=None, **options):
        found = None
        if tenant:
            found = Tenant.objects.filter(name=tenant).first()
            if found is None:
                raise CommandError(f"no tenant named {tenant!r}")
        moment = None
        if since:
            try:
                moment = parse_datetime(since) or (parse_date(since) and parse_datetime(since + "T00:00:00"))
            except ValueError:
                moment = None
            if moment is None:
                raise CommandError(f"--since {since!r} is not an ISO date or datetime")
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, dt_timezone.utc)
        queryset = conversations_for_export(tenant=found, since=moment)
        total = queryset.count()
        lines = conversations_export_lines(queryset.iterator(chunk_size=200))
        with command_progress(self, "export", total=total, **options) as progress:
            for line in progress.iterate(lines):
                self.stdout.write(line)
        if options["verbosity"]:  # stdout is the export itself: the summary goes to stderr
            self.stderr.write(f"{counted(progress.done, 'conversation')} exported")
