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
