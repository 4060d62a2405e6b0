"""Production settings: secrets required, secure cookies, HTTPS behaviour behind the TLS-terminating proxy."""

from convostore.env import env, required

from .base import *  # noqa: F401,F403

SECRET_KEY = required("DJANGO_SECRET_KEY", "50 or more random characters (python -c 'import secrets; print(secrets.token_urlsafe(50))')")
DEBUG = False
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
# TLS ends at the proxy in front (docs/operations.md); it says so in X-Forwarded-Proto, which it must set
# itself (overwriting what the client sent) whenever DJANGO_SECURE_SSL_REDIRECT is on.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_SSL_REDIRECT else None
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
