"""Summaries: incremental, of the turns that left the verbatim window (previous summary + newly older turns)."""

from __future__ import annotations

import json
import logging

from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from archive_app.models import LifecycleEvent, Summary
from archive_app.summarisers import SummariserError, get_summariser
from cache_app import embed_queue
from cache_app.redis_client import RedisUnavailable

from ..context.assembly import message_tokens, normalise_text, summary_message
from ..models import Conversation
from ..selectors import context_entries

logger = logging.getLogger(__name__)


def summary_previous(conversation: Conversation, upto_seq: int) -> Summary | None:
    """The latest summary of the conversation's path covering at most ``upto_seq`` (a fork builds on its parent's)."""
    condition = Q(conversation_id=conversation.pk, upto_seq__lte=upto_seq)
    for pk, inherited in conversation.lineage:
        condition |= Q(conversation_id=pk, upto_seq__lte=min(inherited, upto_seq))
    return Summary.objects.filter(condition).order_by("-upto_seq").first()


def summary_refresh(*, conversation: Conversation, force: bool = False, summariser=None) -> Summary | None:
    """Summarise the turns that left the verbatim window (the tenant's window_size newest items stay verbatim).

    next summary = summarise(previous summary + turns after it). Runs when those turns exceed the tenant's
    summary_threshold_tokens, or always with ``force`` (archive time). Idempotent: an existing summary to
    the same seq is returned as is. A summariser failure returns None and leaves the previous summary in place.
    """
    return summary_refresh_outcome(conversation=conversation, force=force, summariser=summariser)[1]


def summary_refresh_outcome(*, conversation: Conversation, force: bool = False, summariser=None) -> tuple[str, Summary | None]:
    """summary_refresh, also saying what happened: ("written" | "current" | "not_due" | "failed", what it returns).

    "current": a summary already covers every turn that left the window; "not_due": no turn left it yet,
    or they stay under the threshold (without ``force``); "failed": the summariser failed (logged).
    """
    tenant = conversation.tenant
    entries = context_entries(conversation, conversation.last_seq)
    older = entries[: max(0, len(entries) - tenant.window_size)]
    if not older:
        return "not_due", None
    upto = older[-1].seq
    previous = summary_previous(conversation, upto)
    fresh = [entry for entry in older if entry.seq > (previous.upto_seq if previous else 0)]
    if not fresh:
        return "current", None
    if not force and sum(entry.tokens for entry in fresh) < tenant.summary_threshold_tokens:
        return "not_due", None
    summariser = summariser or get_summariser()
    try:
        text = summariser.summarise(previous=previous.text if previous else "", turns=[json.loads(e.raw) for e in fresh])
    except SummariserError as exc:
        logger.warning("summary of %s to seq %s failed, previous summary kept: %s", conversation.pk, upto, exc)
        return "failed", None
    text = normalise_text(text)
    summary, created = Summary.objects.get_or_create(
        conversation=conversation,
        upto_seq=upto,
        defaults={
            "text": text,
            "token_estimate": message_tokens(summary_message(upto, text), encoding=tenant.encoding),
            "summariser": summariser.label[:200],
        },
    )
    if not created:
        return "current", summary
    LifecycleEvent.objects.create(kind=LifecycleEvent.Kind.SUMMARISE, tenant=tenant, conversations=1, items=len(fresh))
    _embed_soon(conversation)
    return "written", summary


def summary_candidates(limit: int = 500):
    """Conversations whose turns past the last summary exceed the verbatim window (and hold enough tokens)."""
    latest = Summary.objects.filter(conversation=OuterRef("pk")).order_by("-upto_seq").values("upto_seq")[:1]
    return (
        Conversation.objects.annotate(summarised=Coalesce(Subquery(latest), F("fork_seq"), 0))
        .filter(last_seq__gt=F("summarised") + F("tenant__window_size"), token_count__gt=F("tenant__summary_threshold_tokens"))
        .order_by("-last_active_at")
        .values_list("pk", flat=True)[:limit]
    )


def _embed_soon(conversation: Conversation) -> None:
    """A new summary is recallable within seconds: queue it for the drainer (the embed sweep is the safety net)."""
    try:
        embed_queue.mark_now(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)
    except RedisUnavailable:
        logger.info("embed queue unavailable; the embed sweep will find summary of %s", conversation.pk)
