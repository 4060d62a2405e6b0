"""Celery beat that schedules only while it holds a Postgres advisory lock, so a second beat is a standby.

django-celery-beat's DatabaseScheduler has no leader election: two beats would send every periodic task
twice. ``LockedDatabaseScheduler`` takes ``pg_try_advisory_lock(BEAT_LOCK)`` on a connection of its own
and sends nothing without it; a standby beat retries every STANDBY_POLL_SECONDS and takes over when the
holder's connection ends (process killed, host lost). Tasks due during a takeover may run once more
(last-run times are synced every few minutes); every periodic task is idempotent.
"""

from __future__ import annotations

import logging

import psycopg
from django.db import connections
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("convostore.beat")

BEAT_LOCK = 0x63736274  # "csbt": the advisory lock key, one per database
STANDBY_POLL_SECONDS = 5.0


class LockedDatabaseScheduler(DatabaseScheduler):
    """DatabaseScheduler gated on the beat lock (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        self._lock_conn = None
        self._standby_logged = False
        super().__init__(*args, **kwargs)

    def _lock_held(self) -> bool:
        """True while this beat holds the lock (checked on every tick: a lost connection loses the lock)."""
        if self._lock_conn is not None:
            try:
                self._lock_conn.execute("SELECT 1")
                return True
            except psycopg.Error as exc:
                logger.warning("beat lock lost with its connection: %s", exc)
                self._lock_conn.close()
                self._lock_conn = None
        try:
            params = connections["default"].get_connection_params()
            conn = psycopg.connect(**params, autocommit=True)
            taken = conn.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK]).fetchone()[0]
        except psycopg.Error as exc:
            logger.warning("beat lock unavailable (Postgres): %s", exc)
            return False
        if not taken:
            conn.close()
            if not self._standby_logged:
                logger.info("another beat holds the beat lock: standing by")
                self._standby_logged = True
            return False
        self._lock_conn, self._standby_logged = conn, False
        self._initial_read, self._heap = True, None  # re-read last-run times the previous holder saved
        logger.info("beat lock taken: this beat schedules the periodic tasks")
        return True

    def tick(self, *args, **kwargs):
        if not self._lock_held():
            return STANDBY_POLL_SECONDS
        return super().tick(*args, **kwargs)

    def close(self):
        super().close()
        if self._lock_conn is not None:
            self._lock_conn.close()
            self._lock_conn = None
