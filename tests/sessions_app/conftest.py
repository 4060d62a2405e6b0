"""Fixtures shared by the hot-path cost tests."""

import pytest


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
