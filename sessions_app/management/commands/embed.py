"""Embed conversations now (the twin of the embed tasks): one, one tenant's, or every conversation with missing embeddings."""

import threading

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app import lifecycle
from sessions_app.lifecycle import drain, selectors


class Command(BaseCommand):
    help = "Embed turns and summaries that have no Memory row yet."

    def add_arguments(self, parser):
        parser.add_argument("--conversation", help="Conversation id (with --tenant when ids repeat across tenants).")
        parser.add_argument("--tenant", help="Tenant name: only its conversations.")
        parser.add_argument("--limit", type=int, default=10_000, help="Most conversations to visit without --conversation.")
        parser.add_argument("--follow", action="store_true",
                            help="Drain the embed queue continuously (what each Celery worker's drainer does) until Ctrl-C.")

    def handle(self, *args, conversation=None, tenant=None, limit=10_000, follow=False, **options):
        if follow:
            self.stdout.write("draining the embed queue; Ctrl-C stops")
            try:
                drain.drain(stop=threading.Event(), idle=drain.idle_seconds() or 0.2)
            except KeyboardInterrupt:
                return
        conversations = selectors.conversations_selected(tenant_name=tenant, conversation_id=conversation)
        if conversations is None:
            raise CommandError(f"no conversation {conversation!r}")
        if not conversation:
            conversations = conversations.filter(pk__in=list(lifecycle.embed_candidates(limit)))
        rows = list(conversations)
        written = 0
        with command_progress(self, "embed", total=len(rows), **options) as progress:
            for row in progress.iterate(rows):
                written += lifecycle.conversation_embed(conversation=row)
        self.stdout.write(f"{counted(written, 'memory')} written for {counted(len(rows), 'conversation')}")
