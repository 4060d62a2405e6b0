"""The chaos workload on a redis-server with a small maxmemory: Redis evicts keys one by one, reads stay exact.

No key is deleted by the test: the server's own eviction policy (allkeys-lru in the default run,
allkeys-random and volatile-lru under ``-m slow``) drops windows, metas, headers, index entries and
key-cache entries independently while conversations are built and written. After every write the
written conversation is read on every path and compared byte for byte with the same reads with
Redis bypassed; so are up to two conversations whose window the server left partial (a list
without its meta hash, or the reverse: the state issue 11 found), else a random one. The limit is
set on the test's own server (CONFIG SET, as an operator's redis.conf would) a fixed budget above
its empty footprint; the run checks that the server evicted keys, left partial windows and still
held some keys.
"""

import random

import pytest
import redis

from sessions_app.services.outbox import outbox_apply
from sessions_app.models import InvalidationOutbox
from tests.conftest import make_client
from tests.faults.partial_loss_workload import Figures, Workload

pytestmark = pytest.mark.django_db

BUDGET_BYTES = 768 * 1024  # above what Redis 7 keeps after a flush; the 80 conversations' copies take ~2 MB
TEXT_WORDS = 300  # ~2 KB items, so the copies, not Redis's own overhead, fill the budget


def run(tenant, own_redis, settings, *, policy: str, conversations: int, rounds: int, seed: int, form: str) -> Figures:
    settings.CONVOSTORE = {**settings.CONVOSTORE, "ARCHIVE_MIN_ITEMS": 2}
    tenant.window_size, tenant.summary_threshold_tokens = 16, 50  # most windows hold their whole context
    tenant.save()
    raw = redis.Redis.from_url(own_redis.url)
    raw.config_set("maxmemory", raw.info("memory")["used_memory"] + BUDGET_BYTES)
    raw.config_set("maxmemory-policy", policy)
    figures = Figures(f"maxmemory_{policy}_{form}")
    work = Workload(tenant=tenant, api=make_client(tenant), rng=random.Random(seed), figures=figures, text_words=TEXT_WORDS)
    work.build(conversations)
    applied = partial_seen = 0
    for number in range(rounds):
        written = work.write()
        if InvalidationOutbox.objects.exists():  # a post-commit Redis step refused (OOM): the beat sweep's job
            applied += outbox_apply()
        work.compare(written, label=f"write {number}")
        partial = work.partial_windows(raw)  # the state the issue found: a meta without its list, or the reverse
        partial_seen += len(partial)
        for conv in work.rng.sample(partial, min(2, len(partial))) or [work.rng.choice(list(work.convs.values()))]:
            work.compare(conv, label=f"other {number}")
        figures.rounds += 1
    stats = raw.info("stats")
    figures.keys_deleted = stats["evicted_keys"]
    figures.record(seed=seed, policy=policy, maxmemory=int(raw.config_get("maxmemory")["maxmemory"]),
                   keys_left=raw.dbsize(), outbox_applied=applied,
                   partial_windows_seen=partial_seen)
    assert figures.mismatches == 0, figures.examples[:3]
    assert stats["evicted_keys"] > 0 and raw.dbsize() > 0 and partial_seen > 0
    return figures


def test_maxmemory_allkeys_lru(tenant, own_redis, settings):
    run(tenant, own_redis, settings, policy="allkeys-lru", conversations=80, rounds=25, seed=21, form="short")


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["allkeys-random", "volatile-lru", "allkeys-lru"])
def test_maxmemory_long(tenant, own_redis, settings, policy):
    run(tenant, own_redis, settings, policy=policy, conversations=200, rounds=120, seed=2121, form="long")
