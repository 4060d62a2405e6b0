"""Turns Django's own HTML error pages into OpenAI-shaped JSON under /v1."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError

from convostore.errors import json_error

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/v1")


def _is_api(request) -> bool:
    return request.path.startswith("/v1/") or request.path == "/v1"


class ApiErrorMiddleware:
    """404, 405, 413 and 500 under /v1 answer JSON; a dead database answers 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if _is_api(request) and response.status_code in (404, 405, 500) and not _is_json(response):
            messages = {404: "Not found.", 405: "Method not allowed.", 500: "Internal server error."}
            codes = {404: "not_found", 405: "method_not_allowed", 500: "internal_error"}
            error_type = "server_error" if response.status_code == 500 else "invalid_request_error"
            return json_error(
                response.status_code, messages[response.status_code], error_type=error_type, code=codes[response.status_code]
            )
        return response

    def process_exception(self, request, exception):
        if not _is_api(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return json_error(413, "Request body too large.", code="payload_too_large")
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.warning("database unavailable: %s", exception)
            return json_error(503, "The database is unavailable; retry later.", error_type="server_error", code="database_unavailable")
        logger.exception("unhandled error on %s", request.path)
        return json_error(500, "Internal server error.", error_type="server_error", code="internal_error")


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
