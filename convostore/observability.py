"""Request/task context for logs (request id, tenant, conversation, task), the filter that puts it on every line, tracing."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import uuid
from contextlib import contextmanager

_context: contextvars.ContextVar[dict] = contextvars.ContextVar("convostore_log_context", default={})


def bind(**values) -> None:
    """Add fields (tenant_id, conversation_id, …) to every log line of the current request or task."""
    _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})


def current() -> dict:
    return _context.get()


@contextmanager
def scope(**values):
    token = _context.set({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def task_scope(**values) -> None:
    """Start a task's log context afresh (a worker runs many tasks in one thread: nothing carries over)."""
    _context.set({k: v for k, v in values.items() if v is not None})


class ContextFilter(logging.Filter):
    """Copies the bound request/task fields (request_id, tenant_id, conversation_id, task_id) onto every record.

    Django logs 4xx/5xx (``django.request``) after the middleware's scope has closed, with the request
    object as ``record.request``: the ids then come from ``request.log_context``, and the request is
    written as ``method`` and ``path`` only (no query string, no body; the JSON formatter skips ``request``).
    """

    def filter(self, record):
        request = getattr(record, "request", None)
        values = dict(getattr(request, "log_context", None) or {})
        values.update(_context.get())
        if request is not None:
            values.setdefault("method", getattr(request, "method", None))
            values.setdefault("path", getattr(request, "path", None))
        for key, value in values.items():
            if value is not None and not hasattr(record, key):
                setattr(record, key, value)
        return True


class ClientErrorOneLine(logging.Filter):
    """On django.request: a 4xx (an admin 403, a 404) is the client's doing — log its line without the traceback."""

    def filter(self, record):
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class AccessFields(logging.Filter):
    """On granian.access (convostore-serve --access-log): the request's fields become fields of the JSON line.

    granian logs each request as ``access_logger.info(format, fields)``; this copies ``addr``, ``method``, ``path``
    (no query string, as ContextFilter), ``protocol``, ``status`` and ``dt_ms`` (float, milliseconds from the request
    head to the answer) onto the record, so LOG_FORMAT=json writes them as keys beside the readable message.
    """

    FIELDS = ("addr", "method", "path", "protocol", "status", "dt_ms")

    def filter(self, record):
        if isinstance(record.args, dict):
            for key in self.FIELDS:
                if key in record.args:
                    setattr(record, key, record.args[key])
        return True


# What a caller may choose as its request id: 1–64 characters, letters, digits and ._:- (a UUID, a trace
# id, "req_…"); anything else (spaces, quotes, control characters, longer) is replaced by a new id.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it matches REQUEST_ID in full, else a new 32-hex-digit id."""
    return header if header and REQUEST_ID.fullmatch(header) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Gives every request an id (a safe X-Request-ID in, or a new one), binds it for logs and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "conversation_id" in view_kwargs:
            bind(conversation_id=view_kwargs["conversation_id"])
        return None

    def __call__(self, request):
        request_id = request_id_from(request.headers.get("X-Request-ID"))
        request.log_context = {"request_id": request_id}
        with scope(request_id=request_id), span("http " + request.method, path=request.path):
            try:
                response = self.get_response(request)
            finally:
                request.log_context = current()  # for the lines Django writes after this scope (django.request)
        response["X-Request-ID"] = request_id
        return response


# --- tracing (OpenTelemetry when installed and configured; no-ops otherwise) ------------------------

def _tracer():
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not os.environ.get("CONVOSTORE_OTEL"):
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("convostore")


_TRACER = None
_TRACER_LOADED = False


@contextmanager
def span(name: str, **attributes):
    """A tracing span around API, Redis, Postgres and task work; free when tracing is off."""
    global _TRACER, _TRACER_LOADED
    if not _TRACER_LOADED:
        _TRACER, _TRACER_LOADED = _tracer(), True
    if _TRACER is None:
        yield None
        return
    with _TRACER.start_as_current_span(name, attributes={k: str(v) for k, v in attributes.items()}) as current_span:
        yield current_span
