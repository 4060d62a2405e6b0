"""The embed drainer: new turns and summaries become recallable within seconds, not at the next embed sweep.

Every Celery worker that consumes the memory queue runs one drainer thread (started on ``worker_ready``, stopped on shutdown) that
takes conversations from the embed queue — filled by the append's own Redis pipeline — and embeds
them; when the queue is empty it waits CONVOSTORE["EMBED_DRAIN_IDLE_SECONDS"] (0 turns it off).
``manage.py embed --follow`` runs the same loop in the foreground. While Redis or every worker is down
nothing is lost: the embed sweep (every 5 minutes) embeds every turn that has no Memory row.
"""

from __future__ import annotations

import logging
import threading

from celery import signals
from django.conf import settings
from django.db import close_old_connections

from cache_app.redis_client import RedisUnavailable

from .embeddings import embed_pending

logger = logging.getLogger(__name__)
_stop = threading.Event()


def idle_seconds() -> float:
    return float(settings.CONVOSTORE.get("EMBED_DRAIN_IDLE_SECONDS", 0.2))


def drain(*, stop: threading.Event, idle: float, batch: int = 64) -> None:
    """Embed queued conversations until ``stop`` is set, waiting ``idle`` seconds whenever the queue is empty."""
    while not stop.is_set():
        taken = 0
        try:
            taken = embed_pending(limit=batch)
        except RedisUnavailable:
            pass  # the sweep covers what is queued meanwhile
        except Exception:  # an embedder or database failure must not kill the loop
            logger.exception("embed drain failed; the embed sweep will retry")
        finally:
            close_old_connections()
        if not taken:
            stop.wait(idle)


def consumes_memory_queue(consumer) -> bool:
    """True when the worker consumes the queue embedding tasks are routed to (or its queues are unknown)."""
    queues = getattr(getattr(consumer, "task_consumer", None), "queues", None)
    if queues is None:
        return True
    route = settings.CELERY_TASK_ROUTES.get("convostore.embed_conversation", {})
    return route.get("queue", settings.CELERY_TASK_DEFAULT_QUEUE) in {queue.name for queue in queues}


@signals.worker_ready.connect(weak=False)
def _start(sender=None, **_):
    idle = idle_seconds()
    if idle > 0 and consumes_memory_queue(sender):  # drain where embedding work is meant to run
        _stop.clear()
        threading.Thread(target=drain, kwargs={"stop": _stop, "idle": idle}, name="embed-drain", daemon=True).start()


@signals.worker_shutting_down.connect(weak=False)
def _stop_drain(**_):
    _stop.set()
