"""Settings for the test suite: real Postgres and Redis, eager nothing."""

from .base import *  # noqa: F401,F403
from .base import CONVOSTORE

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False
CONVOSTORE = {**CONVOSTORE, "KEY_PREFIX": "cstest"}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Static files come straight from the apps (no collectstatic before tests).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
