"""Benchmark settings: the production stack plus two floor views (bench.urls)."""

from convostore.settings.base import *  # noqa: F401,F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
