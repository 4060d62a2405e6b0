"""gunicorn settings for ConvoStore: sync workers; Prometheus multiprocess files of dead workers are retired."""

import os

worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# Access lines as JSON when LOG_FORMAT=json (the default): the path without its query string (a recall
# query is user text), the status, the duration and the request id the app echoed back.
if os.environ.get("LOG_FORMAT", "json") == "json":
    access_log_format = (
        '{"ts": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "method": "%(m)s", "path": "%(U)s", '
        '"status": %(s)s, "bytes": "%(B)s", "duration_ms": %(M)s, "request_id": "%({x-request-id}o)s"}'
    )
