"""The lifecycle services in one place: evict, enforce the hot budget, archive, rehydrate, verify, train, purge."""

from .archive import conversation_archive, conversations_archive, summary_enqueue
from .eviction import conversation_evict, enforce_hot_budget, evict_idle, hot_usage
from .maintenance import archive_stats, code_table_train, purge_expired, segments_verify
from .rehydrate import archived_item_delete, conversation_rehydrate

__all__ = [
    "archive_stats",
    "archived_item_delete",
    "code_table_train",
    "conversation_archive",
    "conversation_evict",
    "conversation_rehydrate",
    "conversations_archive",
    "enforce_hot_budget",
    "evict_idle",
    "hot_usage",
    "purge_expired",
    "segments_verify",
    "summary_enqueue",
]
