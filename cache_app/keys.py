"""Every Redis key ConvoStore uses, versioned, prefixed, and hash-tagged per conversation."""

from __future__ import annotations

import hashlib
import re

from django.conf import settings

VERSION = "v1"


def _prefix() -> str:
    return f"{settings.CONVOSTORE['KEY_PREFIX']}:{VERSION}"


_SAFE_PART = re.compile(r"[A-Za-z0-9_.-]+\Z")


def _part(value) -> str:
    """Key parts are escaped so that no tenant-chosen string can forge another key."""
    text = str(value)
    if _SAFE_PART.match(text):
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def conversation_tag(tenant_id: int, conversation_id: str) -> str:
    # ':' is allowed in conversation ids, so the id is escaped before joining.
    return "{t%d:%s}" % (tenant_id, _part(conversation_id))


def window(tenant_id: int, conversation_id: str) -> str:
    return f"{_prefix()}:{conversation_tag(tenant_id, conversation_id)}:win"


def window_meta(tenant_id: int, conversation_id: str) -> str:
    return f"{_prefix()}:{conversation_tag(tenant_id, conversation_id)}:meta"


def context_header(tenant_id: int, conversation_id: str) -> str:
    """Conversation pk, latest summary and last fingerprint: lets a hot context read skip Postgres."""
    return f"{_prefix()}:{conversation_tag(tenant_id, conversation_id)}:ctx"


def response_index(tenant_id: int, response_id: str) -> str:
    return f"{_prefix()}:{{t{tenant_id}}}:resp:{_part(response_id)}"


def lru_bucket(index: int) -> str:
    return f"{_prefix()}:lru:{index}"


def lru_member(tenant_id: int, conversation_id: str) -> str:
    return f"{tenant_id}:{conversation_id}"


def embed_pending() -> str:
    """The set of conversations with turns not yet embedded for recall (members as lru_member)."""
    return f"{_prefix()}:embed:pending"


def api_key(key_hash: str) -> str:
    """An API key's cached entry, hash-tagged by the key's hash: its rate counter shares the slot (auth_count.lua)."""
    return f"{_prefix()}:auth:{{{key_hash}}}"


def api_key_rate(key_hash: str, window: int) -> str:
    """An API key's request counter for one fixed window (minute number since the epoch)."""
    return f"{_prefix()}:auth:{{{key_hash}}}:rate.{int(window)}"


def counter(name: str) -> str:
    return f"{_prefix()}:count:{_part(name)}"


def conversation_key_patterns(tenant_id: int, conversation_id: str) -> list[str]:
    """Every per-conversation key, for deletion."""
    return [window(tenant_id, conversation_id), window_meta(tenant_id, conversation_id), context_header(tenant_id, conversation_id)]


# --- semantic response cache and embedding cache (alias "semantic" / "embeddings") -------------------
# Tenant-chosen strings (namespace, context, conversation id, embedding key) never appear in a key:
# they are hashed, so no value can forge another tenant's or another scope's key.

SEMANTIC_LAYOUT = "sem2"  # bump when the bucket layout (tables, bits, record format) changes


def _digest(*parts) -> str:
    """SHA-256 over length-prefixed parts, so ("ab", "c") and ("a", "bc") differ."""
    hasher = hashlib.sha256()
    for part in parts:
        data = ("" if part is None else str(part)).encode("utf-8", "surrogatepass")
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


def semantic_scope_id(tenant_id: int, namespace: str, context: str | None, model: str = "") -> str:
    """16 hex digits naming one scope (tenant + namespace + optional context digest + the model of its vectors).

    ``model`` is the server embedder's cache_id ("local:minilm-l6-v2-static-256:256") when the server embeds
    the text, "" for vectors the gateway sends (it names its model in the namespace): vectors of two models
    never share a scope, so they are never compared.
    """
    parts = [tenant_id, namespace, "" if context is None else "c:" + context]
    if model:
        parts.append("m:" + model)
    return _digest("scope", *parts)[:16]


def semantic_namespace_id(tenant_id: int, namespace: str) -> str:
    return _digest("namespace", tenant_id, namespace)[:16]


def semantic_scope(tenant_id: int, scope_id: str, part: str) -> str:
    """A key of one scope; every key of a scope shares the ``{t<tenant>:s<scope>}`` hash tag."""
    return f"{_prefix()}:{{t{int(tenant_id)}:s{scope_id}}}:{SEMANTIC_LAYOUT}:{part}"


SEMANTIC_PARTS = ("meta", "bk", "vec", "body", "lru", "exp", "hits")  # the keys of one scope, in script order
SEMANTIC_ENTRY_ID = re.compile(r"^sce_([0-9a-f]{16})([0-9a-f]{8})$")


def semantic_scope_keys(tenant_id: int, scope_id: str) -> list[str]:
    """Every key of one scope (SEMANTIC_PARTS order), as the semantic_* scripts take them."""
    return [semantic_scope(tenant_id, scope_id, part) for part in SEMANTIC_PARTS]


def semantic_entry_id(scope_id: str, member: str) -> str:
    """The public id of an entry: ``sce_`` + scope id (16 hex) + member (8 hex)."""
    return f"sce_{scope_id}{member}"


def semantic_entry_parse(value: str) -> tuple[str, str] | None:
    """(scope id, member) of an entry id, or None when it is not one."""
    match = SEMANTIC_ENTRY_ID.match(value or "")
    return (match.group(1), match.group(2)) if match else None


def semantic_tenant_scopes(tenant_id: int) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:scopes"


def semantic_tenant_namespaces(tenant_id: int) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:namespaces"


def semantic_namespace_scopes(tenant_id: int, namespace_id: str) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:ns:{namespace_id}"


def semantic_tenant_conversations(tenant_id: int) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:convs"


def semantic_conversation_id(tenant_id: int, conversation_id: str) -> str:
    return _digest("conversation", tenant_id, conversation_id)[:24]


def semantic_conversation_entries(tenant_id: int, conversation_hash: str) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:conv:{conversation_hash}"


def semantic_counters(tenant_id: int | None = None) -> str:
    if tenant_id is None:
        return f"{_prefix()}:{SEMANTIC_LAYOUT}:count"
    return f"{_prefix()}:{{t{int(tenant_id)}}}:{SEMANTIC_LAYOUT}:count"


def embedding_key_id(key: str) -> str:
    return _digest("embedding-key", key)[:32]


def embedding(tenant_id: int, key_id: str, *, server: bool = False) -> str:
    """A cached embedding: ``k`` for gateway keys, ``s`` for the server's own embedder (text digests)."""
    kind = "s" if server else "k"
    return f"{_prefix()}:{{t{int(tenant_id)}}}:emb:{kind}:{key_id}"


def embedding_server_id(embedder_id: str, text: str) -> str:
    """(embedder name/model/dimensions, SHA-256 of the text) for the server's own embedder."""
    return _digest(embedder_id)[:12] + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def embedding_index(tenant_id: int) -> str:
    return f"{_prefix()}:{{t{int(tenant_id)}}}:emb:index"
