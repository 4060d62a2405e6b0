"""Fixtures: real Postgres with pgvector and real Redis (a key prefix per test), API clients per tenant."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest
from rest_framework.test import APIClient

from cache_app import redis_client
from cache_app.response_places import places_clear
from sessions_app.auth import unknown_keys
from sessions_app.throttling import auth_failures
from tests.factories import TenantFactory

pytest_plugins = ("tests.scale.plugin",)  # --redis-cluster and the scale-out engines


@pytest.fixture(autouse=True)
def redis_prefix(settings):
    """Each test writes under its own key prefix, so tests never see each other's Redis keys."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "KEY_PREFIX": f"cst{uuid.uuid4().hex[:10]}"}
    redis_client.reset_breaker()
    yield settings.CONVOSTORE["KEY_PREFIX"]
    redis_client.reset_breaker()


@pytest.fixture(autouse=True)
def auth_memory():
    """Each test starts with no failed authentications, no unknown keys and no response places remembered in this process."""
    auth_failures.clear()
    unknown_keys.clear()
    places_clear()
    yield
    auth_failures.clear()
    unknown_keys.clear()
    places_clear()


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


def make_client(tenant) -> APIClient:
    from sessions_app.services import api_key_create

    issued = api_key_create(tenant=tenant, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
    client.raw_key = issued.raw_key
    client.tenant = tenant
    return client


@pytest.fixture
def round_trips(monkeypatch):
    """{"count": Redis command packets written so far}: one per round trip (a pipeline is one packet)."""
    from redis.connection import Connection

    sent = {"count": 0}
    original = Connection.send_packed_command

    def counting(self, command, check_health=True):
        sent["count"] += 1
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent


@pytest.fixture
def api(tenant) -> APIClient:
    return make_client(tenant)


@pytest.fixture
def other_api(other_tenant) -> APIClient:
    return make_client(other_tenant)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """A redis-server of the test's own, so it can be stopped, hung (SIGSTOP) or flushed safely."""

    def __init__(self):
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="cs-redis-")
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server")
        assert binary, "tests need a real redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(10)

    def hang(self):
        """Accepts connections (the kernel completes handshakes) but never answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(settings):
    """Point every Redis layer at a redis-server this test owns."""
    server = RedisProcess().start()
    caches = {}
    for alias, config in settings.CACHES.items():
        caches[alias] = {**config, "LOCATION": server.url, "OPTIONS": dict(config["OPTIONS"])}
    settings.CACHES = caches
    redis_client.reset_breaker()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)
