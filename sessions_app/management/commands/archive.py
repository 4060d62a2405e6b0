"""archive: pack conversations' archivable rows into segments now (the archive sweep's twin)."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app.lifecycle import selectors
from sessions_app import lifecycle

BATCH = 50


class Command(BaseCommand):
    help = "Archive one conversation (--conversation ID) or every conversation with archivable rows (--all)."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--conversation", help="Conversation id (or pk); archives all its rows (tier cold).")
        which.add_argument("--all", action="store_true", help="Every evicted conversation, and hot ones beyond their window.")
        parser.add_argument("--tenant", default=None, help="Tenant (name or id) of --conversation, or the only tenant for --all.")

    def handle(self, *args, conversation=None, all=False, tenant=None, **options):
        found_tenant = None
        if tenant is not None:
            found_tenant = selectors.tenant_find(tenant)
            if found_tenant is None:
                raise CommandError(f"No tenant {tenant!r}.")
        if conversation is not None:
            matches = selectors.conversation_find(conversation, found_tenant)
            if len(matches) != 1:
                raise CommandError(f"No conversation {conversation!r}." if not matches else
                                   f"{conversation!r} exists in several tenants; add --tenant.")
            segment = lifecycle.conversation_archive(conversation=matches[0], keep_window=False)
            self._report(1 if segment else 0, [segment] if segment else [])
            return
        pks = list(selectors.archivable_conversations(tenant=found_tenant).values_list("pk", flat=True))
        archived = 0
        with command_progress(self, "archive", total=len(pks), **options) as progress:
            for start in range(0, len(pks), BATCH):
                archived += lifecycle.conversations_archive(conversation_pks=pks[start : start + BATCH])
                progress.update(len(pks[start : start + BATCH]))
        self._report(archived, [])

    def _report(self, archived, segments):
        """One line: "1 conversation archived (24 items, 3 KB raw → 700 B stored)" or "0 conversations archived"."""
        line = f"{counted(archived, 'conversation')} archived"
        if segments:
            items = sum(s.item_count for s in segments)
            raw, stored = sum(s.raw_bytes for s in segments), sum(s.stored_bytes for s in segments)
            line += f" ({counted(items, 'item')}, {counted(raw, 'byte')} raw -> {counted(stored, 'byte')} stored)"
        self.stdout.write(line)
