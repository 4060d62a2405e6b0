"""Every Redis key ConvoStore uses, versioned, prefixed, and hash-tagged per conversation."""

from __future__ import annotations

import hashlib

from django.conf import settings

VERSION = "v1"


def _prefix() -> str:
    return f"{settings.CONVOSTORE['KEY_PREFIX']}:{VERSION}"


def _part(value) -> str:
    """Key parts are escaped so that no tenant-chosen string can forge another key."""
    text = str(value)
    if all(c.isalnum() or c in "_.-" for c in text) and text:
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def conversation_tag(tenant_id: int, conversation_id: str) -> str:
    # ':' is allowed in conversation ids, so the id is escaped before joining.
    return "{t%d:%s}" % (tenant_id, _part(conversation_id))


def window(tenant_id: int, conversation_id: str) -> str:
    return f"{_prefix()}:{conversation_tag(tenant_id, conversation_id)}:win"


def window_meta(tenant_id: int, conversation_id: str) -> str:
    return f"{_prefix()}:{conversation_tag(tenant_id, conversation_id)}:meta"


def response_index(tenant_id: int, response_id: str) -> str:
    return f"{_prefix()}:{{t{tenant_id}}}:resp:{_part(response_id)}"


def lru_bucket(index: int) -> str:
    return f"{_prefix()}:lru:{index}"


def lru_member(tenant_id: int, conversation_id: str) -> str:
    return f"{tenant_id}:{conversation_id}"


def hot_bytes() -> str:
    return f"{_prefix()}:hotbytes"


def api_key(key_hash: str) -> str:
    return f"{_prefix()}:auth:{key_hash}"


def counter(name: str) -> str:
    return f"{_prefix()}:count:{_part(name)}"


def conversation_key_patterns(tenant_id: int, conversation_id: str) -> list[str]:
    """Every per-conversation key, for deletion."""
    return [window(tenant_id, conversation_id), window_meta(tenant_id, conversation_id)]
