"""Redis flushed, stopped or hung: Postgres stays the truth, every answer is unchanged, and windows are rebuilt.

Every test here runs on its own redis-server (``own_redis``) so it may flush, stop or SIGSTOP it.
"""

import json
import threading

import pytest
import redis
from django.db import connection

from cache_app import hot_window, redis_client
from sessions_app.services.outbox import outbox_apply
from sessions_app.models import InvalidationOutbox
from tests.factories import msg, store

pytestmark = pytest.mark.django_db


def resolve(api, response_id):
    return api.get("/v1/sessions/resolve", {"previous_response_id": response_id})


def raw_client(server):
    return redis.Redis.from_url(server.url, socket_timeout=2)


def bounded(call, seconds=30):
    """Run ``call`` in a thread; fail (rather than hang the suite) if it never returns.

    The thread has its own DB connection, so tests using it need committed data (transaction=True).
    """
    box = {}

    def target():
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the request hung on a Redis that does not answer"
    if "error" in box:
        raise box["error"]
    return box["value"]


def conversation(api):
    api.post("/v1/sessions/c/append", msg("system", "Be brief."), format="json")
    first = store(api, conversation_id="c", input=[msg("user", "q1")], output=[msg("assistant", "a1 ✓")])
    second = store(api, previous_response_id=first["response_id"], input=[msg("user", "q2")], output=[msg("assistant", "a2")])
    return first, second


def test_flushall_between_append_and_resolve_gives_byte_identical_answer_and_rebuilds(api, own_redis):
    first, second = conversation(api)
    hot_first, hot_second = resolve(api, first["response_id"]), resolve(api, second["response_id"])
    assert hot_second.status_code == 200
    raw_client(own_redis).flushall()
    assert hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="c") is None
    cold_second = resolve(api, second["response_id"])
    assert cold_second.content == hot_second.content
    window = hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="c")
    assert window is not None and window.version == 3 and window.holds(0, 5) and len(window.entries) == 5
    assert resolve(api, first["response_id"]).content == hot_first.content
    assert resolve(api, second["response_id"]).content == hot_second.content


def test_flushall_then_append_then_resolve(api, own_redis):
    first, _ = conversation(api)
    raw_client(own_redis).flushall()
    third = store(api, conversation_id="c", output=[msg("assistant", "a3")])
    assert [i["content"] for i in resolve(api, third["response_id"]).json()["items"]] == ["Be brief.", "q1", "a1 ✓", "q2", "a2", "a3"]
    assert [i["content"] for i in resolve(api, first["response_id"]).json()["items"]] == ["Be brief.", "q1", "a1 ✓"]


def check_everything_works(api, prefix):
    """Append, store, resolve, list, read: all from Postgres."""
    appended = api.post(f"/v1/sessions/{prefix}/append", msg("user", "hello"), format="json")
    assert appended.status_code == 201, appended.content
    stored = store(api, conversation_id=prefix, input=[msg("user", "q")], output=[msg("assistant", "a")])
    resolved = resolve(api, stored["response_id"])
    assert resolved.status_code == 200
    assert [i["content"] for i in resolved.json()["items"]] == ["hello", "q", "a"]
    items = api.get(f"/v1/sessions/{prefix}/items").json()["data"]
    assert [i["seq"] for i in items] == [1, 2, 3]
    assert api.get(f"/v1/sessions/{prefix}").json()["version"] == 2
    return resolved


def test_redis_stopped_everything_still_works(api, own_redis):
    api.get("/v1/sessions/warm")  # the key is cached in Redis now
    own_redis.stop()
    check_everything_works(api, "stopped")
    assert InvalidationOutbox.objects.filter(conversation_id="stopped").exists()


def test_redis_stopped_then_back_serves_fresh_answers(api, own_redis):
    first, second = conversation(api)
    before = resolve(api, second["response_id"]).content
    own_redis.stop()
    third = store(api, previous_response_id=second["response_id"], output=[msg("assistant", "while down")])
    own_redis.start()
    redis_client.reset_breaker()
    assert resolve(api, second["response_id"]).json()["items"] == json.loads(before)["items"]
    assert resolve(api, second["response_id"]).json()["version"] == 4
    items = [i["content"] for i in resolve(api, third["response_id"]).json()["items"]]
    assert items[-1] == "while down" and len(items) == 6


@pytest.mark.django_db(transaction=True)
def test_redis_hanging_everything_still_works(api, own_redis):
    first, second = conversation(api)
    hot = resolve(api, second["response_id"]).content
    own_redis.hang()
    try:
        assert bounded(lambda: resolve(api, second["response_id"])).content == hot
        redis_client.reset_breaker()  # pay the timeout again on every call below
        bounded(lambda: check_everything_works(api, "hung"))
        redis_client.reset_breaker()
        appended = bounded(lambda: api.post("/v1/sessions/c/append", msg("user", "more"), format="json"))
        assert appended.status_code == 201
    finally:
        own_redis.resume()


def test_outbox_records_a_failed_window_update_and_the_sweep_drops_the_stale_window(api, own_redis):
    api.post("/v1/sessions/ob/append", msg("user", "one"), format="json")
    own_redis.stop()
    assert api.post("/v1/sessions/ob/append", msg("user", "two"), format="json").status_code == 201
    record = InvalidationOutbox.objects.get(conversation_id="ob")
    assert record.tenant_id_value == api.tenant.pk
    own_redis.start()
    redis_client.reset_breaker()
    # What a Redis that kept its data would hold: the window at the version before the failed update.
    hot_window.window_rebuild(
        tenant_id=api.tenant.pk, conversation_id="ob", version=1, last_seq=1, tokens=1, window_size=64,
        entries=[hot_window.Entry(1, 1, '{"content":"one"}')], full=True,
    )
    assert hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="ob").version == 1
    assert outbox_apply() == 1
    assert hot_window.window_read(tenant_id=api.tenant.pk, conversation_id="ob") is None
    assert not InvalidationOutbox.objects.exists()
    assert [i["content"] for i in api.get("/v1/sessions/ob/items").json()["data"]] == ["one", "two"]


def test_outbox_sweep_keeps_rows_while_redis_is_still_down(api, own_redis):
    own_redis.stop()
    api.post("/v1/sessions/ob2/append", msg("user", "one"), format="json")
    redis_client.reset_breaker()
    assert outbox_apply() == 0
    record = InvalidationOutbox.objects.get(conversation_id="ob2")
    assert record.attempts == 1


def test_outbox_sweep_command_is_the_twin(api, own_redis):
    from io import StringIO

    from django.core.management import call_command

    own_redis.stop()
    api.post("/v1/sessions/ob3/append", msg("user", "one"), format="json")
    own_redis.start()
    redis_client.reset_breaker()
    out = StringIO()
    call_command("outbox_sweep", stdout=out)
    assert "1" in out.getvalue()
    assert not InvalidationOutbox.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_stale_window_left_by_a_failed_update_is_dropped_by_the_next_append(api, own_redis):
    api.post("/v1/sessions/st/append", msg("user", "one"), format="json")
    own_redis.hang()
    try:
        bounded(lambda: api.post("/v1/sessions/st/append", msg("user", "two"), format="json"))
    finally:
        own_redis.resume()
    redis_client.reset_breaker()
    third = store(api, conversation_id="st", output=[msg("assistant", "three")])
    assert [i["content"] for i in resolve(api, third["response_id"]).json()["items"]] == ["one", "two", "three"]
    assert [i["content"] for i in api.get("/v1/sessions/st/items").json()["data"]] == ["one", "two", "three"]


def test_readyz_reports_redis_down_but_stays_ready(client, own_redis, db):
    assert client.get("/readyz").json()["redis"] == "ok"
    own_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["postgres"] == "ok" and body["redis"] != "ok"


@pytest.mark.django_db(transaction=True)
def test_readyz_with_redis_hanging_answers(client, own_redis, db):
    own_redis.hang()
    try:
        response = bounded(lambda: client.get("/readyz"))
    finally:
        own_redis.resume()
    assert response.status_code == 200 and response.json()["redis"] != "ok"
