"""The beat schedule, declared once: install_schedule writes it into django-celery-beat (editable in admin)."""

# (periodic task name shown in admin, Celery task name, every N seconds)
SCHEDULE = [
    ("Apply the invalidation outbox", "convostore.outbox_sweep", 30),
    ("Evict idle conversations", "convostore.evict_idle", 60),
    ("Enforce the hot-tier memory budget", "convostore.enforce_hot_budget", 60),
    ("Archive warm items", "convostore.archive_sweep", 300),
    ("Summarise older turns", "convostore.summarise_sweep", 300),
    ("Embed turns and summaries", "convostore.embed_sweep", 300),
    ("Purge expired conversations", "convostore.purge_expired", 3600),
    ("Drop expired idempotency records and tombstones", "convostore.idempotency_cleanup", 3600),
]
