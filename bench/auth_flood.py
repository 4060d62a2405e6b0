"""What a caller without a valid key costs, beside what a valid key costs, in one run on the real services.

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/auth_flood.py   (or make bench BENCH=auth_flood)

In-process ``ApiKeyAuthentication.authenticate`` (sessions_app.auth), per call p50/p99 (the request built outside the
timer): the Redis step of a valid key now (auth_count.lua) beside the pipeline it replaced, a valid key whose
entry is cached (one Redis round trip, auth_count.lua), the floor of one plain Redis GET round trip, an
unknown key seen for the first time (a Redis read and a Postgres query), the same key again (the
negative cache), and an address over CONVOSTORE_AUTH_FAILURES_PER_MINUTE (429, no lookup). Then a flood
of FLOOD distinct junk keys from one address: Redis keys added, Redis commands and Postgres queries.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import django_setup, markdown_table, percentiles, write_result  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", "2000"))
FLOOD = int(os.environ.get("BENCH_FLOOD", "2000"))


def junk() -> str:
    return f"cs_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def main() -> None:  # long: one linear script: seed, five timed cases, the flood, the report
    django_setup()
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework import exceptions

    from cache_app import api_keys, keys
    from cache_app.redis_client import connection as redis, guarded
    from sessions_app.auth import ApiKeyAuthentication, unknown_keys
    from sessions_app.services import api_key_create, tenant_create
    from sessions_app.services.tenants import hash_key
    from sessions_app.throttling import auth_failures

    tenant, _ = tenant_create(name=f"bench-auth-{int(time.time())}")
    valid = api_key_create(tenant=tenant, name="bench").raw_key
    factory, auth = RequestFactory(), ApiKeyAuthentication()

    def attempt(key: str, address: str = "10.0.0.1"):
        return authenticate(factory.get("/", HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=address))

    def authenticate(request):
        try:
            return auth.authenticate(request)
        except (exceptions.AuthenticationFailed, exceptions.Throttled):
            return None

    def timed(call, n=CALLS, build=None) -> dict:
        """p50/p99 of call(i) (or call(build(i)), the argument built outside the timer)."""
        samples = []
        for i in range(n):
            argument = build(i) if build else i
            started = time.perf_counter()
            call(argument)
            samples.append((time.perf_counter() - started) * 1000)
        return percentiles(samples)

    def request(key, address):
        return lambda i: factory.get("/", HTTP_AUTHORIZATION=f"Bearer {key(i)}", REMOTE_ADDR=address(i))

    def old_shape(i):
        """cache_app.api_keys.key_entry_read before this change (the peer): GET entry + INCR + EXPIRE, one pipeline."""
        rate_key = keys.counter(f"rate.{valid_hash[:16]}.{int(time.time() // 60)}")
        with guarded("auth_get") as redis_client:
            pipe = redis_client.pipeline(transaction=False)
            pipe.get(keys.api_key(valid_hash))
            pipe.incr(rate_key)
            pipe.expire(rate_key, 120)
            values = pipe.execute()
        return api_keys._entry(values[0]), [], values[-2]

    client = redis("hot")
    client.set("bench:auth:floor", "x")
    attempt(valid)  # the entry is cached from here on
    repeated = junk()
    first_keys = [junk() for _ in range(CALLS)]
    valid_hash = hash_key(valid)
    cases = {
        "one Redis GET round trip (floor)": timed(lambda i: client.get("bench:auth:floor")),
        "Redis step before: key_entry_read as it was (peer)": timed(old_shape),
        "Redis step now: key_entry_read (auth_count.lua)": timed(lambda i: api_keys.key_entry_read(valid_hash)),
        "valid key, entry cached": timed(authenticate, build=request(lambda i: valid, lambda i: f"10.1.{i % 250}.1")),
        "unknown key, first sight": timed(authenticate, build=request(lambda i: first_keys[i], lambda i: f"10.2.{i % 250}.{i // 250}")),
        "unknown key, repeated (negative cache)": timed(authenticate, build=request(lambda i: repeated, lambda i: f"10.3.{i % 250}.1")),
    }
    auth_failures.clear()
    for _ in range(100):
        attempt(junk(), "10.9.9.9")
    cases["address over its failure limit (429)"] = timed(authenticate, build=request(lambda i: junk(), lambda i: "10.9.9.9"))

    auth_failures.clear()
    unknown_keys.clear()
    def commands_so_far() -> int:
        return sum(s["calls"] for name, s in client.info("commandstats").items() if name not in ("cmdstat_info", "cmdstat_dbsize"))

    calls_before, keys_before = commands_so_far(), client.dbsize()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(FLOOD):
            attempt(junk(), "10.8.8.8")
    commands = commands_so_far() - calls_before
    flood = {"requests": FLOOD, "redis_keys_added": client.dbsize() - keys_before, "redis_commands": commands,
             "postgres_queries": len(queries)}

    floor, valid_case = cases["one Redis GET round trip (floor)"], cases["valid key, entry cached"]
    first, again = cases["unknown key, first sight"], cases["unknown key, repeated (negative cache)"]
    now, before = cases["Redis step now: key_entry_read (auth_count.lua)"], cases["Redis step before: key_entry_read as it was (peer)"]
    ratios = {"valid_p50_over_redis_get_p50": round(valid_case["p50_ms"] / floor["p50_ms"], 2),
              "redis_step_now_p50_over_before_p50": round(now["p50_ms"] / before["p50_ms"], 2),
              "negative_cache_p50_over_first_sight_p50": round(again["p50_ms"] / first["p50_ms"], 3)}
    limit = 60
    goals = {
        "Redis step p50 <= 1.25x the pipeline it replaces": ratios["redis_step_now_p50_over_before_p50"] <= 1.25,
        "negative-cache hit p50 <= 0.2x first sight": ratios["negative_cache_p50_over_first_sight_p50"] <= 0.2,
        "flood adds no Redis key": flood["redis_keys_added"] == 0,
        f"flood: Postgres queries <= the limit ({limit})": flood["postgres_queries"] <= limit,
    }
    path = write_result("auth_flood", {"calls": CALLS, "cases": cases, "flood": flood, "ratios": ratios, "goals": goals})
    print(markdown_table(["case", "p50 ms", "p99 ms"], [[name, c["p50_ms"], c["p99_ms"]] for name, c in cases.items()]))
    print(flood, ratios, goals, f"→ {path}", sep="\n")


if __name__ == "__main__":
    main()
