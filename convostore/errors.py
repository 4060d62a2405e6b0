"""One ApplicationError family and the handler that renders every error as OpenAI-shaped JSON."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A domain error with an HTTP status and OpenAI error fields."""

    status_code = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def as_dict(self) -> dict:
        return error_body(self.message, self.error_type, self.param, self.code, self.extra)


class ValidationFailed(ApplicationError):
    status_code = 400


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Unprocessable(ApplicationError):
    """422: a well-formed request ConvoStore cannot carry out (the SDK raises UnprocessableEntityError)."""

    status_code = 422
    code = "unprocessable_entity"


class PayloadTooLarge(ApplicationError):
    status_code = 413
    code = "payload_too_large"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    error_type = "server_error"
    code = "service_unavailable"


def error_body(message, error_type="invalid_request_error", param=None, code=None, extra=None) -> dict:
    error = {"message": message, "type": error_type, "param": param, "code": code}
    if extra:
        error.update(extra)
    return {"error": error}


def json_error(status: int, message: str, *, error_type="invalid_request_error", param=None, code=None) -> JsonResponse:
    return JsonResponse(error_body(message, error_type, param, code), status=status)


def _first_param(detail, prefix=""):
    """The dotted path of the first field named in a DRF validation detail, its message and its DRF code."""
    if isinstance(detail, dict) and detail:
        key = next(iter(detail))
        name = str(key) if key != "non_field_errors" else ""
        path = f"{prefix}.{name}" if prefix and name else (name or prefix)
        return _first_param(detail[key], path)
    if isinstance(detail, list) and detail:
        for index, entry in enumerate(detail):
            if entry:
                nested = isinstance(entry, (dict, list)) and not isinstance(entry, str)
                if nested and isinstance(entry, (dict, list)) and not all(isinstance(e, str) for e in entry):
                    return _first_param(entry, f"{prefix}[{index}]" if prefix else str(index))
                return _first_param(entry, prefix)
    return (prefix or None), str(detail), getattr(detail, "code", None)


# DRF's validation codes as the OpenAI-style codes the API answers (anything else: invalid_value).
_VALIDATION_CODES = {
    "required": "missing_required_parameter",
    "null": "invalid_type",
    "invalid": "invalid_type",
    "not_a_list": "invalid_type",
    "not_a_dict": "invalid_type",
    "invalid_choice": "invalid_value",
}


_DRF_TYPES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    406: ("invalid_request_error", "not_acceptable"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def exception_handler(exc, context):
    """DRF exception handler: every error is ``{"error": {message, type, param, code}}``."""
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body(str(exc) or "Request body too large.", code="payload_too_large"), status=413)
    if isinstance(exc, (Http404,)):
        return Response(error_body("Not found.", code="not_found"), status=404)
    if isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        return Response(error_body("The database is unavailable; retry later.", "server_error", None, "database_unavailable"), status=503)
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Response(error_body("The database rejected the request.", "server_error", None, "database_error"), status=503)
    if isinstance(exc, drf_exceptions.ValidationError):
        param, message, code = _first_param(exc.detail)
        return Response(error_body(message, param=param, code=_VALIDATION_CODES.get(code, "invalid_value")), status=400)
    if isinstance(exc, drf_exceptions.ParseError):
        return Response(error_body(str(exc.detail), code="invalid_json"), status=400)
    if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        message = str(exc.detail)
        if isinstance(exc, drf_exceptions.NotAuthenticated):
            message = "Missing API key: send 'Authorization: Bearer <key>'."
        response = Response(error_body(message, code="invalid_api_key"), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, drf_exceptions.APIException):
        error_type, code = _DRF_TYPES.get(exc.status_code, ("invalid_request_error", None))
        response = Response(error_body(str(exc.detail), error_type, None, code), status=exc.status_code)
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait:
            response["Retry-After"] = str(int(exc.wait) + 1)
        return response
    return None
