"""ConvoStore's extensions to a create, sent under ``convostore`` in the body (the SDK's ``extra_body``).

``semantic_cache``: ``{"namespace"?, "threshold"?, "require_exact_text"?}`` — answer from the semantic response
cache when a similar last user message was answered under the same namespace (default: model + instructions
fingerprint) and context prefix (the prefix fingerprint); a miss stores the answer after the call.
``recall``: ``{"k", "scope"?: "conversation"|"user"|"tenant", "user"?, "gate"?}`` — one developer message of
recalled memories before the recent turns (see context.py).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings

from convostore.errors import ApplicationError, ValidationFailed

from ..services import caches

from .context import _last_user_text
from .events import output_with_ids

logger = logging.getLogger(__name__)

SCOPES = ("conversation", "user", "tenant")


@dataclass(frozen=True)
class Wanted:
    semantic_cache: dict | None = None
    recall: dict | None = None


def _refuse(message: str, param: str):
    raise ValidationFailed(message, param=f"convostore.{param}", code="invalid_value")


def parse(value) -> Wanted:
    """Validate the ``convostore`` object; unknown keys and bad values are 400s naming ``convostore.<field>``."""
    if not value:
        return Wanted()
    if not isinstance(value, dict):
        _refuse("'convostore' must be an object.", "")
    for key in value:
        if key not in ("semantic_cache", "recall"):
            _refuse(f"Unknown ConvoStore extension {key!r}; known: semantic_cache, recall.", key)
    return Wanted(_semantic(value.get("semantic_cache")), _recall(value.get("recall")))


def _semantic(value) -> dict | None:
    if value is None or value is False:
        return None
    options = {} if value is True else value
    if not isinstance(options, dict):
        _refuse("'semantic_cache' must be an object.", "semantic_cache")
    for key in options:
        if key not in ("namespace", "threshold", "require_exact_text"):
            _refuse(f"Unknown semantic_cache field {key!r}.", f"semantic_cache.{key}")
    namespace = options.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not 1 <= len(namespace) <= 200):
        _refuse("'namespace' must be a string of 1 to 200 characters.", "semantic_cache.namespace")
    threshold = options.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1):
        _refuse("'threshold' must be a number in (0, 1].", "semantic_cache.threshold")
    if not isinstance(options.get("require_exact_text", False), bool):
        _refuse("'require_exact_text' must be a boolean.", "semantic_cache.require_exact_text")
    return dict(options)


def _recall(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        _refuse("'recall' must be an object.", "recall")
    for key in value:
        if key not in ("k", "scope", "user", "gate"):
            _refuse(f"Unknown recall field {key!r}.", f"recall.{key}")
    k = value.get("k")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
        _refuse("'k' must be an integer from 1 to 50.", "recall.k")
    if value.get("scope", "conversation") not in SCOPES:
        _refuse(f"'scope' must be one of {', '.join(SCOPES)}.", "recall.scope")
    user = value.get("user")
    if user is not None and (not isinstance(user, str) or not 1 <= len(user) <= 512):
        _refuse("'user' must be a string of 1 to 512 characters.", "recall.user")
    if not isinstance(value.get("gate", False), bool):
        _refuse("'gate' must be a boolean.", "recall.gate")
    return {**value, "user_key": settings.CONVOSTORE.get("USER_METADATA_KEY", "user")}


def namespace_of(prepared, options: dict) -> str:
    if options.get("namespace"):
        return options["namespace"]
    instructions = hashlib.sha256((prepared.request.instructions or "").encode()).hexdigest()[:16]
    return f"gateway:{prepared.request.model}:{instructions}"


def cache_lookup(prepared, options: dict) -> dict | None:
    """The cached answer for the last user message, or None (a miss; also when there is no user text or Redis is down)."""
    text = _last_user_text(prepared.request.input_items)
    if not text:
        return None
    try:
        found = caches.semantic_lookup(tenant=prepared.tenant, namespace=namespace_of(prepared, options),
                                       threshold=options.get("threshold"), text=text, context=prepared.context.prefix_fingerprint,
                                       require_exact_text=bool(options.get("require_exact_text")))
    except ApplicationError as exc:  # the embedder failed: answer from the model instead
        logger.warning("semantic cache lookup failed: %s", exc.message)
        return None
    if not found.get("hit") or not isinstance(found.get("response"), dict) or not found["response"].get("output"):
        return None
    return found


def hit_output(found: dict) -> list[dict]:
    """The cached output items under new ids (they are stored again as this response's items)."""
    return [output_with_ids(item) for item in found["response"]["output"]]


def cache_store(prepared, output: list[dict], *, conversation_id: str | None = None) -> None:
    """After a miss, remember the answer (ids left out); a failure is logged, the response is already stored."""
    text = _last_user_text(prepared.request.input_items)
    if not text or not output:
        return
    items = [{key: value for key, value in item.items() if key != "id"} for item in output]
    try:
        caches.semantic_store(tenant_id=prepared.tenant.pk, namespace=namespace_of(prepared, prepared.semantic), text=text,
                             response={"output": items}, context=prepared.context.prefix_fingerprint, conversation_id=conversation_id)
    except ApplicationError as exc:
        logger.warning("semantic cache store failed: %s", exc.message)
