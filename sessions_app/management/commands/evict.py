"""evict: idle conversations (and, with --budget, the LRU ones over the hot budget) leave Redis now."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from sessions_app.lifecycle import selectors
from sessions_app import lifecycle


class Command(BaseCommand):
    help = "Evict conversations idle longer than their tenant's evict_after_seconds (or --idle-seconds) from Redis."

    def add_arguments(self, parser):
        parser.add_argument("--idle-seconds", type=int, default=None, help="Idle time that counts (default: each tenant's).")
        parser.add_argument("--tenant", default=None, help="Only this tenant (name or id).")
        parser.add_argument("--budget", action="store_true", help="Then evict LRU-first while over the hot-tier budget.")
        parser.add_argument("--max-bytes", type=int, default=None, help="Hot-tier budget for --budget (default HOT_MAX_BYTES).")

    def handle(self, *args, idle_seconds=None, tenant=None, budget=False, max_bytes=None, **options):
        if idle_seconds is not None and idle_seconds < 0:
            raise CommandError("--idle-seconds must be zero or more.")
        found = None
        if tenant is not None:
            found = selectors.tenant_find(tenant)
            if found is None:
                raise CommandError(f"No tenant {tenant!r}.")
        with command_progress(self, "evict", **options) as progress:
            evicted = lifecycle.evict_idle(idle_seconds=idle_seconds, tenant=found, progress=progress.update)
        if not (budget or max_bytes is not None):
            self.stdout.write(f"{counted(evicted, 'conversation')} evicted")
            return
        over = lifecycle.enforce_hot_budget(max_bytes=max_bytes)
        usage = lifecycle.hot_usage()
        self.stdout.write(f"{counted(evicted + over, 'conversation')} evicted ({evicted} idle, {over} over the hot budget); "
                          f"hot tier now ~{counted(usage['bytes'], 'byte')} in {counted(usage['conversations'], 'conversation')}")
