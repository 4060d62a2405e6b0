"""LOGGING for every environment: JSON lines with the bound ids, or plain lines for a terminal."""

from pythonjsonlogger.core import RESERVED_ATTRS

from convostore.env import env

# Structured logs: one JSON object per line (python-json-logger) with request_id, tenant_id and
# conversation_id bound for the request, task_id and task in workers (LOG_FORMAT=plain for a terminal).
# Loggers that would write request bodies at DEBUG (the openai SDK, httpx) stay at INFO: no log line
# carries item content, metadata or keys.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "convostore.observability.ContextFilter"},
        "client_error_one_line": {"()": "convostore.observability.ClientErrorOneLine"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "timestamp": "ts",  # ISO 8601, UTC, microseconds
            "rename_fields": {"levelname": "level", "name": "logger", "exc_info": "exc"},
            "json_ensure_ascii": False,
            "reserved_attrs": [*RESERVED_ATTRS, "request"],  # Django's request object: ContextFilter writes its ids
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        # client_error_one_line here too: django.security.* (a refused admin lookup, 400) logs from child loggers,
        # which a filter on a parent logger never sees
        "console": {"class": "logging.StreamHandler", "formatter": env("LOG_FORMAT", default="json"),
                    "filters": ["context", "client_error_one_line"]}
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["client_error_one_line"]},
        "openai": {"level": "INFO"},
        "httpx": {"level": "INFO"},
        "httpcore": {"level": "INFO"},
    },
}

# convostore-serve (granian) logs its own lines, from processes Django may not have configured yet: the same
# formatter, and the access log (--access-log) as one JSON object per request (convostore.observability.AccessFields).
SERVER_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"access_fields": {"()": "convostore.observability.AccessFields"}},
    "formatters": LOGGING["formatters"],
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOGGING["handlers"]["console"]["formatter"]},
        "access": {"class": "logging.StreamHandler", "formatter": LOGGING["handlers"]["console"]["formatter"],
                   "filters": ["access_fields"]},
    },
    "loggers": {
        "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
