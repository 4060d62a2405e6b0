"""calibrate_semantic_cache: pick and store a namespace's semantic-cache threshold from labelled pairs."""

import json

from django.core.management.base import BaseCommand, CommandError

from convostore.errors import ValidationFailed
from sessions_app.models import Tenant
from sessions_app.services.semantic_namespaces import semantic_namespace_calibrate


class Command(BaseCommand):
    help = "Choose the threshold with the most true hits at a bounded false-hit rate on your own labelled pairs; store it for the namespace."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant name.")
        parser.add_argument("--namespace", required=True)
        parser.add_argument("--pairs", required=True, help='JSONL file, one {"a": text, "b": text, "same": bool} a line.')
        parser.add_argument("--max-false-hits", type=float, default=0.01, help="Highest share of same=false pairs allowed to hit (default 0.01).")
        parser.add_argument("--no-guard", action="store_true", help="Calibrate similarity alone (lookups that send guard: false).")

    def handle(self, *args, tenant, namespace, pairs, max_false_hits, no_guard=False, **options):
        owner = Tenant.objects.filter(name=tenant).first()
        if owner is None:
            raise CommandError(f"no tenant {tenant!r}")
        if not 0 <= max_false_hits < 1:
            raise CommandError("--max-false-hits is a share between 0 and 1")
        rows = read_pairs(pairs)
        try:
            row = semantic_namespace_calibrate(tenant=owner, namespace=namespace, pairs=rows, max_false_hit_rate=max_false_hits, guard=not no_guard)
        except ValidationFailed as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{namespace}: threshold {row.threshold} for {row.embedder} "
            f"({row.true_hit_rate:.1%} of {sum(r['same'] for r in rows)} true pairs hit, "
            f"{row.false_hit_rate:.1%} of {sum(not r['same'] for r in rows)} near misses, guard {'on' if row.guard else 'off'})"
        ))  # fmt: skip


def read_pairs(path: str) -> list[dict]:
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise CommandError(f"{path}:{number}: not JSON ({exc})") from exc
                if not (isinstance(row, dict) and isinstance(row.get("a"), str) and isinstance(row.get("b"), str) and isinstance(row.get("same"), bool)):
                    raise CommandError(f'{path}:{number}: expected {{"a": text, "b": text, "same": true|false}}')
                rows.append(row)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    return rows
