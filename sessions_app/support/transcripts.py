"""What the conversation admin shows: transcript pages (every tier, in order), forks, the latest summary, the response chain."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.db.models import TextField
from django.db.models.functions import Cast
from django.urls import reverse

from archive_app.models import Summary
from cache_app import hot_window
from cache_app.redis_client import RedisUnavailable

from ..models import Conversation, Response
from ..selectors import item_records
from . import rendering

TRANSCRIPT_PAGE_SIZE = 200


@dataclass
class TranscriptRow:
    seq: int
    tokens: int
    raw: str
    source: str  # "hot", "postgres" or "archive"
    owner: Conversation | None  # the ancestor it is inherited from, None when the conversation's own
    item: dict = field(default_factory=dict)
    created_at: datetime | None = None  # when it was stored (rows and archived items alike)
    response_id: str | None = None  # the stored response it belongs to
    response_url: str | None = None  # where the response chain lists it (this page or an ancestor's)

    @property
    def type(self) -> str:
        return rendering.label(self.item.get("type", "message"))

    @property
    def role(self) -> str:
        return rendering.label(self.item.get("role", ""))

    @property
    def item_id(self) -> str:
        return rendering.label(self.item.get("id", ""))

    @property
    def name(self) -> str:
        return rendering.label(self.item.get("name", ""))

    @property
    def call_id(self) -> str:
        return rendering.label(self.item.get("call_id", ""))

    @cached_property
    def text(self) -> rendering.Shown:
        """The readable part of the item (arguments, output, text of the content parts), bounded (rendering)."""
        item = self.item
        if self.type == "function_call":
            arguments = item.get("arguments", "")
            return rendering.json_text(arguments) if isinstance(arguments, str) else rendering.value_text(arguments)
        if self.type == "function_call_output":
            return rendering.value_text(item.get("output", ""))
        if self.type == "reasoning":
            return rendering.cut(_parts_text(item.get("summary")) or _parts_text(item.get("content")))
        if "content" in item:
            return rendering.cut(_parts_text(item.get("content")))
        return rendering.Shown("")

    @cached_property
    def pretty_raw(self) -> rendering.Shown:
        """The stored item, re-indented when small and shallow enough, otherwise as stored (bounded)."""
        return rendering.json_text(self.raw)


def _parts_text(content, limit: int = rendering.PREVIEW_CHARS) -> str:
    """The text of content parts joined by lines; other parts as [type]; stops once ``limit`` characters are joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    pieces, size = [], 0
    for part in content if isinstance(content, list) else [content]:
        if isinstance(part, dict):
            text = part.get("text") or part.get("refusal")
            piece = text if isinstance(text, str) else f"[{rendering.label(part.get('type', 'part'))}]"
        else:
            piece = rendering.label(part)
        pieces.append(piece)
        size += len(piece) + 1
        if size > limit:
            break
    return "\n".join(pieces)


@dataclass
class Transcript:
    rows: list[TranscriptRow]
    page: int
    pages: int
    first_seq: int
    last_seq: int
    ancestors: list[Conversation]
    hot_range: tuple[int, int] | None
    redis_state: str

    @property
    def page_numbers(self) -> list[int]:
        return list(range(1, self.pages + 1))


def transcript_page(conversation: Conversation, page: int = 1, page_size: int = TRANSCRIPT_PAGE_SIZE) -> Transcript:
    """Seqs ((page-1)*size, page*size] of the conversation's whole context, whatever tier holds them.

    Postgres rows and decoded archive segments are merged by seq (selectors.item_records, with every
    item's time and response), one page at a time so very long conversations stay cheap; entries in the
    Redis hot window are marked ``hot``.
    """
    pages = max(1, math.ceil(conversation.last_seq / page_size))
    page = min(max(1, page), pages)
    low, high = (page - 1) * page_size, min(page * page_size, conversation.last_seq)
    path = conversation.path()
    ancestors = _ancestors(conversation)
    by_pk = {a.pk: a for a in ancestors} | {conversation.pk: conversation}
    hot_range, redis_state = _hot_range(conversation)
    rows = []
    for record in item_records(conversation, after_seq=low, upto_seq=high) if high > low else []:
        source = "archive" if record.archived else "postgres"
        if hot_range and hot_range[0] <= record.seq <= hot_range[1] and not record.archived:
            source = "hot"
        owner_pk = _owner(path, record.seq)
        rows.append(TranscriptRow(record.seq, record.tokens, record.raw, source,
                                  None if owner_pk == conversation.pk else by_pk.get(owner_pk), _parse(record.raw),
                                  created_at=record.created_at, response_id=record.response_id))
    return Transcript(rows, page, pages, low + 1, high, ancestors, hot_range, redis_state)


def _parse(raw: str) -> dict:
    """The stored item as a dict; {"type": "unreadable"} when it cannot be read here (the raw text is still shown)."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # a page runs deeper in the stack than the API that accepted the item
        return {"type": "unreadable"}
    return value if isinstance(value, dict) else {"type": "unreadable"}


def _owner(path, seq: int) -> int:
    for pk, upto in path:
        if upto is None or seq <= upto:
            return pk
    return path[-1][0]


def _ancestors(conversation: Conversation) -> list[Conversation]:
    pks = [pk for pk, _ in conversation.lineage]
    if not pks:
        return []
    found = {
        c.pk: c
        for c in Conversation.objects.filter(pk__in=pks).only("pk", "conversation_id", "tenant_id", "archived_upto_seq", "fork_seq")
    }
    return [found[pk] for pk in pks if pk in found]


def _hot_range(conversation: Conversation) -> tuple[tuple[int, int] | None, str]:
    """The seqs the Redis hot window holds, read without touching its TTL or the LRU index."""
    try:
        peek = hot_window.window_peek(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id)
    except RedisUnavailable:
        return None, "unavailable"
    if peek is None:
        return None, "not in Redis"
    first_seq, last, version = peek
    return (first_seq, last), f"hot window holds seq {first_seq}..{last} (version {version})"


def forks_of(conversation: Conversation) -> list[Conversation]:
    return list(conversation.forks.only("pk", "conversation_id", "fork_seq", "tenant_id").order_by("pk")[:100])


def latest_summary(conversation: Conversation):
    return (
        Summary.objects.filter(conversation=conversation)
        .defer("embedding")
        .order_by("-upto_seq")
        .first()
    )


def response_chain(conversation: Conversation, limit: int = 200) -> list[Response]:
    """The conversation's responses, oldest first; previous_response_id links them (across forks too)."""
    responses = list(
        Response.objects.filter(conversation=conversation)
        .only("pk", "response_id", "previous_response_id", "model", "status", "input_first_seq",
              "output_first_seq", "last_seq", "created_at", "conversation_id")
        .annotate(usage_text=Cast("usage", TextField()))  # as text: any depth the API accepted, never parsed here
        .order_by("created_at", "pk")[:limit]
    )
    for response in responses:
        response.usage_shown = rendering.label(response.usage_text or "")
    return responses


def response_links(conversation: Conversation, responses: list[Response], rows: list[TranscriptRow]) -> None:
    """Link every response id shown: each response to its admin page, its previous response and each row's
    response to where a response chain lists it (this page, or the page of the ancestor a fork came from).

    One query for the conversations that hold the ids; a previous response that was deleted gets no link.
    """
    wanted = {r.previous_response_id for r in responses if r.previous_response_id} | {row.response_id for row in rows if row.response_id}
    holders = dict(
        Response.objects.filter(tenant_id=conversation.tenant_id, response_id__in=wanted).values_list("response_id", "conversation_id")
    ) if wanted else {}

    def chain_url(response_id: str | None) -> str | None:
        holder = holders.get(response_id)
        if holder is None:
            return None
        page = "" if holder == conversation.pk else reverse("admin:sessions_app_conversation_change", args=[holder])
        return f"{page}#{response_id}"

    for response in responses:
        response.admin_url = reverse("admin:sessions_app_response_change", args=[response.pk])
        response.previous_url = chain_url(response.previous_response_id)
    for row in rows:
        row.response_url = chain_url(row.response_id)
