"""Items before they are written: validation, canonical bytes, token counts, and client-chosen id checks."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from archive_app.selectors import archived_item_ids
from convostore import canonical, tokens
from convostore.errors import Conflict, ValidationFailed

from ..models import Conversation, Item


@dataclass
class PreparedItem:
    item: dict
    raw: str  # canonical JSON, the bytes every reader gets
    tokens: int
    client_id: bool = False  # the client chose the id (it must be new in the context)
    size: int = 0  # bytes of ``raw`` as UTF-8, measured once


def prepare_items(items, *, encoding: str, param: str = "items") -> list[PreparedItem]:
    """Validate and canonicalise items before any row is touched (bad input changes nothing).

    Raises ValidationFailed (400) naming ``param[index]`` for a bad item (NUL, lone surrogates and non-finite
    numbers included, so items from an upstream get the checks a request body got in its parser), PayloadTooLarge (413) past
    CONVOSTORE_MAX_ITEM_BYTES, and ``too_many_items`` past CONVOSTORE_MAX_ITEMS_PER_APPEND.
    """
    limit = settings.CONVOSTORE_MAX_ITEMS_PER_APPEND
    if not isinstance(items, list):
        raise ValidationFailed("'items' must be a list of items.", param=param, code="invalid_type")
    if len(items) > limit:
        raise ValidationFailed(f"At most {limit} items per call.", param=param, code="too_many_items")
    prepared, seen = [], set()
    for index, item in enumerate(items):
        where = f"{param}[{index}]"
        client_id = isinstance(item, dict) and item.get("id") is not None
        normalised = canonical.normalise_item(item, where)
        if normalised["id"] in seen:
            raise ValidationFailed("Item ids must be unique.", param=f"{where}.id", code="duplicate_item_id")
        seen.add(normalised["id"])
        raw, size = canonical.encode_item(normalised, where)
        prepared.append(PreparedItem(normalised, raw, tokens.count_item(normalised, encoding=encoding), client_id, size))
    return prepared


def item_id_taken(item_id: str | None = None, *, param: str = "items") -> Conflict:
    """The one 409 for an item id already used in the conversation's context."""
    if item_id is None:
        return Conflict("An item id is already used in this conversation.", param=param, code="item_id_taken")
    return Conflict(f"Item id {item_id!r} is already used in this conversation.", param=param, code="item_id_taken")


def check_item_ids(path, prepared: list[PreparedItem], *, param: str = "items") -> None:
    """Client-chosen ids must be new in the context ``path`` ([(conversation pk, upto seq or None)]): each
    ancestor up to its fork point and the conversation's own items, archived ones included. The same id
    on another branch of a fork tree is allowed (OpenAI's rule is per input); twice in one context is 409.
    """
    ids = [p.item["id"] for p in prepared if p.client_id]
    if not ids or not path:
        return
    within = Q()
    for pk, upto in path:
        within |= Q(conversation_id=pk) if upto is None else Q(conversation_id=pk, seq__lte=upto)
    taken = Item.objects.filter(within, item_id__in=ids).values_list("item_id", flat=True).first()
    if not taken and Conversation.objects.filter(pk__in=[pk for pk, _ in path], archived_upto_seq__gt=0).exists():
        taken = next(iter(sorted(archived_item_ids(path, ids))), None)
    if taken:
        raise item_id_taken(taken, param=param)
