"""A real hot standby of the test Postgres behind DATABASE_REPLICA_URL's router: the admin lists, the dashboard,
archive_stats and ``export --from-replica`` read it; API reads and admin change pages never do, so a resolve
right after an append is fresh even with WAL replay paused; a replica that goes away degrades those reads to
the primary (logged, counted), never to an error.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import os

import pytest
from django.core.management import call_command
from django.db import connection, connections
from prometheus_client import REGISTRY

from convostore import db_router
from sessions_app.models import Conversation
from tests.conftest import make_client
from tests.factories import TenantFactory
from tests.scale.engines import PostgresStandby

pytestmark = [
    pytest.mark.skipif(not os.environ.get("CONVOSTORE_EMBEDDED_PGDATA"), reason="needs the embedded Postgres of `make test`"),
    pytest.mark.django_db(transaction=True, databases=["default", db_router.REPLICA]),
]


@pytest.fixture(scope="module")
def standby(django_db_setup, django_db_blocker):
    """One standby for the module, built after the test database exists (so it holds it), and the ``replica``
    alias pointed at it as DATABASE_REPLICA_URL would configure it (a test mirror: never flushed).

    Module-scoped so the alias exists before each test's database set-up, which must allow it."""
    primary = connections.settings["default"]
    engine = PostgresStandby(primary["HOST"] or "127.0.0.1", int(primary["PORT"]), os.environ.get("CONVOSTORE_EMBEDDED_PGUSER"))
    engine.start()
    config = copy.deepcopy(primary)
    config.update(HOST="127.0.0.1", PORT=str(engine.port), TEST={**config.get("TEST", {}), "MIRROR": "default"})
    connections.settings[db_router.REPLICA] = config
    yield engine
    connections[db_router.REPLICA].close()
    del connections[db_router.REPLICA]
    del connections.settings[db_router.REPLICA]
    engine.remove()


@pytest.fixture
def replica(standby):
    db_router.replica_reset()
    yield standby
    db_router.replica_reset()


def _caught_up(standby) -> None:
    """Block until the standby replayed everything the primary wrote so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        lsn = cursor.fetchone()[0]
    for _ in range(600):
        if standby.caught_up(lsn):
            return
        standby.sql("SELECT pg_sleep(0.05)")
    raise AssertionError("the standby did not catch up")


def _export(*args) -> list[str]:
    out = io.StringIO()
    call_command("export_conversations", *args, stdout=out, verbosity=0)
    return [json.loads(line)["conversation_id"] for line in out.getvalue().splitlines()]


def _fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("db_replica_fallbacks_total", {"reason": reason}) or 0.0


def test_stale_reads_use_the_replica_and_own_writes_never_do(replica, admin_client):
    api = make_client(TenantFactory())
    assert api.post("/v1/sessions/before/append", {"role": "user", "content": "seen by both"}, format="json").status_code == 201
    _caught_up(replica)
    replica.pause()
    try:
        stored = api.post("/v1/sessions/responses", {"conversation_id": "after", "input": [{"role": "user", "content": "q"}],
                                                      "output": [{"role": "assistant", "content": "fresh"}]}, format="json")
        assert stored.status_code == 201
        resolved = api.get("/v1/sessions/resolve", {"previous_response_id": stored.json()["response_id"]})
        assert [item["content"] for item in resolved.json()["items"]] == ["q", "fresh"]  # the API reads the primary
        assert api.get("/v1/sessions/after/items").status_code == 200

        listing = admin_client.get("/admin/sessions_app/conversation/")
        assert listing.status_code == 200
        assert b"before" in listing.content and b">after<" not in listing.content  # the replica, a moment behind
        after = Conversation.objects.get(conversation_id="after")
        assert admin_client.get(f"/admin/sessions_app/conversation/{after.pk}/change/").status_code == 200  # the primary
        dashboard = admin_client.get("/admin/dashboard/")
        assert dashboard.status_code == 200
        assert sum(t["conversations"] for t in dashboard.context["tiers"].values()) == 1  # counted on the replica
        stats = io.StringIO()
        call_command("archive_stats", "--json", stdout=stats)
        assert json.loads(stats.getvalue()) == []

        assert _export("--from-replica") == ["before"]
        assert sorted(_export()) == ["after", "before"]  # a data-subject export reads the primary by default
    finally:
        replica.resume()
    _caught_up(replica)
    assert b">after<" in admin_client.get("/admin/sessions_app/conversation/").content


def test_a_replica_that_goes_away_degrades_to_the_primary_never_to_an_error(replica, admin_client, caplog):
    api = make_client(TenantFactory())
    assert api.post("/v1/sessions/kept/append", {"role": "user", "content": "x"}, format="json").status_code == 201
    _caught_up(replica)
    assert admin_client.get("/admin/sessions_app/conversation/").status_code == 200  # connects to the replica
    errors, down = _fallbacks("error"), _fallbacks("down")
    replica.stop()
    assert api.post("/v1/sessions/late/append", {"role": "user", "content": "y"}, format="json").status_code == 201

    with caplog.at_level(logging.WARNING, logger="convostore.db"):
        listing = admin_client.get("/admin/sessions_app/conversation/")
    assert listing.status_code == 200 and b">late<" in listing.content  # answered by the primary
    assert "replica read failed" in caplog.text
    assert _fallbacks("error") == errors + 1
    assert admin_client.get("/admin/dashboard/").status_code == 200
    assert sorted(_export("--from-replica")) == ["kept", "late"]
    assert _fallbacks("down") >= down + 2  # the dashboard and the export skipped the replica while it is marked down
