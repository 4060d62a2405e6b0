"""The vector columns take CONVOSTORE["EMBEDDING_DIM"] (the configured model's dimension) instead of a fixed 256.

On a database whose columns already have that dimension (every default install: the local model is
256-d like the hashing vectors before it) this changes nothing. Otherwise existing vectors cannot be
kept: see archive_app.vector_columns.vector_columns_resize, then run ``manage.py reindex_embeddings``.
"""

import pgvector.django
from django.conf import settings
from django.db import migrations

from archive_app.vector_columns import vector_columns_resize

DIMENSIONS = int(settings.CONVOSTORE["EMBEDDING_DIM"])


def forwards(apps, schema_editor):
    vector_columns_resize(schema_editor.connection, dimensions=DIMENSIONS)


def backwards(apps, schema_editor):
    vector_columns_resize(schema_editor.connection, dimensions=256)  # 0001's dimension


class Migration(migrations.Migration):
    dependencies = [("archive_app", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField("memory", "embedding", pgvector.django.VectorField(dimensions=DIMENSIONS)),
                migrations.AlterField("summary", "embedding", pgvector.django.VectorField(blank=True, dimensions=DIMENSIONS, null=True)),
            ],
        ),
    ]
