"""Log lines: the ids of the request or task on every line (Django's own 4xx/5xx lines and Celery's too), never content."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from convostore.observability import ContextFilter
from sessions_app.models import Conversation
from tests.api.test_observability import json_formatter
from tests.archive_app.test_worker_kill_archive import database_url, wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET_TEXT = "zebra-7f3a-confidential-diagnosis"
SECRET_KEY_NAME = "ssn_4c1d"
SECRET_VALUE = "078-05-1120-q9"


@pytest.fixture
def json_lines():
    """Every log line of the test, at DEBUG, as the configured JSON formatter and context filter write them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.django_db
def test_djangos_own_4xx_lines_carry_the_request_ids_not_the_request_object(api, json_lines):
    api.post("/v1/sessions/known/append", {"items": [{"role": "user", "content": "hi"}]}, format="json")
    api.get("/v1/sessions/known/items", {"limit": "many"}, HTTP_X_REQUEST_ID="req-400")
    api.get("/v1/sessions/missing", HTTP_X_REQUEST_ID="req-404")
    Client().get("/v1/sessions/missing", HTTP_X_REQUEST_ID="req-401")
    lines = {line["request_id"]: line for line in json_lines() if line["logger"] == "django.request"}
    assert set(lines) == {"req-400", "req-404", "req-401"}, json_lines()
    for request_id, status in (("req-400", 400), ("req-404", 404)):
        line = lines[request_id]
        assert (line["status_code"], line["tenant_id"], line["method"]) == (status, api.tenant.pk, "GET")
        assert line["conversation_id"] == ("known" if status == 400 else "missing")
        assert "request" not in line and "WSGIRequest" not in json.dumps(line)
    assert "tenant_id" not in lines["req-401"]  # no key: no tenant known


@pytest.mark.django_db(transaction=True)
def test_celery_task_lines_are_json_with_the_task_and_conversation_ids(tenant, own_redis, redis_prefix, tmp_path):
    from convostore.celery import app
    from sessions_app.services import conversation_append

    conversation_append(tenant=tenant, conversation_id="tasked", items=[{"role": "user", "content": "x"}] * 3)
    pk = Conversation.objects.get(conversation_id="tasked").pk
    broker = own_redis.url.rsplit("/", 1)[0] + "/1"
    log = tmp_path / "worker.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "convostore.settings.base", "DATABASE_URL": database_url(),
           "REDIS_URL": own_redis.url, "CELERY_BROKER_URL": broker, "CONVOSTORE_KEY_PREFIX": redis_prefix,
           "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "convostore", "worker", "--pool", "solo",
                               "-Q", "log-test", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                              env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        with app.connection_for_write(broker) as connection:
            task_id = app.send_task("convostore.archive_conversation", args=[pk], connection=connection, queue="log-test").id
        wait_for(lambda: f"{task_id}" in log.read_text() and "succeeded" in log.read_text(), "the task's success line", 120)
    finally:
        worker.terminate()
        worker.wait(30)
    text = log.read_text()
    assert all(line.startswith("{") for line in text.splitlines() if task_id in line), text[-2000:]  # the banner is not a log line
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    done = [line for line in lines if line.get("task_id") == task_id and "succeeded" in line["message"]]
    assert done, lines[-5:]
    assert (done[0]["task"], done[0]["tenant_id"], done[0]["conversation_id"]) == (
        "convostore.archive_conversation", tenant.pk, "tasked")


@pytest.mark.django_db
def test_no_log_line_carries_item_content_metadata_or_keys(api, json_lines, admin_client):
    secret_item = {"role": "user", "content": f"my {SECRET_TEXT} please"}
    metadata = {SECRET_KEY_NAME: SECRET_VALUE}
    api.post("/v1/sessions/s1/append", {"items": [secret_item] * 3, "metadata": metadata}, format="json")
    api.post("/v1/sessions/s1/append", {"items": [secret_item], "expected_version": 99}, format="json")  # 409
    api.post("/v1/sessions/s2/append", {"items": [secret_item], "metadata": {SECRET_KEY_NAME * 20: SECRET_VALUE}}, format="json")
    api.post("/v1/sessions/s2/append", {"items": [{"role": "user", "content": SECRET_TEXT + "\u0000"}]}, format="json")
    api.post("/v1/sessions/responses", {"conversation_id": "s1", "response_id": "resp_s1", "input": [secret_item],
                                        "output": [{"role": "assistant", "content": SECRET_TEXT}]}, format="json")
    api.get("/v1/sessions/resolve", {"previous_response_id": "resp_s1"})
    api.get("/v1/sessions/s1/context", {"query": SECRET_TEXT, "recall_k": 2})
    api.post("/v1/conversations", {"items": [secret_item], "metadata": metadata}, format="json")
    api.post("/v1/cache/store", {"namespace": "m", "text": SECRET_TEXT, "response": {"text": SECRET_TEXT}}, format="json")
    api.post("/v1/cache/lookup", {"namespace": "m", "text": SECRET_TEXT}, format="json")
    conversation = Conversation.objects.get(tenant=api.tenant, conversation_id="s1")
    for command in (["evict", "--idle-seconds", "0"], ["archive", "--all"], ["rehydrate", "s1"], ["summarise", "--force"],
                    ["embed"], ["export_conversations"], ["verify_archives"]):
        call_command(*command, stdout=io.StringIO(), stderr=io.StringIO())
    admin_client.get(f"/admin/sessions_app/conversation/{conversation.pk}/change/")
    admin_client.get("/admin/sessions_app/conversation/", {"q": SECRET_TEXT})
    written = "\n".join(json.dumps(line, ensure_ascii=False) for line in json_lines())
    assert len(json_lines()) >= 3  # the run did log (at least the 4xx lines)
    for secret in (SECRET_TEXT, SECRET_KEY_NAME, SECRET_VALUE, api.raw_key, api.raw_key[12:]):
        assert secret not in written, secret
