"""Summarise conversations now (the twin of the summarise tasks): one, one tenant's, or every candidate."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

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
        made = 0
        for row in tqdm(list(conversations), desc="summarise", unit="conv", disable=options.get("verbosity", 1) < 1):
            if lifecycle.summary_refresh(conversation=row, force=force) is not None:
                made += 1
        self.stdout.write(self.style.SUCCESS(f"{made} summaries written or current"))
