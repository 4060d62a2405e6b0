"""Slow and idle HTTP clients on real sockets, for bench/http_servers.py and tests/security/test_slow_clients.py."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

KINDS = ("idle", "slow_headers", "slow_body", "stalled_reader")


def _connect(port: int, *, small_receive_buffer: bool = False) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_receive_buffer:  # before connect, so the window stays small and the server's sends block soon
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    return sock


def _open(kind: str, port: int, *, stream_path: str, body_path: str, headers: dict) -> socket.socket:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if kind == "idle":
        return _connect(port)
    if kind == "slow_headers":
        sock = _connect(port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        return sock
    if kind == "slow_body":
        sock = _connect(port)
        sock.sendall(f"POST {body_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Type: application/json\r\n"
                     f"Content-Length: 100000\r\n\r\n{{\"role\": \"user\", \"content\": \"".encode())
        return sock
    if kind == "stalled_reader":
        sock = _connect(port, small_receive_buffer=True)
        sock.sendall(f"GET {stream_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        return sock
    raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")


@contextmanager
def slow_connections(port: int, kinds: dict[str, int], *, stream_path: str, body_path: str = "/v1/sessions/slow/append",
                     headers: dict | None = None, trickle_seconds: float = 1.0):
    """Open kinds[kind] connections of each kind on 127.0.0.1:port and keep them slow while the block runs.

    kinds: e.g. {"slow_headers": 16}. slow_headers and slow_body then send one more byte every
    trickle_seconds (never finishing), idle sends nothing, stalled_reader asked for stream_path and never
    reads. Yields the list of sockets; all are closed on exit. Connection errors while trickling are
    ignored (the server may close a slow client: that is its right).
    """
    sockets = []
    trickled = []
    stop = threading.Event()
    try:
        for kind, count in kinds.items():
            for _ in range(count):
                sock = _open(kind, port, stream_path=stream_path, body_path=body_path, headers=headers or {})
                sockets.append(sock)
                if kind in ("slow_headers", "slow_body"):
                    trickled.append((kind, sock))

        def trickle():
            while not stop.wait(trickle_seconds):
                for kind, sock in trickled:
                    try:
                        sock.send(b"X" if kind == "slow_headers" else b"a")
                    except OSError:
                        pass

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        yield sockets
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
