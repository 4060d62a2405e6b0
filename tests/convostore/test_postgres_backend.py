"""convostore.postgres: the append statement is prepared (or not, for PgBouncer), and the per-request health check
costs no round trip yet a connection the server killed is replaced before a request uses it."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.db import close_old_connections, connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def msg(content):
    return {"role": "user", "content": content}


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_append_statement_is_prepared_on_the_server(api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "PREPARE_STATEMENTS": True}
    connection.close()  # a fresh session: nothing prepared yet
    for i in range(3):
        assert api.post("/v1/sessions/prep/append", msg(str(i)), format="json").status_code == 201
    assert api.post("/v1/sessions/prep/append", msg("k"), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    statements = prepared_statements()
    assert any("INSERT INTO sessions_app_conversation" in s for s in statements), statements
    assert any("INSERT INTO sessions_app_idempotencyrecord" in s for s in statements), statements
    assert len([s for s in statements if "INSERT INTO sessions_app_conversation" in s]) == 1  # one plan, reused
    assert [i["content"] for i in api.get("/v1/sessions/prep/items").json()["data"]] == ["0", "1", "2", "k"]


def test_with_preparation_off_nothing_is_prepared(api, settings):
    """CONVOSTORE_PREPARE_STATEMENTS=false, the setting for PgBouncer in transaction mode."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "PREPARE_STATEMENTS": False}
    connection.close()
    for i in range(3):
        assert api.post("/v1/sessions/noprep/append", msg(str(i)), format="json").status_code == 201
    assert api.post("/v1/sessions/noprep/append", msg("k"), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert prepared_statements() == []
    assert len(api.get("/v1/sessions/noprep/items").json()["data"]) == 4


def test_large_numbers_bind_as_bigint(api, settings, tenant):
    """Server-side binding sends ints as bigint: seqs past smallint and int ranges add without overflow."""
    from sessions_app.models import Conversation

    settings.CONVOSTORE = {**settings.CONVOSTORE, "PREPARE_STATEMENTS": True}
    api.post("/v1/sessions/big/append", msg("a"), format="json")
    Conversation.objects.filter(tenant=tenant, conversation_id="big").update(last_seq=2**31 + 5)
    response = api.post("/v1/sessions/big/append", {"items": [msg("b"), msg("c")]}, format="json")
    assert response.status_code == 201, response.content
    assert [item["seq"] for item in response.json()["items"]] == [2**31 + 6, 2**31 + 7]


def test_a_reused_connection_is_checked_without_a_round_trip(api, monkeypatch):
    api.post("/v1/sessions/hc/append", msg("a"), format="json")  # connection open and kept (CONN_MAX_AGE)
    checks = []
    monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: checks.append(1) or True)
    close_old_connections()  # what request_started does in a server (Django's test client skips it)
    assert api.get("/v1/sessions/hc").status_code == 200
    close_old_connections()
    assert api.post("/v1/sessions/hc/append", msg("b"), format="json").status_code == 201
    assert checks == []  # no SELECT 1 per request


def _kill_backend() -> int:
    """Terminate this process's Postgres backend from another session; wait until the termination reached us."""
    pid = connection.connection.info.backend_pid
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not select.select([connection.connection.pgconn.socket], [], [], 0.05)[0]:
        pass
    return pid


def test_a_killed_backend_connection_is_replaced_before_the_next_request_uses_it(api):
    assert api.post("/v1/sessions/kill/append", msg("before"), format="json").status_code == 201
    old = _kill_backend()
    close_old_connections()  # request_started, as a server sends it (Django's test client skips it)
    response = api.post("/v1/sessions/kill/append", msg("after"), format="json")
    assert response.status_code == 201, response.content
    assert connection.connection.info.backend_pid != old
    _kill_backend()
    close_old_connections()
    detail = api.get("/v1/sessions/kill")
    assert detail.status_code == 200 and detail.json()["version"] == 2 and detail.json()["items"] == 2
