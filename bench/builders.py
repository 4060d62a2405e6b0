"""Large conversations, fast, in exactly the state the API leaves them (bench/scaling.py and the scaling tests).

``conversation_build`` writes a root conversation of ``n`` items through the one write path the API uses
(``sessions_app.services.writes.conversation_write``): items are validated and canonicalised by
``prepare_items`` (the API's own step), written in appends of ``CONVOSTORE_MAX_ITEMS_PER_APPEND`` items
(so version, seqs, counters match that many appends) inside one transaction, the last write storing a
response (as ``POST /v1/sessions/responses`` does). Only the after-commit Redis step is left out:
``conversation_state`` then puts the conversation hot (window rebuilt as a cold resolve rebuilds it),
warm (no Redis copy) or archived (the real archiver: ``lifecycle.archive.conversation_archive``).
tests/sessions_app/test_scaling_reads.py checks a built conversation against one built over HTTP.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from cache_app import hot_window
from sessions_app.lifecycle.archive import conversation_archive
from sessions_app.models import Conversation
from sessions_app.selectors import context_entries, window_refresh
from sessions_app.services.items import prepare_items
from sessions_app.services.writes import ResponseRow, conversation_write

STATES = ("hot", "warm", "archived")


def turn(index: int) -> dict:
    """The index-th item of a built conversation: alternating user and assistant messages of ~200 bytes."""
    role = "user" if index % 2 == 0 else "assistant"
    words = " ".join(f"w{(index * 7 + k) % 997}" for k in range(24))
    return {"id": f"msg_b{index:07d}", "role": role, "content": f"Turn {index}: {words}."}


def conversation_build(*, tenant, conversation_id: str, n: int, response_id: str | None = None):
    """A root conversation of ``n`` items (ids ``msg_b0000000`` …) whose last append stores ``response_id``."""
    step = settings.CONVOSTORE_MAX_ITEMS_PER_APPEND
    with transaction.atomic():
        for start in range(0, n, step):
            chunk = [turn(i) for i in range(start, min(n, start + step))]
            prepared = prepare_items(chunk, encoding=tenant.encoding)
            last = start + step >= n
            row = ResponseRow(response_id, "", len(prepared) - 1) if last and response_id else None
            conversation_write(tenant=tenant, conversation_id=conversation_id, prepared=prepared, response=row)
    return Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)


def conversation_state(conversation, state: str) -> None:
    """Put a built conversation hot (its window in Redis), warm (Postgres rows only) or archived (segments only)."""
    hot_window.window_drop(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)
    if state == "hot":
        window_refresh(conversation.tenant, conversation, context_entries(conversation, conversation.last_seq))
    elif state == "archived":
        conversation_archive(conversation=conversation, keep_window=False)
    elif state != "warm":
        raise ValueError(f"unknown state {state!r}")
