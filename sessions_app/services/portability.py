"""Export and import of conversations as JSON lines: exact ids, seqs, forks, responses, metadata, summaries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, Iterator

from django.db import transaction
from django.db.models import Func, IntegerField
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from archive_app.models import Summary
from archive_app.payload import ArchivedItem
from convostore import tokens

from ..models import Conversation, Response, Tenant
from ..selectors import item_records
from .writes import items_restore

FORMAT = "convostore.conversation.v1"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def conversations_for_export(*, tenant: Tenant | None = None, since: datetime | None = None):
    """Conversations in an order where every parent comes before its forks (fork depth, then id)."""
    queryset = Conversation.objects.select_related("tenant", "parent")
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if since is not None:
        queryset = queryset.filter(last_active_at__gte=since)
    # lineage length is the fork depth; Postgres sorts on it without loading rows.
    depth = Func("lineage", function="jsonb_array_length", output_field=IntegerField())
    return queryset.annotate(fork_depth=depth).order_by("tenant_id", "fork_depth", "pk")


def conversation_export(conversation: Conversation) -> dict:
    """One conversation as a JSON-able dict; its own items only (forks reference their parent)."""
    items = [
        {"seq": record.seq, "raw": record.raw, "response_id": record.response_id, "created_at": _iso(record.created_at)}
        for record in item_records(conversation, after_seq=conversation.fork_seq or 0)
    ]
    responses = [
        {
            "response_id": r.response_id, "previous_response_id": r.previous_response_id, "input_first_seq": r.input_first_seq,
            "output_first_seq": r.output_first_seq, "last_seq": r.last_seq, "model": r.model, "usage": r.usage,
            "status": r.status, "created_at": _iso(r.created_at),
        }
        for r in conversation.responses.order_by("last_seq", "pk")
    ]
    return {
        "format": FORMAT,
        "tenant": conversation.tenant.name,
        "conversation_id": conversation.conversation_id,
        "version": conversation.version,
        "last_seq": conversation.last_seq,
        "parent": conversation.parent.conversation_id if conversation.parent_id else None,
        "fork_seq": conversation.fork_seq,
        "metadata": conversation.metadata,
        "ttl_seconds": conversation.ttl_seconds,
        "created_at": _iso(conversation.created_at),
        "last_active_at": _iso(conversation.last_active_at),
        "items": items,
        "responses": responses,
        "summaries": _summaries(conversation),
    }


def _summaries(conversation: Conversation) -> list[dict]:
    return [
        {"upto_seq": s.upto_seq, "text": s.text, "token_estimate": s.token_estimate, "summariser": s.summariser,
         "created_at": _iso(s.created_at)}
        for s in Summary.objects.filter(conversation=conversation).order_by("upto_seq")
    ]


def conversations_export_lines(conversations: Iterable[Conversation]) -> Iterator[str]:
    """Canonical JSON lines, one per conversation, streamed (constant memory per conversation)."""
    for conversation in conversations:
        yield json.dumps(conversation_export(conversation), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@transaction.atomic
def conversation_import(*, record: dict) -> bool:
    """Recreate one exported conversation exactly; False when it already exists (re-import is idempotent)."""
    if record.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} record")
    tenant, _ = Tenant.objects.get_or_create(name=record["tenant"])
    if Conversation.objects.filter(tenant=tenant, conversation_id=record["conversation_id"]).exists():
        return False
    parent = None
    if record["parent"]:
        parent = Conversation.objects.get(tenant=tenant, conversation_id=record["parent"])
    fork_seq = record["fork_seq"]
    lineage = parent.fork_lineage(fork_seq) if parent else []
    items = record["items"]
    counted = [tokens.count_canonical(item["raw"], encoding=tenant.encoding) for item in items]
    conversation = Conversation.objects.create(
        tenant=tenant, conversation_id=record["conversation_id"], version=record["version"], last_seq=record["last_seq"],
        parent=parent, fork_seq=fork_seq, lineage=lineage, tier=Conversation.Tier.WARM, item_count=len(items),
        byte_count=sum(len(item["raw"].encode("utf-8")) for item in items), token_count=sum(counted),
        metadata=record["metadata"], ttl_seconds=record["ttl_seconds"],
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=parse_datetime(record["created_at"]), last_active_at=parse_datetime(record["last_active_at"])
    )
    responses = _import_responses(tenant, conversation, record["responses"])
    _import_items(conversation, items, counted, responses)
    _import_summaries(conversation, record.get("summaries", []))
    return True


def _import_responses(tenant: Tenant, conversation: Conversation, records: list[dict]) -> dict[str, Response]:
    responses = {}
    for data in records:
        response = Response.objects.create(
            tenant=tenant, conversation=conversation, **{k: v for k, v in data.items() if k != "created_at"}
        )
        Response.objects.filter(pk=response.pk).update(created_at=parse_datetime(data["created_at"]))
        responses[data["response_id"]] = response
    return responses


def _import_items(conversation: Conversation, items: list[dict], counted: list[int], responses: dict[str, Response]) -> None:
    """The items exactly as exported: seqs, ids, the response they belong to and their creation time."""
    restored = []
    for item, token_count in zip(items, counted):
        parsed = json.loads(item["raw"])
        response = responses.get(item["response_id"])
        restored.append(ArchivedItem(
            seq=item["seq"], item_id=parsed.get("id", ""), type=parsed.get("type", "message"), role=parsed.get("role") or "",
            byte_size=len(item["raw"].encode("utf-8")), token_count=token_count, response_id=response.pk if response else None,
            created_at=parse_datetime(item["created_at"]) if item.get("created_at") else timezone.now(), raw=item["raw"],
        ))
    items_restore(conversation_pk=conversation.pk, items=restored)


def _import_summaries(conversation: Conversation, summaries: list[dict]) -> None:
    if not summaries:
        return
    for data in summaries:
        summary = Summary.objects.create(
            conversation=conversation, upto_seq=data["upto_seq"], text=data["text"],
            token_estimate=data["token_estimate"], summariser=data["summariser"],
        )
        Summary.objects.filter(pk=summary.pk).update(created_at=parse_datetime(data["created_at"]))
