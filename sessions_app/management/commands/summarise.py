"""Summarise conversations now (the twin of the summarise tasks): one, one tenant's, or every candidate."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app import lifecycle
from sessions_app.lifecycle import selectors


class Command(BaseCommand):
    help = "Refresh incremental summaries of turns that left the verbatim window."

    def add_arguments(self, parser):
        parser.add_argument("--conversation", help="Conversation id (with --tenant when ids repeat across tenants).")
        parser.add_argument("--tenant", help="Tenant name: only its conversations.")
        parser.add_argument("--force", action="store_true", help="Summarise even below the tenant's threshold (archive time).")
        parser.add_argument("--limit", type=int, default=10_000, help="Most conversations to visit without --conversation.")

    def handle(self, *args, conversation=None, tenant=None, force=False, limit=10_000, **options):
        conversations = selectors.conversations_selected(tenant_name=tenant, conversation_id=conversation)
        if conversations is None:
            raise CommandError(f"no conversation {conversation!r}")
        if not conversation and force:
            conversations = conversations.order_by("-last_active_at")[:limit]
        elif not conversation:
            conversations = conversations.filter(pk__in=list(lifecycle.summary_candidates(limit)))
        rows = list(conversations)
        outcomes = {"written": 0, "current": 0, "not_due": 0, "failed": 0}
        with command_progress(self, "summarise", total=len(rows), **options) as progress:
            for row in progress.iterate(rows):
                outcomes[lifecycle.summary_refresh_outcome(conversation=row, force=force)[0]] += 1
        line = f"{counted(outcomes['written'], 'summary')} written, {outcomes['current']} already current"
        if outcomes["not_due"]:
            line += f", {outcomes['not_due']} not due (too little left the verbatim window)"
        if outcomes["failed"]:
            line += f", {outcomes['failed']} failed (the summariser's errors are in the log)"
        self.stdout.write(line)
