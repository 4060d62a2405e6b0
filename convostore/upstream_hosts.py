"""Where upstream calls may go: CONVOSTORE_UPSTREAM_ALLOWED_HOSTS, checked when a route is saved and after DNS at call time."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings

KEY_ENV_PREFIX = "CONVOSTORE_UPSTREAM_KEY_"
VERDICT_SECONDS = 30  # how long one DNS verdict is reused in a process

_verdicts: dict[tuple, tuple[float, str | None]] = {}
_lock = threading.Lock()


class RouteNotAllowed(Exception):
    """The upstream URL, the address it resolves to, or the key variable is not allowed; the message says why."""


def split_url(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) base URL; no credentials in it (keys only come from the environment)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RouteNotAllowed(f"{url!r} is not an http(s) URL with a host.")
    if parts.username or parts.password:
        raise RouteNotAllowed("Upstream URLs may not carry credentials; name an environment variable for the key.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RouteNotAllowed(f"{url!r} has an invalid port.") from None
    return parts.hostname.lower(), port


def allowed_entries() -> list[tuple[str, int | None]]:
    """The allow-list as (host, port or None = any port); default: the host of CONVOSTORE_UPSTREAM_URL."""
    config = settings.CONVOSTORE_UPSTREAM
    raw = [entry.strip() for entry in config.get("ALLOWED_HOSTS") or [] if entry.strip()]
    if not raw and config.get("URL"):
        host, port = split_url(config["URL"])
        return [(host, port)]
    entries = []
    for entry in raw:
        parts = urlsplit("//" + entry)
        entries.append(((parts.hostname or "").lower(), parts.port))
    return entries


def url_check(url: str) -> None:
    """Raise RouteNotAllowed unless the URL's host[:port] is on the allow-list (by name; no DNS)."""
    host, port = split_url(url)
    if not any(host == h and (p is None or p == port) for h, p in allowed_entries()):
        raise RouteNotAllowed(
            f"{host}:{port} is not in CONVOSTORE_UPSTREAM_ALLOWED_HOSTS; an operator must allow it first."
        )


def address_check(url: str, *, resolve=socket.getaddrinfo, now=time.monotonic) -> None:
    """The call-time check: the URL passes :func:`url_check`, and every address its host resolves to is an address
    of an allowed entry; link-local, multicast and unspecified addresses (cloud metadata) only when listed literally.

    Verdicts are reused for VERDICT_SECONDS. Raises RouteNotAllowed.
    """
    entries = tuple(allowed_entries())
    host, port = split_url(url)
    key = (host, port, entries)
    cached = _verdicts.get(key)
    if cached is not None and cached[0] > now():
        if cached[1]:
            raise RouteNotAllowed(cached[1])
        return
    try:
        url_check(url)
        _addresses_check(host, port, entries, resolve)
        verdict = None
    except RouteNotAllowed as exc:
        verdict = str(exc)
    with _lock:
        _verdicts[key] = (now() + VERDICT_SECONDS, verdict)
    if verdict:
        raise RouteNotAllowed(verdict)


def _addresses(host: str, port: int, resolve) -> set[str]:
    try:
        return {info[4][0] for info in resolve(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        raise RouteNotAllowed(f"{host} does not resolve.") from None


def _addresses_check(host, port, entries, resolve) -> None:
    target = _addresses(host, port, resolve)
    allowed, literal = set(), set()
    for entry_host, entry_port in entries:
        if entry_port not in (None, port):
            continue
        try:
            literal.add(str(ipaddress.ip_address(entry_host.strip("[]"))))
        except ValueError:
            pass
        try:
            allowed |= _addresses(entry_host, port, resolve)
        except RouteNotAllowed:
            continue
    for address in sorted(target):
        ip = ipaddress.ip_address(address.split("%")[0])
        if address not in allowed:
            raise RouteNotAllowed(f"{host} resolves to {address}, which no allowed host resolves to.")
        if (ip.is_link_local or ip.is_multicast or ip.is_unspecified) and address not in literal:
            raise RouteNotAllowed(f"{host} resolves to {address} (link-local, multicast or unspecified); list it literally to allow it.")


def key_env_check(name: str) -> None:
    """Only variables named CONVOSTORE_UPSTREAM_KEY_* may hold upstream keys (never DJANGO_SECRET_KEY or DATABASE_URL)."""
    if name and (not name.startswith(KEY_ENV_PREFIX) or not name.replace("_", "").isalnum()):
        raise RouteNotAllowed(f"The key's environment variable must be named {KEY_ENV_PREFIX}<NAME>, not {name!r}.")
