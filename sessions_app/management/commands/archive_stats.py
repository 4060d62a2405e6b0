"""archive_stats: segments, items, raw vs stored bytes and the ratio, per codec."""

import json

from django.core.management.base import BaseCommand

from convostore.db_router import from_replica
from sessions_app import lifecycle


class Command(BaseCommand):
    help = "Print archive statistics per codec (ratio = stored / raw bytes); reads the replica when one is configured."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args, **options):
        rows = from_replica(lifecycle.archive_stats, where="archive_stats")
        if options.get("json"):
            self.stdout.write(json.dumps(rows))
            return
        self.stdout.write(f"{'codec':<14} {'segments':>9} {'items':>9} {'raw bytes':>12} {'stored bytes':>13} {'ratio':>7}")
        for row in rows:
            self.stdout.write(f"{row['codec_name']:<14} {row['segments']:>9} {row['items']:>9} {row['raw_bytes']:>12} "
                              f"{row['stored_bytes']:>13} {row['ratio']:>7.3f}")
        if not rows:
            self.stdout.write("no segments yet")
