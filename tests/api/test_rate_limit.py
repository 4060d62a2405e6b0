"""Per-key rate limits answer 429 in the OpenAI error shape, counted in Redis."""

import pytest

pytestmark = pytest.mark.django_db


def test_key_over_its_rate_gets_429_and_other_keys_do_not(api, other_api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 3}
    statuses = [api.get("/v1/sessions/missing").status_code for _ in range(5)]
    assert statuses[:3] == [404, 404, 404]
    assert statuses[3:] == [429, 429]
    limited = api.get("/v1/sessions/missing")
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert int(limited["Retry-After"]) >= 1
    assert other_api.get("/v1/sessions/missing").status_code == 404


def test_zero_disables_the_limit(api, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "RATE_LIMIT_PER_MINUTE": 0}
    assert all(api.get("/v1/sessions/missing").status_code == 404 for _ in range(5))
