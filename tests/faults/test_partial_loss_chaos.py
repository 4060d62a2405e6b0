"""Chaos: Redis loses random keys and hash fields of conversations; every read path stays byte-identical to Postgres.

~200 conversations of mixed shapes (chains, function calls, forks of forks, summaries, cold and hot
archived segments) are built through the services on a redis-server the test owns. Then, round after
round: a conversation's reads warm its Redis copies, a random subset of its keys (window, meta,
context header, response index entries, LRU bucket, its ancestors' windows, the API-key entry) and
random single hash fields are deleted, and every read path (resolve of each response, context by
conversation and by response, native and OpenAI item lists paged in both orders, the admin
transcript, export) is compared byte for byte with the same read with Redis bypassed. Appends,
stored responses and forks are interleaved between rounds. Figures go to
tests/artifacts/partial_loss_chaos_{short,long}.json.
"""

import random

import pytest
import redis

from tests.conftest import make_client
from tests.faults.partial_loss_workload import Figures, Workload

pytestmark = pytest.mark.django_db


def chaos(tenant, own_redis, settings, *, variant: str, conversations: int, rounds: int, seed: int) -> Figures:
    settings.CONVOSTORE = {**settings.CONVOSTORE, "ARCHIVE_MIN_ITEMS": 2}
    tenant.window_size, tenant.summary_threshold_tokens = 6, 50
    tenant.save()
    figures = Figures(variant)
    work = Workload(tenant=tenant, api=make_client(tenant), rng=random.Random(seed), figures=figures)
    work.build(conversations)
    raw = redis.Redis.from_url(own_redis.url)
    for number in range(rounds):
        conv = work.rng.choice(list(work.convs.values()))
        work.warm(conv)
        work.damage(raw, conv)
        work.compare(conv, label=f"round {number}")
        if work.rng.random() < 0.6:
            written = work.write()
            work.compare(written, label=f"after a write in round {number}")
        figures.rounds += 1
    figures.record(seed=seed)
    assert figures.mismatches == 0, figures.examples[:3]
    assert figures.keys_deleted > rounds and figures.fields_deleted > rounds // 2
    return figures


def test_partial_loss_chaos_short(tenant, own_redis, settings):
    chaos(tenant, own_redis, settings, variant="chaos_short", conversations=80, rounds=20, seed=11)


@pytest.mark.slow
def test_partial_loss_chaos_long(tenant, own_redis, settings):
    chaos(tenant, own_redis, settings, variant="chaos_long", conversations=200, rounds=600, seed=1111)
