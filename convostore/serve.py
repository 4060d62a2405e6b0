"""`convostore-serve`: the production HTTP server (granian + convostore.bridge, threads per worker) in the foreground.

    convostore-serve [--bind HOST:PORT] [--workers N] [--threads T] [--access-log]

Why (bench/http_servers.py, docs/operations.md): granian parses HTTP in Rust and hands each request to an
asyncio loop; convostore.bridge reads the whole body there, runs Django on a pool of threads and writes the
answer from the loop. A connection that sends its headers or body slowly, or stops reading an answer, holds
no thread while the client does nothing; threads only run views.

Defaults: --bind 127.0.0.1:${PORT:-8000}; --workers $WEB_CONCURRENCY (2); --threads
$CONVOSTORE_SERVE_THREADS (4) — each thread keeps its own Postgres connection, so a host opens at most
workers × threads connections. SIGINT/SIGTERM stop it gracefully (requests in flight get
CONVOSTORE_SERVE_GRACEFUL_SECONDS, 20 s, then the worker is killed) and main() returns 0; a bad --bind
exits with status 2 and a usage line.
"""

from __future__ import annotations

import argparse
import os
import sys

from convostore.bridge import BufferedWSGI
from convostore.settings.logs import SERVER_LOGGING


_bridge = None


def _build_bridge():
    from django.conf import settings
    from django.db import connections

    # lazy: importing convostore.wsgi sets Django up; only the workers may do that, never the supervisor.
    from convostore.wsgi import application as django_application

    return BufferedWSGI(
        django_application,
        threads=int(os.environ.get("CONVOSTORE_SERVE_THREADS") or 4),
        max_body_bytes=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        body_timeout=settings.CONVOSTORE["SERVE_BODY_TIMEOUT_SECONDS"],
        send_timeout=settings.CONVOSTORE["SERVE_SEND_TIMEOUT_SECONDS"],
        # libpq keeps a connection's buffers at the size of its largest statement (a maximal append's
        # bodies): after a large request the thread reconnects instead of holding them (docs/operations.md).
        after_large_request=connections.close_all,
    )


async def application(scope, receive, send):
    """The ASGI callable granian serves: convostore.bridge.BufferedWSGI around Django's WSGI app.

    Built at the worker's lifespan startup, so Django loads in each worker before its first request and
    never in the process that supervises the workers.
    """
    global _bridge
    if _bridge is None:
        _bridge = _build_bridge()
    await _bridge(scope, receive, send)


def parse_bind(value: str) -> tuple[str, int]:
    """'HOST:PORT' or '[v6]:PORT' → (host, port); ValueError when there is no numeric port."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind wants HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _retire_metrics(pid: int | None) -> None:
    """Prometheus multiprocess: retire a worker's live-gauge files once it has exited (gunicorn's child_exit)."""
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def build_server(*, host: str, port: int, workers: int, access_log: bool, graceful: int):
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    class Server(Granian):
        # granian has no child-exit hook: wrap each worker's exit watcher (granian is pinned in pyproject).
        def _spawn_worker(self, *args, **kwargs):
            worker = super()._spawn_worker(*args, **kwargs)
            watcher = worker._watcher

            def watch_then_retire():
                try:
                    watcher()
                finally:
                    _retire_metrics(worker.inner.pid)

            worker._watcher = watch_then_retire
            return worker

    return Server(
        "convostore.serve:application",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        # Headers must arrive within 10 s; until they have, a connection costs a few KB in Rust, no thread.
        http1_settings=HTTP1Settings(header_read_timeout=10_000, keep_alive=True),
        log_access=access_log,
        log_dictconfig=SERVER_LOGGING,
        respawn_failed_workers=True,
        workers_kill_timeout=graceful,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="convostore-serve", description=__doc__.split("\n")[0])
    parser.add_argument("--bind", default=f"127.0.0.1:{os.environ.get('PORT') or 8000}", help="HOST:PORT to listen on")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY") or 2))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("CONVOSTORE_SERVE_THREADS") or 4),
                        help="Python threads per worker (each holds one Postgres connection)")
    parser.add_argument("--access-log", action="store_true", help="one access-log line per request")
    args = parser.parse_args(argv)
    try:
        host, port = parse_bind(args.bind)
    except ValueError as exc:
        parser.error(str(exc))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")
    os.environ["CONVOSTORE_SERVE_THREADS"] = str(args.threads)  # read by each worker's application
    graceful = int(os.environ.get("CONVOSTORE_SERVE_GRACEFUL_SECONDS") or 20)
    build_server(host=host, port=port, workers=args.workers, access_log=args.access_log, graceful=graceful).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
