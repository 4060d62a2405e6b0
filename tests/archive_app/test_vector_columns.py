"""The vector columns follow CONVOSTORE["EMBEDDING_DIM"]: resizing keeps excerpts, never mixes models, reindex re-embeds."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from archive_app.embedders import HashingEmbedder
from archive_app.models import Memory, Summary
from archive_app.selectors import recall
from archive_app.vector_columns import HNSW_INDEX, MEMORY_TABLE, SUMMARY_TABLE, column_dimensions, vector_columns_resize

from .test_memory_tasks import chat, small_window  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def eight_dimensions(settings, monkeypatch):
    """Call it to become a process started with CONVOSTORE_EMBEDDING_DIM=8 and the hashing embedder."""

    def switch():
        settings.CONVOSTORE = {**settings.CONVOSTORE, "EMBEDDING_DIM": 8, "EMBEDDER": "archive_app.embedders.HashingEmbedder"}
        for model in (Memory, Summary):  # fields read the setting when models are imported
            monkeypatch.setattr(model._meta.get_field("embedding"), "dimensions", 8)

    return switch


def hnsw_definition() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [HNSW_INDEX])
        row = cursor.fetchone()
    return row[0] if row else ""


def test_the_columns_have_the_configured_dimension(settings):
    wanted = settings.CONVOSTORE["EMBEDDING_DIM"]
    assert column_dimensions(connection) == {MEMORY_TABLE: wanted, SUMMARY_TABLE: wanted}
    assert "vector_cosine_ops" in hnsw_definition()
    assert vector_columns_resize(connection, dimensions=wanted)["memories_marked"] == 0  # nothing to do


def test_a_resize_keeps_excerpts_hides_old_vectors_and_reindex_brings_them_back(tenant, small_window, eight_dimensions):  # noqa: F811
    conversation = chat(tenant, "resize", 12)
    call_command("summarise", verbosity=0)
    call_command("embed", verbosity=0)
    rows = Memory.objects.filter(conversation=conversation).count()
    assert rows == 13

    done = vector_columns_resize(connection, dimensions=8)
    assert done["memories_marked"] == rows and column_dimensions(connection) == {MEMORY_TABLE: 8, SUMMARY_TABLE: 8}
    assert "hnsw" in hnsw_definition() and "vector_cosine_ops" in hnsw_definition()  # rebuilt
    assert all(label.startswith("stale:local:") for label in Memory.objects.values_list("embedder", flat=True))
    assert not Summary.objects.exclude(embedding=None).exists()

    eight_dimensions()
    # until reindexed, recall with the new model finds nothing rather than comparing two models' vectors
    assert recall(tenant=tenant, conversation=conversation, query="replication lag", k=3, scope="tenant", embedder=HashingEmbedder()) == []
    call_command("reindex_embeddings", verbosity=0)
    assert set(Memory.objects.values_list("embedder", flat=True)) == {"hashing:hashing-v1"}
    found = recall(tenant=tenant, conversation=conversation, query="Question 3 about replication lag", k=3, scope="tenant", embedder=HashingEmbedder())
    assert len(found) == 3


def test_reindex_refuses_a_dimension_the_columns_do_not_have_unless_told_to_resize(tenant, eight_dimensions):
    eight_dimensions()
    with pytest.raises(CommandError, match="--resize"):
        call_command("reindex_embeddings", verbosity=0)
    call_command("reindex_embeddings", "--resize", verbosity=0)
    assert column_dimensions(connection) == {MEMORY_TABLE: 8, SUMMARY_TABLE: 8}


def test_an_hnsw_index_cannot_hold_more_than_2000_dimensions():
    with pytest.raises(ValueError, match="2000"):
        vector_columns_resize(connection, dimensions=3072)
