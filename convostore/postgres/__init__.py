"""ConvoStore's Postgres backend (Django's, with a health check that costs no round trip) and prepared statements.

ENGINE ``convostore.postgres`` (convostore.postgres.base) is Django's psycopg 3 backend with one change:
the per-request health check (``CONN_HEALTH_CHECKS``) looks at the connection's socket instead of
sending ``SELECT 1``. ``prepared_cursor()`` runs a hot statement as a server-side prepared statement.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import connections
from psycopg.types.numeric import Int8Dumper
from psycopg.types.string import StrDumper


def prepare_enabled() -> bool:
    """CONVOSTORE["PREPARE_STATEMENTS"] (env CONVOSTORE_PREPARE_STATEMENTS, default true); false behind PgBouncer
    in transaction mode older than 1.21, which cannot carry a prepared statement from one transaction to the next."""
    return bool(settings.CONVOSTORE.get("PREPARE_STATEMENTS", True))


class PreparingCursor(psycopg.Cursor):
    """psycopg's server-side-binding cursor that prepares every statement it runs (``prepare=False``: none).
    Every Python int is sent as bigint and every str as text, so a plan never depends on a value's size, ``%(a)s + %(b)s`` never overflows
    smallint arithmetic, and a string compared with a varchar column and inserted into one has one type."""

    def __init__(self, connection, *, prepare: bool = True, **kwargs):
        super().__init__(connection, **kwargs)
        self.adapters.register_dumper(int, Int8Dumper)
        self.adapters.register_dumper(str, StrDumper)
        self.prepare = prepare

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=self.prepare if prepare is None else prepare, binary=binary)


@contextmanager
def prepared_cursor(using: str = "default"):
    """A Django cursor (errors wrapped as django.db errors, queries counted and logged like any other) whose
    ``execute`` prepares the statement on the server the first time this connection runs it and reuses the plan.

    Parameters are bound on the server: a parameter whose type Postgres cannot infer needs a cast in the
    SQL (``%(x)s::bigint``), and a ``%(x)b`` placeholder sends its value in binary (a ``list[str]`` as a
    binary ``text[]``: copied, never quoted into an array literal character by character). With
    CONVOSTORE["PREPARE_STATEMENTS"] off, parameters are still bound on the server but nothing is prepared
    (unnamed statements, which PgBouncer in transaction mode carries).
    """
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = PreparingCursor(connection.connection, prepare=prepare_enabled())
        wrapped = connection._prepare_cursor(raw)
    with wrapped as cursor:
        yield cursor


def model_columns(model, alias: str) -> str:
    """``alias.col, …`` for every concrete field of ``model`` in field order (what ``model_row`` expects first)."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def model_row(model, sql: str, params, *, using: str = "default"):
    """``(instance, rest of the row)`` from the first row of ``sql`` run as a prepared statement, or None for no row.

    The row's first columns are ``model_columns(model, …)``; the rest come back as a tuple (``model_instance``
    builds a second model from them). For the hottest reads, where compiling the ORM query cost more than
    running it.
    """
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(model._meta.concrete_fields)
    return model_instance(model, row[:width], using=using), tuple(row[width:])


def model_instance(model, values, *, using: str = "default"):
    """An instance of ``model`` from the values of its concrete fields, in field order, as the ORM builds one:
    each value passes its field's ``from_db_value`` (JSON columns arrive as text)."""
    fields = model._meta.concrete_fields
    values = [
        field.from_db_value(value, None, connections[using]) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values)
    ]
    return model.from_db(using, [field.attname for field in fields], values)
