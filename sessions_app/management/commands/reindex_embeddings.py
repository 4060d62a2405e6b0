"""Re-embed every memory and summary with the current embedder (after a model change), with a progress bar."""

from django.core.management.base import BaseCommand, CommandError

from convostore.progress import command_progress, counted
from archive_app.models import Memory
from sessions_app import lifecycle
from sessions_app.models import Tenant


class Command(BaseCommand):
    help = "Re-embed all memories with the configured embedder (CONVOSTORE_EMBEDDER / CONVOSTORE_EMBEDDING_MODEL)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant name: only its memories.")
        parser.add_argument("--batch-size", type=int, default=256)

    def handle(self, *args, tenant=None, batch_size=256, **options):
        scope = None
        if tenant:
            scope = Tenant.objects.filter(name=tenant).first()
            if scope is None:
                raise CommandError(f"no tenant {tenant!r}")
        total = Memory.objects.filter(tenant=scope).count() if scope else Memory.objects.count()
        with command_progress(self, "reindex", total=total, noun="memory", **options) as progress:
            try:
                done = lifecycle.memories_reindex(tenant=scope, batch_size=batch_size, progress=progress.update)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"{counted(done, 'memory')} re-embedded")
