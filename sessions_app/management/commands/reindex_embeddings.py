"""Re-embed every memory and summary with the current embedder (after a model change), with a progress bar."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from archive_app.models import Memory
from archive_app.vector_columns import column_dimensions, vector_columns_resize
from convostore.progress import command_progress, counted
from sessions_app import lifecycle
from sessions_app.models import Tenant


class Command(BaseCommand):
    help = "Re-embed all memories with the configured embedder (CONVOSTORE_EMBEDDER / CONVOSTORE_EMBEDDING_MODEL)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Tenant name: only its memories.")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--resize",
            action="store_true",
            help="First change the vector columns to CONVOSTORE_EMBEDDING_DIM (drops every stored vector; all tenants).",
        )

    def handle(self, *args, tenant=None, batch_size=256, resize=False, **options):
        scope = None
        if tenant:
            scope = Tenant.objects.filter(name=tenant).first()
            if scope is None:
                raise CommandError(f"no tenant {tenant!r}")
        wanted = int(settings.CONVOSTORE["EMBEDDING_DIM"])
        if resize:
            with transaction.atomic():
                done = vector_columns_resize(connection, dimensions=wanted)
            self.stdout.write(f"vector columns {done['from']} -> {wanted}; {done['memories_marked']} memories to re-embed")
        elif any(dim != wanted for dim in column_dimensions(connection).values()):
            raise CommandError(f"the vector columns hold {column_dimensions(connection)} dimensions, the settings {wanted}: run with --resize")
        total = Memory.objects.filter(tenant=scope).count() if scope else Memory.objects.count()
        with command_progress(self, "reindex", total=total, noun="memory", **options) as progress:
            try:
                done = lifecycle.memories_reindex(tenant=scope, batch_size=batch_size, progress=progress.update)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"{counted(done, 'memory')} re-embedded")
