"""OpenAPI schema extras: the Bearer key scheme and the OpenAI-shaped error responses on every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
                "current_version": {"type": "integer"},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "Invalid request (the offending field is in error.param).",
    "401": "Missing, unknown, revoked or expired API key.",
    "404": "Not found (another tenant's ids answer the same).",
    "409": "Conflict: version_conflict, idempotency_key_reused, response_id_taken, conversation_deleted, …",
    "413": "Item or body too large.",
    "422": "Well-formed but unprocessable.",
    "429": "Rate limit exceeded for this key.",
    "503": "The database is unavailable.",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "sessions_app.auth.ApiKeyAuthentication"
    name = "ApiKey"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A ConvoStore API key: Authorization: Bearer cs_…"}


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: every operation may answer the error statuses, all in the OpenAI error shape."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                )
    return result
