"""Concurrent writers on one conversation: CAS retries, concurrent creation, concurrent idempotent retries, racing forks.

Threads each use their own APIClient and their own DB connection (closed at the end of the thread).
"""

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from sessions_app.models import Conversation, IdempotencyRecord, Item, Response

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(api) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.raw_key}")
    return client


def run_threads(count, target):
    """Run target(index, barrier) in ``count`` threads; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors = []

    def wrapped(index):
        try:
            target(index, barrier)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(t.is_alive() for t in threads), "a writer thread hung"
    if errors:
        raise errors[0]


def assert_gapless(conversation_id, expected_count):
    conversation = Conversation.objects.get(conversation_id=conversation_id)
    seqs = list(Item.objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, expected_count + 1))
    assert conversation.last_seq == expected_count and conversation.item_count == expected_count
    return conversation


def test_eight_writers_fifty_cas_appends_each(api):
    writers, per_writer = 8, 50
    acknowledged = [[] for _ in range(writers)]
    conflicts = Counter()

    def writer(index, barrier):
        client = client_for(api)
        version = 0
        barrier.wait()
        for n in range(per_writer):
            while True:
                item = {"id": f"msg_w{index}_{n}", "role": "user", "content": f"w{index} n{n}"}
                response = client.post("/v1/sessions/race/append", {"items": [item], "expected_version": version}, format="json")
                if response.status_code == 201:
                    body = response.json()
                    acknowledged[index].append((item["id"], body["items"][0]["seq"], body["version"]))
                    version = body["version"]
                    break
                assert response.status_code == 409, response.content
                error = response.json()["error"]
                assert error["code"] == "version_conflict"
                assert error["current_version"] >= version
                conflicts[index] += 1
                version = error["current_version"]

    run_threads(writers, writer)
    total = writers * per_writer
    conversation = assert_gapless("race", total)
    assert conversation.version == total
    stored = dict(Item.objects.filter(conversation=conversation).values_list("item_id", "seq"))
    flat = [ack for acks in acknowledged for ack in acks]
    assert len(flat) == total
    assert len({seq for _, seq, _ in flat}) == total, "two acknowledged appends got the same seq"
    assert len({version for _, _, version in flat}) == total, "two acknowledged appends got the same version"
    for item_id, seq, _ in flat:
        assert stored[item_id] == seq
    # The hot window (if present) agrees with Postgres.
    items = client_for(api).get("/v1/sessions/race/items", {"order": "desc", "limit": 5}).json()["data"]
    assert [i["seq"] for i in items] == list(range(total, total - 5, -1))


def test_concurrent_creation_of_one_new_id(api):
    writers = 8
    answers = [None] * writers

    def creator(index, barrier):
        client = client_for(api)
        barrier.wait()
        answers[index] = client.post("/v1/sessions/born-together/append", {"role": "user", "content": f"c{index}"}, format="json")

    run_threads(writers, creator)
    assert [a.status_code for a in answers] == [201] * writers, [a.content for a in answers if a.status_code != 201]
    assert sorted(a.json()["items"][0]["seq"] for a in answers) == list(range(1, writers + 1))
    assert sorted(a.json()["version"] for a in answers) == list(range(1, writers + 1))
    assert Conversation.objects.filter(conversation_id="born-together").count() == 1
    assert_gapless("born-together", writers)


def test_concurrent_plain_appends_are_gapless(api):
    writers, per_writer = 4, 10

    def writer(index, barrier):
        client = client_for(api)
        barrier.wait()
        for n in range(per_writer):
            items = [{"role": "user", "content": f"{index}-{n}-{k}"} for k in range(3)]
            response = client.post("/v1/sessions/plain/append", {"items": items}, format="json")
            assert response.status_code == 201, response.content
            seqs = [i["seq"] for i in response.json()["items"]]
            assert seqs == list(range(seqs[0], seqs[0] + 3)), "one call's items must be contiguous"

    run_threads(writers, writer)
    assert_gapless("plain", writers * per_writer * 3)


def test_concurrent_retries_with_one_idempotency_key_append_once(api):
    writers = 6
    answers = [None] * writers
    body = {"items": [{"role": "user", "content": "once"}]}

    def retrier(index, barrier):
        client = client_for(api)
        barrier.wait()
        answers[index] = client.post("/v1/sessions/once/append", body, format="json", HTTP_IDEMPOTENCY_KEY="same")

    run_threads(writers, retrier)
    assert [a.status_code for a in answers] == [201] * writers
    assert all(a.json() == answers[0].json() for a in answers)
    assert sum(a.get("Idempotent-Replayed") == "true" for a in answers) == writers - 1
    assert_gapless("once", 1)


def test_concurrent_store_response_retries_with_one_idempotency_key_store_once(api):
    api.post("/v1/sessions/rs-once/append", {"role": "user", "content": "x"}, format="json")
    writers = 4
    answers = [None] * writers
    body = {"conversation_id": "rs-once", "input": [{"role": "user", "content": "q"}], "output": [{"role": "assistant", "content": "a"}]}

    def retrier(index, barrier):
        client = client_for(api)
        barrier.wait()
        answers[index] = client.post("/v1/sessions/responses", body, format="json", HTTP_IDEMPOTENCY_KEY="same")

    run_threads(writers, retrier)
    assert [a.status_code for a in answers] == [201] * writers, [(a.status_code, a.content) for a in answers]
    assert all(a.json() == answers[0].json() for a in answers)
    assert Response.objects.filter(conversation__conversation_id="rs-once").count() == 1
    assert IdempotencyRecord.objects.filter(key="same").count() == 1


def test_racing_responses_on_one_head_append_once_and_fork_the_rest(api):
    first = api.post(
        "/v1/sessions/responses", {"conversation_id": "head", "input": [{"role": "user", "content": "q"}]}, format="json"
    ).json()
    writers = 4
    answers = [None] * writers

    def storer(index, barrier):
        client = client_for(api)
        barrier.wait()
        answers[index] = client.post(
            "/v1/sessions/responses",
            {"previous_response_id": first["response_id"], "output": [{"role": "assistant", "content": f"a{index}"}]},
            format="json",
        )

    run_threads(writers, storer)
    assert [a.status_code for a in answers] == [201] * writers
    bodies = [a.json() for a in answers]
    assert sum(not b["forked"] for b in bodies) == 1
    assert len({b["conversation_id"] for b in bodies if b["forked"]}) == writers - 1
    for body, index in zip(bodies, range(writers)):
        resolved = api.get("/v1/sessions/resolve", {"previous_response_id": body["response_id"]}).json()
        assert [i["content"] for i in resolved["items"]] == ["q", f"a{index}"]


def test_concurrent_stores_with_one_client_response_id(api):
    writers = 4
    answers = [None] * writers

    def storer(index, barrier):
        client = client_for(api)
        barrier.wait()
        answers[index] = client.post(
            "/v1/sessions/responses",
            {"response_id": "resp_fixed", "conversation_id": f"cr{index}", "input": [{"role": "user", "content": "q"}]},
            format="json",
        )

    run_threads(writers, storer)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * (writers - 1), [(a.status_code, a.content) for a in answers]
    assert all(a.json()["error"]["code"] == "response_id_taken" for a in answers if a.status_code == 409)
    assert Response.objects.filter(response_id="resp_fixed").count() == 1
    # The losers changed nothing: their conversations were not created.
    assert Conversation.objects.filter(conversation_id__startswith="cr").count() == 1
