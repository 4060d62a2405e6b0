"""Request/task context for logs (request id, tenant, conversation), JSON log lines, tracing hooks."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import time
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


class ContextFilter(logging.Filter):
    """Copies the bound request/task fields onto every record."""

    def filter(self, record):
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound context, exception."""

    _SKIP = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record):
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._SKIP and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID in, or a new one), binds it for logs and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "conversation_id" in view_kwargs:
            bind(conversation_id=view_kwargs["conversation_id"])
        return None

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        with scope(request_id=request_id), span("http " + request.method, path=request.path):
            response = self.get_response(request)
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
