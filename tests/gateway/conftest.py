"""Gateway fixtures: the fake upstream model server (a real HTTP server on loopback)."""

from __future__ import annotations

import pytest

from tests.gateway.fake_upstream import FakeUpstream


@pytest.fixture
def upstream():
    """A fake OpenAI-compatible model server for this test (see fake_upstream.py for its directives)."""
    server = FakeUpstream().start()
    yield server
    server.stop()


def upstream_settings(url: str, **overrides) -> dict:
    return {
        "URL": url, "API": "chat_completions", "API_KEY_ENV": "", "CONTEXT_WINDOW": 32768, "ALLOWED_HOSTS": [],
        "TIMEOUT_SECONDS": 10.0, "CONNECT_TIMEOUT_SECONDS": 2.0, "MAX_RETRIES": 0, **overrides,
    }


@pytest.fixture
def default_route(settings, upstream):
    """The environment's default route points at the fake upstream (chat_completions, no retries)."""
    settings.CONVOSTORE_UPSTREAM = upstream_settings(upstream.base_url)
    return settings.CONVOSTORE_UPSTREAM
