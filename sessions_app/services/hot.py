"""The Redis step after a committed mutation: extend the hot window, or record the conversation in the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from cache_app import hot_window
from cache_app.redis_client import RedisUnavailable

from ..models import InvalidationOutbox

logger = logging.getLogger(__name__)


@dataclass
class HotUpdate:
    """The Redis step that follows a committed mutation (every mutation bumps the version by exactly one)."""

    tenant_id: int
    conversation_id: str
    version: int
    last_seq: int
    window_size: int
    entries: list
    created_empty: bool = False
    responses: list = field(default_factory=list)
    tokens_added: int | None = None  # default: the tokens of ``entries``

    def __post_init__(self):
        if self.tokens_added is None:
            self.tokens_added = sum(entry.tokens for entry in self.entries)

    @property
    def previous_version(self) -> int:
        return self.version - 1

    @classmethod
    def of(cls, *, tenant, conversation_id: str, version: int, last_seq: int, entries, created_empty=False, responses=()):
        return cls(tenant.pk, conversation_id, version, last_seq, tenant.window_size, entries, created_empty, list(responses))


def apply_hot(updates: list[HotUpdate]) -> None:
    """After commit: extend hot windows; a Redis failure goes to the outbox, never to the caller."""
    for update in updates:
        try:
            hot_window.window_extend(
                tenant_id=update.tenant_id,
                conversation_id=update.conversation_id,
                previous_version=update.previous_version,
                version=update.version,
                last_seq=update.last_seq,
                tokens_added=update.tokens_added,
                window_size=update.window_size,
                entries=update.entries,
                created_empty=update.created_empty,
                responses=update.responses,
            )
        except RedisUnavailable as exc:
            outbox_record(
                tenant_id=update.tenant_id,
                conversation_id=update.conversation_id,
                response_ids=[r for r, _ in update.responses],
                reason=f"window_extend: {exc}"[:200],
            )


def outbox_record(*, tenant_id: int, conversation_id: str, response_ids=(), reason: str = "") -> None:
    """Remember a conversation whose Redis copy may be stale; the beat sweep drops it."""
    try:
        InvalidationOutbox.objects.create(
            tenant_id_value=tenant_id, conversation_id=conversation_id, response_ids=list(response_ids), reason=reason
        )
    except Exception:  # the write is already acknowledged; the window TTL still bounds staleness
        logger.exception("could not record outbox entry for %s", conversation_id)
