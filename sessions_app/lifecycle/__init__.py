"""The lifecycle that moves conversations between tiers: evict, archive, rehydrate, summarise, embed, purge.

Services here are what the Celery tasks (tasks.py), the management commands and the admin actions call.
"""

from .archive import conversation_archive, conversations_archive, summary_enqueue
from .embeddings import conversation_embed, embed_candidates, embed_pending, memories_reindex
from .eviction import conversation_evict, enforce_hot_budget, evict_idle, hot_usage
from .maintenance import archive_stats, code_table_train, purge_expired, segments_verify
from .rehydrate import conversation_rehydrate
from .summaries import summary_candidates, summary_refresh, summary_refresh_outcome

__all__ = [
    "archive_stats",
    "code_table_train",
    "conversation_archive",
    "conversation_embed",
    "conversation_evict",
    "conversation_rehydrate",
    "conversations_archive",
    "embed_candidates",
    "embed_pending",
    "enforce_hot_budget",
    "evict_idle",
    "hot_usage",
    "memories_reindex",
    "purge_expired",
    "segments_verify",
    "summary_candidates",
    "summary_enqueue",
    "summary_refresh",
    "summary_refresh_outcome",
]
