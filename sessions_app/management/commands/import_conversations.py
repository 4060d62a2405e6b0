"""import_conversations file.jsonl — idempotent: conversations already present are skipped."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from sessions_app.services.portability import conversation_import


class Command(BaseCommand):
    help = "Recreate conversations from an export_conversations file (streamed line by line)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON lines file, or - for stdin")

    def handle(self, *args, path, **options):
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
        created = skipped = 0
        try:
            for number, line in enumerate(tqdm(stream, unit="conv", file=sys.stderr, disable=options["verbosity"] == 0), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if conversation_import(record=record):
                        created += 1
                    else:
                        skipped += 1
                except (ValueError, KeyError) as exc:
                    raise CommandError(f"line {number}: {exc}") from exc
        finally:
            if stream is not sys.stdin:
                stream.close()
        self.stdout.write(f"{created} conversation(s) imported, {skipped} already present")
