"""Django's PostgreSQL backend whose per-request health check is a socket poll instead of a ``SELECT 1`` round trip.

A connection the server has closed (a restart, ``pg_terminate_backend``, an idle timeout, a proxy
dropping it) has the server's termination message or EOF waiting on its socket, so a zero-timeout poll
finds it with one system call; only then does Django's ``SELECT 1`` run, and the connection is replaced
before the request uses it when that fails. A healthy idle connection has nothing to read. What a poll
cannot see (a peer that vanished without a FIN) fails the request's first statement instead: 503
``database_unavailable``, nothing written, and Django drops the connection when that request ends
(errors_occurred → is_usable()), so the next request reconnects.
"""

from __future__ import annotations

import select

import psycopg
from django.db.backends.postgresql.base import DatabaseWrapper as PostgresDatabaseWrapper
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations


class DatabaseOperations(PostgresOperations):
    def last_executed_query(self, cursor, sql, params):
        """psycopg keeps no query text for a prepared statement it runs by name: log the SQL as written."""
        return super().last_executed_query(cursor, sql, params) or sql


class DatabaseWrapper(PostgresDatabaseWrapper):
    ops_class = DatabaseOperations

    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self.socket_looks_usable() and not self.is_usable():  # something pending: Django's SELECT 1 decides
            self.close()
        self.health_check_done = True

    def socket_looks_usable(self) -> bool:
        """False when the connection is closed or broken, or the server has sent something nobody asked for."""
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        try:
            readable, _, _ = select.select([raw.pgconn.socket], [], [], 0)
        except (OSError, ValueError, psycopg.Error):
            return False
        return not readable

