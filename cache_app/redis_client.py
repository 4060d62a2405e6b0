"""Redis connections per layer, Lua script loading, and the guard that keeps a sick Redis off the hot path."""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, NamedTuple

from django_redis import get_redis_connection
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from convostore import metrics
from convostore.observability import span

from .cluster import queued_commands

logger = logging.getLogger("convostore.redis")

LUA_DIR = Path(__file__).resolve().parent / "lua"
# redis-py raises RedisClusterException (not a RedisError) when no cluster node answers.
REDIS_ERRORS = (RedisError, RedisClusterException, OSError)
# After a failure Redis is skipped for this long, so a hung server costs one
# timeout per process per interval instead of one per request.
BREAKER_SECONDS = 1.0

_lock = threading.Lock()
_scripts: dict[tuple[str, str], object] = {}
_sources: dict[str, str] = {}  # sha -> source of every script registered, to reload one Redis lost
_down_until: dict[str, float] = {}
failures = {"count": 0}


class RedisUnavailable(Exception):
    """Redis failed or is being skipped; the caller falls back to Postgres."""


def connection(alias: str = "hot"):
    return get_redis_connection(alias)


def lua_source(name: str) -> str:
    """The text of cache_app/lua/<name>.lua with each ``--#include <other>`` line replaced by <other>.lua's text.

    Redis Lua has no module system; a check several scripts need is written once and spliced in here.
    """
    source = (LUA_DIR / f"{name}.lua").read_text()
    return re.sub(r"^--#include (\w+)$", lambda match: lua_source(match.group(1)), source, flags=re.MULTILINE)


def script(name: str, alias: str = "hot"):
    """The Lua script cache_app/lua/<name>.lua registered once on ``alias``'s client."""
    key = (alias, name)
    loaded = _scripts.get(key)
    if loaded is None:
        with _lock:
            loaded = _scripts.get(key)
            if loaded is None:
                source = lua_source(name)
                client = connection(alias)
                loaded = client.register_script(source)
                try:
                    # Load it now, once per process: pipelines then use EVALSHA directly. (fakeredis's
                    # TCP server drops the connection on NOSCRIPT instead of answering it.)
                    client.script_load(source)
                except REDIS_ERRORS:
                    pass  # Redis down: pipeline_run loads it on the first NOSCRIPT
                _sources[loaded.sha] = source
                _scripts[key] = loaded
    return loaded


def pipeline_run(client, build, *, raise_on_error: bool = True) -> list:
    """Build and execute a non-transactional pipeline in one round trip; the result of every command queued.

    Scripts are queued as plain EVALSHA (redis-py's Script objects would add a SCRIPT EXISTS round trip
    per pipeline). If Redis lost some (restart, SCRIPT FLUSH, a promoted cluster replica), they are loaded
    (on every primary of a cluster) and only the commands that failed are sent again, in a second round
    trip. Any other command error is raised, or with ``raise_on_error=False`` returned in its place (as
    redis-py's own flag). On a cluster redis-py splits the pipeline per node.
    """
    pipe = client.pipeline(transaction=False)
    build(pipe)
    stack = queued_commands(pipe)
    results = pipe.execute(raise_on_error=False)
    lost = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if lost:
        for sha in {stack[i][0][1] for i in lost}:
            client.script_load(_sources[sha])
        retry = client.pipeline(transaction=False)
        for i in lost:
            retry.execute_command(*stack[i][0], **stack[i][1])
        for i, result in zip(lost, retry.execute(raise_on_error=False)):
            results[i] = result
    for result in results if raise_on_error else ():
        if isinstance(result, Exception):
            raise result
    return results


class Query(NamedTuple):
    """Commands whose replies answer one read, so that the read can ride another round trip (the API key's).

    ``name`` identifies the read and everything that shapes its answer (its keys and arguments): a reply
    found under that name in ``prefetched`` is exactly what running ``queue`` now would have read a moment
    earlier. ``queue(pipe)`` queues the commands; the answer is the list of their replies.
    """

    name: str
    queue: Callable


def queries_run(client, queries, before=None, *, optional: bool = False) -> list:
    """Run ``before(pipe)`` (if any) then every query's commands in one pipeline (pipeline_run):
    (replies of ``before``, [replies of each query]). With ``optional`` a command error in a query makes that
    query's replies None (its reader reads it again, and meets the error there) instead of failing ``before``."""
    sizes = []

    def build(pipe):
        if before is not None:
            before(pipe)
        sizes.append(len(pipe))  # commands queued so far (plain and cluster pipelines alike)
        for query in queries:
            query.queue(pipe)
            sizes.append(len(pipe))

    replies = pipeline_run(client, build, raise_on_error=not optional)
    for reply in replies[: sizes[0]]:  # ``before``'s errors are raised in any case
        if isinstance(reply, Exception):
            raise reply
    answers = [replies[start:end] for start, end in zip(sizes, sizes[1:])]
    if optional:
        answers = [None if any(isinstance(reply, Exception) for reply in answer) else answer for answer in answers]
    return replies[: sizes[0]], answers


def query_run(query: Query, prefetched: dict | None = None) -> list:
    """The replies of ``query``: those read earlier in this request (``prefetched``, name → replies) when it
    was read then, else read now in one round trip. Raises RedisUnavailable."""
    if prefetched and query.name in prefetched:
        return prefetched[query.name]
    with guarded(query.name.split(" ", 1)[0]) as client:
        return queries_run(client, [query])[1][0]


def evalsha(pipe, name: str, keys: list, args: list, alias: str = "hot") -> None:
    """Queue script ``name`` on ``pipe`` as EVALSHA (see pipeline_run)."""
    evalsha_sha(pipe, script(name, alias).sha, keys, args)


def evalsha_sha(pipe, sha: str, keys: list, args: list) -> None:
    """Queue EVALSHA ``sha`` on ``pipe``. Sent as a raw command: redis-py's cluster pipeline refuses its
    ``evalsha()`` method, yet routes a raw EVALSHA by its keys (which must share one slot)."""
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)


def available(alias: str = "hot") -> bool:
    return time.monotonic() >= _down_until.get(alias, 0.0)


def record_failure(alias: str, exc: BaseException, what: str) -> None:
    failures["count"] += 1
    _down_until[alias] = time.monotonic() + BREAKER_SECONDS
    logger.warning("redis %s failed during %s: %s", alias, what, exc)
    metrics.redis_failures.labels(layer=alias).inc()


def reset_breaker() -> None:
    _down_until.clear()


@contextmanager
def guarded(what: str, alias: str = "hot"):
    """Run a Redis step; any Redis error (or an open breaker) becomes RedisUnavailable."""
    if not available(alias):
        raise RedisUnavailable(f"redis {alias} skipped after a recent failure")
    try:
        with span("redis " + what, layer=alias):
            yield connection(alias)
    except REDIS_ERRORS as exc:
        record_failure(alias, exc, what)
        raise RedisUnavailable(str(exc)) from exc
