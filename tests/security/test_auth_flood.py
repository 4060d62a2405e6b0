"""Unauthenticated requests write nothing and cost little: junk keys, malformed headers, floods per address.

Redis is the test's own server, so DBSIZE and INFO commandstats see everything; Postgres queries are
captured. See docs/reliability.md, "Hostile input".
"""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cache_app import api_keys, redis_client
from sessions_app import auth, throttling
from sessions_app.auth import unknown_keys
from sessions_app.models import ApiKey
from sessions_app.services import api_key_create, api_key_revoke
from sessions_app.services.tenants import KEY_PREFIX_LEN, hash_key
from sessions_app.throttling import auth_failures

pytestmark = pytest.mark.django_db

WRITES = ("set", "incr", "incrby", "expire", "pexpire", "del", "unlink", "hset", "rpush", "zadd", "sadd")


def junk_key() -> str:
    """A key of the issued format that no one was issued: it must be looked up to be refused."""
    return f"cs_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


class RedisCounters:
    def __init__(self):
        self.client = redis_client.connection("hot")

    def snapshot(self) -> dict:
        stats = self.client.info("commandstats")
        calls = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
        return {"keys": self.client.dbsize(), "calls": calls}

    @staticmethod
    def diff(before, after) -> dict:
        names = set(before["calls"]) | set(after["calls"])
        calls = {n: after["calls"].get(n, 0) - before["calls"].get(n, 0) for n in names}
        calls = {n: c for n, c in calls.items() if n not in ("info", "dbsize") and not n.startswith(("client", "hello"))}
        return {"keys": after["keys"] - before["keys"], "calls": {n: c for n, c in calls.items() if c}}


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    """Hold the clocks of both rate windows still, so no test straddles a minute boundary."""
    now = (time.time() // 60) * 60 + 1
    monkeypatch.setattr(throttling, "clock", lambda: now)
    monkeypatch.setattr(api_keys, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture
def redis_counters(own_redis):
    """Counters of the test's own Redis, after one lookup (so the auth script is loaded and a connection open)."""
    call(junk_key(), address="192.0.2.99")
    auth_failures.clear()
    unknown_keys.clear()
    return RedisCounters()


def call(key: str | None = None, *, header: str | None = None, address: str = "203.0.113.7"):
    client = APIClient(REMOTE_ADDR=address)
    return client.get("/v1/sessions/missing", HTTP_AUTHORIZATION=header if header is not None else f"Bearer {key}")


def test_issued_keys_have_the_format_authentication_expects(tenant):
    assert auth.KEY_FORMAT.fullmatch(api_key_create(tenant=tenant).raw_key)


def test_a_flood_of_junk_keys_writes_nothing_and_reads_postgres_at_most_the_limit(tenant, settings, redis_counters):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_FAILURES_PER_MINUTE": 20}
    before = redis_counters.snapshot()
    with CaptureQueriesContext(connection) as queries:
        statuses = [call(junk_key()).status_code for _ in range(200)] + [call(header=f"Bearer junk-{n}").status_code for n in range(50)]
    changed = redis_counters.diff(before, redis_counters.snapshot())
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}, [(i, s) for i, s in enumerate(statuses) if s != 429]
    assert changed["keys"] == 0
    assert not any(name in changed["calls"] for name in WRITES), changed
    assert changed["calls"].get("evalsha", 0) <= 20  # one read per looked-up key: the limit, not the flood
    assert len(queries) <= 20, [q["sql"] for q in queries]
    assert not [q for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]


def test_a_failed_authentication_writes_nothing_even_without_a_limit(tenant, settings, redis_counters):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_FAILURES_PER_MINUTE": 0}
    before = redis_counters.snapshot()
    with CaptureQueriesContext(connection) as queries:
        statuses = {call(junk_key()).status_code for _ in range(200)}
    changed = redis_counters.diff(before, redis_counters.snapshot())
    assert statuses == {401}
    assert changed["keys"] == 0 and not any(name in changed["calls"] for name in WRITES), changed
    assert not [q for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]


def test_a_repeated_unknown_key_is_answered_from_the_negative_cache(tenant, redis_counters):
    key = junk_key()
    before = redis_counters.snapshot()
    with CaptureQueriesContext(connection) as queries:
        assert {call(key).status_code for _ in range(30)} == {401}
    changed = redis_counters.diff(before, redis_counters.snapshot())
    assert len(queries) == 1
    assert changed["calls"] == {"evalsha": 1, "get": 1}, changed  # the one lookup (auth_count.lua's GET)


def test_a_key_created_after_being_remembered_as_unknown_works_within_the_ttl(tenant, settings, monkeypatch):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_NEGATIVE_CACHE_SECONDS": 10}
    now = [1000.0]
    monkeypatch.setattr(auth, "clock", lambda: now[0])
    raw = junk_key()
    assert call(raw).status_code == 401
    ApiKey.objects.create(tenant=tenant, name="late", prefix=raw[:KEY_PREFIX_LEN], key_hash=hash_key(raw))
    now[0] += 9.9
    assert call(raw).status_code == 401  # still remembered: the bound is the TTL, not "at once"
    now[0] += 0.2
    assert call(raw).status_code == 404  # authenticated: the conversation is missing


def test_a_revoked_key_writes_nothing_to_redis(tenant, redis_counters):
    issued = api_key_create(tenant=tenant)
    assert call(issued.raw_key).status_code == 404
    api_key_revoke(prefix=issued.api_key.prefix)
    before = redis_counters.snapshot()
    assert {call(issued.raw_key).status_code for _ in range(5)} == {401}
    changed = redis_counters.diff(before, redis_counters.snapshot())
    assert changed["keys"] == 0 and not any(name in changed["calls"] for name in WRITES), changed


def test_an_address_over_its_failures_gets_429_in_the_openai_shape_and_others_do_not(tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_FAILURES_PER_MINUTE": 3}
    known = api_key_create(tenant=tenant).raw_key
    assert call(known).status_code == 404  # this process has now seen the key valid
    assert [call(junk_key()).status_code for _ in range(4)] == [401, 401, 401, 429]
    limited = call(junk_key())
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error" and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited["Retry-After"]) >= 1
    assert call(junk_key(), address="198.51.100.1").status_code == 401  # another address is not held back
    assert call(known).status_code == 404  # nor is a key this process knows to be valid


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token cs_x", "Bearer junk", "Bearer a b c",
                                    "bearer " + "k" * 1000, "Bearer cs_0011223_" + "a" * 42 + "!", "Bearer cs_00112233_aaaa\u00e9aaaa"])
def test_malformed_authorization_is_401_without_any_lookup(tenant, header, redis_counters):
    before = redis_counters.snapshot()
    with CaptureQueriesContext(connection) as queries:
        response = call(header=header)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert len(queries) == 0
    assert redis_counters.diff(before, redis_counters.snapshot())["calls"] == {}


def test_valid_keys_are_still_counted_on_a_cold_key_cache(api, settings, own_redis):
    """The first request of a key (entry not cached) is counted when the entry is stored; later ones by auth_count.lua."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 2}
    statuses = []
    for _ in range(3):
        redis_client.connection("hot").delete(*redis_client.connection("hot").keys("*:auth:{*}") or ["none"])
        statuses.append(api.get("/v1/sessions/missing").status_code)
    assert statuses == [404, 404, 429]


def behind_proxy(client_address: str):
    """A junk key from ``client_address`` through one proxy at 10.0.0.2 that appends to X-Forwarded-For."""
    client = APIClient(REMOTE_ADDR="10.0.0.2")
    return client.get("/v1/sessions/missing", HTTP_AUTHORIZATION=f"Bearer {junk_key()}",
                      HTTP_X_FORWARDED_FOR=f"198.51.100.66, {client_address}").status_code


def test_without_num_proxies_failures_count_against_remote_addr_and_x_forwarded_for_is_ignored(tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_FAILURES_PER_MINUTE": 3}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}
    auth_failures.clear()
    statuses = [behind_proxy(f"203.0.113.{n}") for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]  # every client shares the proxy's address


def test_with_num_proxies_failures_count_per_client_address_from_x_forwarded_for(tenant, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "AUTH_FAILURES_PER_MINUTE": 3}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    auth_failures.clear()
    flooding = [behind_proxy("203.0.113.1") for _ in range(5)]
    assert flooding == [401, 401, 401, 429, 429]
    assert behind_proxy("203.0.113.2") == 401  # another client behind the same proxy is not held back
    assert call(junk_key(), address="10.0.0.2").status_code == 401  # no header: REMOTE_ADDR, its own count
