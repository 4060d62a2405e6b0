"""Settings for the server that tests/security/test_slow_clients.py starts: the app plus one streaming view."""

from convostore.settings.base import *  # noqa: F401,F403

ROOT_URLCONF = "tests.security.serving_urls"
