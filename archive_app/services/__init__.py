"""Writes of archive_app, by subdomain: lifecycle (evict, archive, rehydrate, purge) and memory (summaries, embeddings)."""
