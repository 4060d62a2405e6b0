"""OpenAPI schema extras: the Bearer key scheme and the OpenAI-shaped error responses (sessions_app.api.openapi uses them)."""

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
    "403": "Not for this client (metrics outside CONVOSTORE_METRICS_ALLOW and without the metrics token).",
    "404": "Not found (another tenant's ids answer the same).",
    "409": "Conflict: version_conflict, idempotency_key_reused, response_id_taken, conversation_deleted, …",
    "413": "Item or body too large.",
    "422": "Well-formed but unprocessable.",
    "429": "Rate limit exceeded for this key.",
    "502": "The upstream model server failed, refused ConvoStore's credentials, or is not allowed (gateway).",
    "503": "The database is unavailable.",
    "504": "The upstream model server timed out (gateway).",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "sessions_app.auth.ApiKeyAuthentication"
    name = "ApiKey"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A ConvoStore API key: Authorization: Bearer cs_…"}


def error_response(status: str) -> dict:
    """The OpenAPI response of an error status: its meaning and the OpenAI error shape."""
    return {"description": ERROR_STATUSES[status], "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
