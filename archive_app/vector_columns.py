"""The vector columns (Memory.embedding, Summary.embedding) take the configured model's dimension.

pgvector's HNSW index needs one dimension per column, so the dimension is a deployment setting
(CONVOSTORE["EMBEDDING_DIM"]): migration 0002 sets it, ``reindex_embeddings --resize`` changes it later.
"""

from __future__ import annotations

import re

MEMORY_TABLE, SUMMARY_TABLE = "archive_app_memory", "archive_app_summary"
HNSW_INDEX = "memory_embedding_hnsw"
# as archive_app.models.Memory.Meta declares it (HnswIndex m=16, ef_construction=64, cosine)
HNSW_CREATE = f"CREATE INDEX {HNSW_INDEX} ON {MEMORY_TABLE} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
STALE_PREFIX = "stale:"


def column_dimensions(connection) -> dict[str, int | None]:
    """{table: dimension of its ``embedding`` column} (None when the column has no fixed dimension)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " WHERE c.relname IN (%s, %s) AND a.attname = 'embedding' AND NOT a.attisdropped",
            [MEMORY_TABLE, SUMMARY_TABLE],
        )
        found = {}
        for table, type_name in cursor.fetchall():
            match = re.fullmatch(r"vector\((\d+)\)", type_name)
            found[table] = int(match.group(1)) if match else None
    return found


def vector_columns_resize(connection, *, dimensions: int) -> dict:
    """Make both ``embedding`` columns ``vector(dimensions)``; a no-op when they already are.

    Vectors of another dimension cannot be converted: Memory rows keep their excerpt, get a zero vector of
    the new dimension and ``embedder = "stale:<old embedder>"`` (recall only reads rows of the current
    embedder, so it never sees them; ``reindex_embeddings`` re-embeds them, the embed sweep skips nothing).
    Summary embeddings become NULL (the embed sweep re-embeds each conversation's latest summary).
    The HNSW index is dropped and rebuilt. Returns ``{"from": {table: dim}, "to": dimensions, "memories_marked": n}``.
    Raises ValueError for a dimension outside pgvector's 1..16000 (HNSW indexes at most 2000).
    """
    if not 1 <= dimensions <= 2000:
        raise ValueError(f"the vector columns can hold 1 to 2000 dimensions (an HNSW index's limit), not {dimensions}")
    before = column_dimensions(connection)
    marked = 0
    if all(dim == dimensions for dim in before.values()):
        return {"from": before, "to": dimensions, "memories_marked": 0}
    zero = f"array_fill(0::real, ARRAY[{int(dimensions)}])::vector"
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run while deferred foreign-key checks of this transaction are pending
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
        if before.get(MEMORY_TABLE) != dimensions:
            cursor.execute(
                f"UPDATE {MEMORY_TABLE} SET embedder = left(%s || embedder, 200) WHERE embedder NOT LIKE %s",
                [STALE_PREFIX, STALE_PREFIX + "%"],
            )
            marked = cursor.rowcount
            cursor.execute(f"ALTER TABLE {MEMORY_TABLE} ALTER COLUMN embedding TYPE vector({int(dimensions)}) USING {zero}")
        if before.get(SUMMARY_TABLE) != dimensions:
            cursor.execute(f"ALTER TABLE {SUMMARY_TABLE} ALTER COLUMN embedding TYPE vector({int(dimensions)}) USING NULL")
        cursor.execute(HNSW_CREATE)
    return {"from": before, "to": dimensions, "memories_marked": marked}
