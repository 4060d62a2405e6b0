"""Reads that may be stale go to the streaming replica (DATABASE_REPLICA_URL); everything else to the primary.

Nothing reads the replica unless it asks to, inside ``replica_reads()`` / ``from_replica(...)``: the admin
list views, the dashboard, ``archive_stats`` and ``export_conversations --from-replica``. Every API read
(it must see the caller's own writes), every write and every admin change/transcript page use the primary.
When the replica is not configured, unreachable or fails mid-read, the read runs on the primary instead:
logged, counted in ``db_replica_fallbacks_total{reason}``, never an error. See docs/operations.md.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, TypeVar

from django.db import DatabaseError, connections

from convostore import metrics

logger = logging.getLogger("convostore.db")

PRIMARY = "default"
REPLICA = "replica"
# After a replica failure every read uses the primary this long, so a dead replica costs one connect
# timeout per process per interval.
DOWN_SECONDS = 10.0

_wanted: ContextVar[bool] = ContextVar("convostore_replica_reads", default=False)
_down_until = {"at": 0.0}
_lock = threading.Lock()
T = TypeVar("T")


class ReplicaRouter:
    """Django database router: the primary unless the current context asked for the replica and it is usable."""

    def db_for_read(self, model, **hints) -> str:
        return REPLICA if _wanted.get() and replica_usable() else PRIMARY

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # the replica is a copy of the primary: same rows

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == PRIMARY


def replica_configured() -> bool:
    return REPLICA in connections.settings


def replica_usable() -> bool:
    return replica_configured() and time.monotonic() >= _down_until["at"]


def replica_failed(exc: BaseException, where: str) -> None:
    """Take the replica out of use for DOWN_SECONDS: log, count, drop its connection."""
    with _lock:
        _down_until["at"] = time.monotonic() + DOWN_SECONDS
    logger.warning("replica read failed during %s, reading the primary for %ss: %s", where, DOWN_SECONDS, exc)
    metrics.replica_fallbacks.labels(reason="error").inc()
    try:
        connections[REPLICA].close()
    except DatabaseError:
        pass


def replica_reset() -> None:
    """Forget a recorded failure (tests, or an operator after repairing the replica)."""
    _down_until["at"] = 0.0


@contextmanager
def replica_reads():
    """Within the block, reads may go to the replica (when usable); writes still go to the primary."""
    token = _wanted.set(True)
    try:
        yield
    finally:
        _wanted.reset(token)


def replica_probe(where: str) -> bool:
    """True when the replica answers ``SELECT 1`` now; a failure is recorded (replica_failed)."""
    if not replica_usable():
        if replica_configured():
            metrics.replica_fallbacks.labels(reason="down").inc()
        return False
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        replica_failed(exc, where)
        return False
    return True


def from_replica(read: Callable[[], T], *, where: str) -> T:
    """``read()`` with its reads on the replica; if the replica fails, ``read()`` again on the primary.

    ``read`` must be safe to run twice (a read, or a page built from reads). A DatabaseError that the
    replica did not cause (it still answers) is raised unchanged.
    """
    if not replica_usable():
        if replica_configured():
            metrics.replica_fallbacks.labels(reason="down").inc()
        return read()
    try:
        with replica_reads():
            return read()
    except DatabaseError as exc:
        if replica_probe(where):  # records the failure when the replica does not answer
            raise
        logger.info("re-reading %s on the primary after: %s", where, exc)
    return read()
