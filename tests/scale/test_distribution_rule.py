"""The rule docs/scaling.md states for distributing Postgres by tenant (Citus), checked on every model.

Every table is classified: *distributed* by ``tenant_id``, *reference* (small, copied to every node) or
*local* (coordinator only). A distributed model has a ``tenant`` foreign key and every unique constraint
includes it. The known gaps are listed here and in docs/scaling.md (what would have to change); a new model
that is not classified, or a distributed model that breaks the rule and is not a listed gap, fails.
"""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.db import models

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"

REFERENCE = {"Tenant", "ApiKey", "CodeTable", "ModelRoute"}
LOCAL = {"AuditLogEntry", "InvalidationOutbox", "LifecycleEvent"}
DISTRIBUTED = {"Conversation", "Item", "Response", "IdempotencyRecord", "Tombstone", "ArchiveSegment", "Summary", "Memory",
               "SemanticNamespace", "TokenUsage"}
# Distributed models that reach their tenant through the conversation: they gain a tenant_id column
# (filled from the conversation) and their unique constraints gain it.
NO_TENANT_COLUMN_YET = {"Item", "ArchiveSegment", "Summary"}
UNIQUE_WITHOUT_TENANT_YET = {"Item", "ArchiveSegment", "Summary", "Memory"}


def _project_models():
    return [m for m in apps.get_models() if m._meta.app_label in ("sessions_app", "archive_app", "cache_app")]


def _uniques(model) -> list[set[str]]:
    found = [set(c.fields) for c in model._meta.constraints if isinstance(c, models.UniqueConstraint)]
    found += [set(group) for group in model._meta.unique_together]
    found += [{f.name} for f in model._meta.fields if f.unique and not f.primary_key]
    return found


def test_every_model_is_classified():
    names = {m.__name__ for m in _project_models()}
    unclassified = names - REFERENCE - LOCAL - DISTRIBUTED
    assert not unclassified, f"classify {sorted(unclassified)} in docs/scaling.md (distributed, reference or local) and here"


def test_distributed_models_carry_the_tenant_and_their_unique_constraints_include_it():
    for model in _project_models():
        name = model.__name__
        if name not in DISTRIBUTED:
            continue
        tenant = model._meta.get_field("tenant") if any(f.name == "tenant" for f in model._meta.fields) else None
        if name not in NO_TENANT_COLUMN_YET:
            assert isinstance(tenant, models.ForeignKey) and tenant.related_model.__name__ == "Tenant", (
                f"{name} is distributed by tenant: give it a tenant foreign key")
        if name not in UNIQUE_WITHOUT_TENANT_YET:
            for fields in _uniques(model):
                assert "tenant" in fields, f"{name}: unique {sorted(fields)} must include tenant to hold on Citus"


def test_the_known_gaps_are_still_gaps_and_the_document_names_them():
    by_name = {m.__name__: m for m in _project_models()}
    for name in NO_TENANT_COLUMN_YET:
        assert not any(f.name == "tenant" for f in by_name[name]._meta.fields), f"{name} has a tenant now: drop it from the gaps"
    text = DOC.read_text()
    for name in REFERENCE | LOCAL | DISTRIBUTED:
        assert by_name[name]._meta.db_table in text, f"docs/scaling.md does not mention {by_name[name]._meta.db_table}"
