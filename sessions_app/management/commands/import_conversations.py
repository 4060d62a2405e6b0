"""import_conversations file.jsonl — idempotent: conversations already present are skipped."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app.services.portability import conversation_import


class Command(BaseCommand):
    help = "Recreate conversations from an export_conversations file (streamed line by line)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="JSON lines file, or - for stdin")

    def handle(self, *args, path, **options):
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
        try:
            with command_progress(self, "import", **options) as progress:
                created, skipped = self._import(stream, progress)
        finally:
            if stream is not sys.stdin:
                stream.close()
        self.stdout.write(f"{counted(created, 'conversation')} imported, {skipped} already present")

    def _import(self, stream, progress) -> tuple[int, int]:
        """(conversations created, conversations already present) from a JSON-lines stream."""
        created = skipped = 0
        for number, line in enumerate(progress.iterate(stream), 1):
            if not line.strip():
                continue
            try:
                if conversation_import(record=json.loads(line)):
                    created += 1
                else:
                    skipped += 1
            except (ValueError, KeyError) as exc:
                raise CommandError(f"line {number}: {exc}") from exc
        return created, skipped
