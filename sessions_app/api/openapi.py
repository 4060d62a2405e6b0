"""The OpenAPI schema's finishing: tags, the error statuses each operation can answer, response shapes, the probes.

A drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS). Response shapes here are the JSON
schemas of the answers views build as dicts (the OpenAI shapes, the context); Schemathesis checks
real answers against them (tests/security/test_fuzz_schema.py).
"""

from __future__ import annotations

from convostore.schema import ERROR_SCHEMA, error_response

TAGS = [
    {"name": "sessions", "description": "Native conversations: append, read, list items, delete."},
    {"name": "context", "description": "Token-budgeted context assembly (summary, recall, verbatim turns)."},
    {"name": "responses", "description": "Stored responses: store, resolve previous_response_id, OpenAI reads."},
    {"name": "conversations", "description": "The OpenAI Conversations API."},
    {"name": "cache", "description": "Semantic response cache and embedding cache."},
    {"name": "operations", "description": "Probes and metrics for operators (no API key)."},
]

# Every /v1 operation can answer 401 (no or bad key), 429 (rate limit) and 503 (database or cache down),
# and one with a path parameter 404 (a value no route matches, e.g. with a newline); these are the others
# it can answer. 400: ids, parameters or body invalid; 404: a named resource missing; 409: a write
# conflict; 413: body or item too large; 422: well-formed but not servable; 502/504: the gateway's upstream.
OPERATION_ERRORS = {
    "sessions_append": "400 409 413",
    "sessions_responses_store": "400 404 409 413",
    "sessions_resolve": "400 404",
    "sessions_retrieve": "400 404",
    "sessions_delete": "400 404",
    "sessions_items_list": "400 404",
    "sessions_context": "400 404",
    "sessions_response_context": "400 404",
    "cache_lookup": "400 413",
    "cache_store": "400 413",
    "cache_entry_delete": "400",
    "cache_namespace_delete": "400",
    "cache_embedding_get": "400 404",
    "cache_embedding_put": "400 413",
    "cache_embedding_delete": "400 404",
    "cache_embeddings_batch_get": "400 413",
    "openai_conversations_create": "400 409 413",
    "openai_conversations_retrieve": "400 404",
    "openai_conversations_update": "400 404 409 413",
    "openai_conversations_delete": "400 404",
    "openai_conversation_items_create": "400 404 409 413",
    "openai_conversation_items_list": "400 404",
    "openai_conversation_items_retrieve": "400 404",
    "openai_conversation_items_delete": "400 404 409",
    "openai_responses_create": "400 404 409 413 422 502 504",
    "openai_chat_completions_create": "400 404 409 413 422 502 504",
    "openai_responses_retrieve": "400 404 422",
    "openai_responses_delete": "400 404",
    "openai_responses_input_items_list": "400 404",
}
ALWAYS = "401 429 503"

_NULLABLE_STRING = {"type": "string", "nullable": True}
ITEM = {"type": "object", "required": ["type", "id"], "properties": {"type": {"type": "string"}, "id": {"type": "string"}},
        "additionalProperties": True, "description": "A stored item, exactly as appended (OpenAI item shape)."}
SHAPES = {
    "Conversation": {
        "type": "object", "required": ["id", "object", "created_at", "metadata"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["conversation"]},
                       "created_at": {"type": "integer"}, "metadata": {"type": "object", "additionalProperties": {"type": "string"}}},
    },
    "ConversationDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["conversation.deleted"]},
                       "deleted": {"type": "boolean"}},
    },
    "Item": ITEM,
    "ItemList": {
        "type": "object", "required": ["object", "data", "first_id", "last_id", "has_more"],
        "properties": {"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": ITEM},
                       "first_id": _NULLABLE_STRING, "last_id": _NULLABLE_STRING, "has_more": {"type": "boolean"}},
    },
    "StoredResponse": {
        "type": "object", "required": ["id", "object", "created_at", "status", "model", "output", "conversation"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["response"]},
                       "created_at": {"type": "integer"}, "status": {"type": "string"}, "model": {"type": "string"},
                       "output": {"type": "array", "items": ITEM}, "previous_response_id": _NULLABLE_STRING,
                       "conversation": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                       "usage": {"type": "object", "nullable": True}},
        "additionalProperties": True,
    },
    "ResponseDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["response.deleted"]},
                       "deleted": {"type": "boolean"}},
    },
    "Context": {
        "type": "object",
        "required": ["conversation_id", "estimated_input_tokens", "messages", "prefix_fingerprint", "summary_upto_seq",
                     "truncated", "version"],
        "properties": {
            "conversation_id": {"type": "string"}, "response_id": {"type": "string"},
            "estimated_input_tokens": {"type": "integer"}, "prefix_fingerprint": {"type": "string"},
            "messages": {"type": "array", "items": {"type": "object"}},
            "summary_upto_seq": {"type": "integer", "nullable": True}, "version": {"type": "integer"},
            "truncated": {"type": "object"},
            "recalled": {"type": "array", "items": {"type": "object", "required": ["conversation_id", "kind", "first_seq", "last_seq", "score"]}},
        },
    },
}
OPERATION_SHAPES = {
    "openai_conversations_create": "Conversation", "openai_conversations_retrieve": "Conversation",
    "openai_conversations_update": "Conversation", "openai_conversations_delete": "ConversationDeleted",
    "openai_conversation_items_create": "ItemList", "openai_conversation_items_list": "ItemList",
    "openai_conversation_items_retrieve": "Item", "openai_conversation_items_delete": "Conversation",
    "openai_responses_retrieve": "StoredResponse", "openai_responses_delete": "ResponseDeleted",
    "openai_responses_input_items_list": "ItemList", "sessions_context": "Context", "sessions_response_context": "Context",
}


def _json(schema: dict, description: str = "") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROBES = {
    "/healthz": {"get": {"operationId": "healthz", "summary": "The process is up.", "security": [], "tags": ["operations"],
                         "responses": {"200": _json({"type": "object", "required": ["status"],
                                                     "properties": {"status": {"type": "string", "enum": ["ok"]}}})}}},
    "/readyz": {"get": {"operationId": "readyz", "summary": "Postgres answers (Redis is reported, not required).", "security": [],
                        "tags": ["operations"],
                        "responses": {status: _json({"type": "object", "required": ["status", "postgres", "redis"],
                                                     "properties": {"status": {"type": "string", "enum": ["ready", "not ready"]},
                                                                    "postgres": {"type": "string"}, "redis": {"type": "string"}}},
                                                    meaning)
                                      for status, meaning in (("200", "Ready."), ("503", "Postgres is unreachable."))}}},
    "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus text for CONVOSTORE_METRICS_ALLOW networks or the metrics token.",
                         "security": [], "tags": ["operations"],
                         "responses": {"200": {"description": "Prometheus exposition.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                                       "403": error_response("403")}}},
}


# Probes answer 400 too when a header holds NUL or a lone surrogate or is over-long (convostore.edge checks every path).
for _probe in PROBES.values():
    _probe["get"]["responses"]["400"] = error_response("400")


def tag_of(path: str) -> str:
    if path.startswith("/v1/cache/"):
        return "cache"
    if path.startswith("/v1/conversations"):
        return "conversations"
    if path.startswith(("/v1/responses", "/v1/chat/", "/v1/sessions/responses", "/v1/sessions/resolve")):
        return "responses"
    if path.startswith("/v1/sessions/") and path.endswith("/context") or path == "/v1/sessions/context":
        return "context"
    if path.startswith("/v1/sessions"):
        return "sessions"
    return "operations" if path in PROBES else path.split("/")[2]


def postprocess(result, generator, request, public):
    """drf-spectacular hook: tags, per-operation error statuses and response shapes, and the probe operations."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    result["components"]["schemas"].update(SHAPES)
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            operation["tags"] = [tag_of(path)]
            name = operation.get("operationId", "")
            if name in OPERATION_SHAPES:
                success = next(status for status in operation["responses"] if status.startswith("2"))
                operation["responses"][success] = _json({"$ref": f"#/components/schemas/{OPERATION_SHAPES[name]}"})
            statuses = f"{OPERATION_ERRORS.get(name, '400 404 409 413 422')} {ALWAYS}" + (" 404" if "{" in path else "")
            for status in statuses.split():
                operation["responses"].setdefault(status, error_response(status))
    result["paths"].update(PROBES)
    result["tags"] = TAGS
    return result
