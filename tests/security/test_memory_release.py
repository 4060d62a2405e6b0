"""Issue 19, item 3: a worker gives back the memory of a large request (bench/abuse.py measures RSS through
convostore-serve; these tests pin the mechanism: a full collection then glibc's malloc_trim)."""

from __future__ import annotations

import gc
import os
import platform
import threading
import weakref

import pytest

from convostore import bridge as bridge_module
from convostore.memory import _TRIM, release_memory
from tests.security.test_bridge_limits import bridge, call

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.fixture
def full_collections():
    """Threads on which a full (generation 2) collection started; automatic collection is off meanwhile."""
    threads: list[str] = []

    def record(phase, info):
        if phase == "start" and info["generation"] == 2:
            threads.append(threading.current_thread().name)

    was_enabled = gc.isenabled()
    gc.disable()
    gc.callbacks.append(record)
    yield threads
    gc.callbacks.remove(record)
    if was_enabled:
        gc.enable()


def _post(body: bytes):
    app = bridge(max_body_bytes=2 * bridge_module.RELEASE_AFTER_BYTES)
    return call(app, [{"type": "http.request", "body": body}])


def test_a_large_body_is_followed_by_a_full_collection_on_a_pool_thread(full_collections):
    sent = _post(b"x" * (bridge_module.RELEASE_AFTER_BYTES + 1))
    assert sent[0]["status"] == 200
    assert any(name.startswith("wsgi") for name in full_collections), full_collections


def test_a_small_body_costs_no_collection(full_collections):
    sent = _post(b"x" * 100)
    assert sent[0]["status"] == 200 and full_collections == []


@pytest.mark.parametrize("size, called", [(bridge_module.RELEASE_AFTER_BYTES + 1, True), (100, False)])
def test_after_a_large_request_the_thread_that_ran_it_drops_its_connections(size, called):
    """convostore-serve passes django.db.connections.close_all: libpq keeps a connection's buffers at the size
    of its largest statement, and Django's connections are per thread, so the hook runs on the serving thread."""
    served, hooked = [], []

    def app(environ, start_response):
        served.append(threading.get_ident())
        environ["wsgi.input"].read()
        start_response("200 OK", [])
        return [b"{}"]

    app = bridge(app, max_body_bytes=2 * bridge_module.RELEASE_AFTER_BYTES,
                 after_large_request=lambda: hooked.append(threading.get_ident()))
    sent = call(app, [{"type": "http.request", "body": b"x" * size}])
    assert sent[0]["status"] == 200 and hooked == (served if called else [])


def _rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's; elsewhere release_memory only collects")
def test_release_memory_gives_freed_heap_pages_back_to_the_os():
    """Freed blocks between live ones stay in glibc's heap (free() only trims its top): ~40 MB of 2 KB
    blocks, one in 64 kept, remain resident until malloc_trim(0) returns their pages."""
    assert _TRIM is not None
    blocks = [bytes(2000) for _ in range(20_000)]
    kept = blocks[::64]
    del blocks
    held = _rss_mb()
    assert release_memory() is True
    assert held - _rss_mb() > 20, "at least half of the ~40 MB freed goes back"
    assert len(kept) == 313


def test_release_memory_frees_reference_cycles(full_collections):
    """A DRF request and its view refer to each other: their memory waits for the cyclic collector."""

    class Node:
        pass

    node = Node()
    node.self, node.payload = node, bytearray(1024)
    ref = weakref.ref(node)
    del node
    assert ref() is not None  # automatic collection is off (fixture): only the cycle holds it
    release_memory()
    assert ref() is None
