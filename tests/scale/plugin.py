"""Pytest switch that points the existing Redis suites at a real Redis Cluster, and the engine fixtures.

``pytest --redis-cluster …`` (or ``CONVOSTORE_TEST_REDIS=cluster``) starts one cluster for the session
(3 masters + 3 replicas on loopback) and points every Redis alias of every test at it through a
``redis+cluster://`` URL: the same tests, run on a cluster. Tests that start their own plain Redis
(``own_redis``) still get that one. Subprocesses (gunicorn, Celery) inherit REDIS_URL and CELERY_BROKER_URL.
"""

from __future__ import annotations

import os

import pytest

from tests.scale.engines import RedisClusterProcess


def pytest_addoption(parser):
    parser.addoption("--redis-cluster", action="store_true", default=False,
                     help="run the selected tests against a Redis Cluster this session starts (3 masters + 3 replicas)")


def cluster_mode(config) -> bool:
    return config.getoption("--redis-cluster") or os.environ.get("CONVOSTORE_TEST_REDIS") == "cluster"


def cluster_caches(caches: dict, url: str) -> dict:
    """``caches`` (a CACHES setting) with every alias on the cluster at ``url``."""
    return {
        alias: {**config, "LOCATION": url, "OPTIONS": {**config["OPTIONS"], "CLIENT_CLASS": "cache_app.cluster.ClusterClient"}}
        for alias, config in caches.items()
    }


@pytest.fixture(scope="session")
def redis_cluster_engine():
    """A cluster for the whole session (started lazily by the first test that needs one)."""
    from django.conf import settings

    engine = RedisClusterProcess().start()
    saved = {name: os.environ.get(name) for name in ("REDIS_URL", "CELERY_BROKER_URL")}
    os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL  # the broker stays a plain Redis
    os.environ["REDIS_URL"] = engine.url
    yield engine
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    engine.stop()


@pytest.fixture(autouse=True)
def _redis_on_cluster(request):
    """Under the switch, every Redis alias of the test points at the session's cluster."""
    if not cluster_mode(request.config):
        yield None
        return
    engine = request.getfixturevalue("redis_cluster_engine")
    settings = request.getfixturevalue("settings")
    settings.CACHES = cluster_caches(settings.CACHES, engine.url)
    yield engine


@pytest.fixture
def redis_cluster(settings, request):
    """A cluster of the test's own (it may fail over or kill nodes), every Redis alias pointed at it."""
    from cache_app import redis_client

    engine = RedisClusterProcess().start()
    settings.CACHES = cluster_caches(settings.CACHES, engine.url)
    redis_client.reset_breaker()
    yield engine
    engine.stop()
