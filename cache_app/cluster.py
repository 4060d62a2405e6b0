"""Redis Cluster behind django-redis: ``redis+cluster://host:port[,host:port…]`` served by redis-py's RedisCluster.

django-redis has no cluster client, so ``ClusterClient`` is one: it hands out one process-wide
``redis.cluster.RedisCluster`` per URL (the slot map and the per-node pools are shared by every thread
and every django cache instance of the process). Slot routing is redis-py's; this module only parses the
URL and offers the two helpers the project's pipelines need on a cluster (multi-key DEL/UNLINK grouped by
slot, and the commands queued on a pipeline of either kind).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured
from django_redis.client import DefaultClient
from redis._parsers.commands import CommandPolicies, RequestPolicy, ResponsePolicy
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.commands.policies import StaticPolicyResolver
from redis.crc import key_slot
from redis.retry import Retry

SCHEMES = {"redis+cluster": False, "rediss+cluster": True}  # scheme -> TLS
DEFAULT_PORT = 6379

_lock = threading.Lock()
_clients: dict[tuple, RedisCluster] = {}


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def cluster_location(url: str) -> dict:
    """``{"nodes": [(host, port), …], "ssl": bool, "username", "password"}`` of a cluster URL.

    Raises ImproperlyConfigured for another scheme, no node, a bad port or a database number (a cluster
    has only database 0, so a URL that names one is a mistake worth stopping at start-up).
    """
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SCHEMES:
        raise ImproperlyConfigured(f"not a Redis Cluster URL: {scheme}://…")
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    if path.strip("/"):
        raise ImproperlyConfigured(f"a {scheme}:// URL carries no database number (got '/{path}'); Redis Cluster has only db 0")
    credentials, _, hosts = netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for part in filter(None, hosts.split(",")):
        parsed = urlsplit("//" + part)
        try:
            port = parsed.port or DEFAULT_PORT
        except ValueError as exc:
            raise ImproperlyConfigured(f"bad port in Redis Cluster node '{part}'") from exc
        nodes.append((parsed.hostname or "127.0.0.1", port))
    if not nodes:
        raise ImproperlyConfigured(f"a {scheme}:// URL needs at least one host:port")
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    return {"nodes": nodes, "ssl": SCHEMES[scheme.lower()], "username": unquote(username) or None,
            "password": unquote(password) or None, "options": options}


class _ScriptsAreKeyed(StaticPolicyResolver):
    """EVAL/EVALSHA route by their KEYS, parsed locally.

    Without this a cluster pipeline asks a node ``COMMAND GETKEYS`` for every EVALSHA queued (EVALSHA has
    "movable keys"): one more round trip per script call on the hot path.
    """

    KEYED = CommandPolicies(request_policy=RequestPolicy.DEFAULT_KEYED, response_policy=ResponsePolicy.DEFAULT_KEYED)

    def resolve(self, command_name: str):
        if command_name in ("eval", "evalsha", "eval_ro", "evalsha_ro"):
            return self.KEYED
        return super().resolve(command_name)


class Cluster(RedisCluster):
    """RedisCluster whose pipelines share its command-routing policies (redis-py gives each pipeline the
    static defaults)."""

    def pipeline(self, transaction=None, shard_hint=None):
        pipe = super().pipeline(transaction=transaction, shard_hint=shard_hint)
        pipe._policy_resolver = self._policy_resolver  # no constructor argument reaches it from here
        return pipe


def cluster_client(url: str, options: dict) -> RedisCluster:
    """The process's RedisCluster for ``url`` (created on first use; a new one after a fork).

    ``options`` are the django-redis OPTIONS of the alias: SOCKET_CONNECT_TIMEOUT / SOCKET_TIMEOUT apply
    to every node. A command is retried once after a connection error or MOVED (redis-py then refreshes the
    slot map); a longer outage surfaces as an error the caller turns into a Postgres fallback.
    Raises redis's RedisClusterException when no startup node answers.
    """
    key = (url, os.getpid(), options.get("SOCKET_CONNECT_TIMEOUT"), options.get("SOCKET_TIMEOUT"))
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            location = cluster_location(url)
            pool_kwargs = options.get("CONNECTION_POOL_KWARGS", {})
            client = Cluster(
                startup_nodes=[ClusterNode(host, port) for host, port in location["nodes"]],
                ssl=location["ssl"],
                username=location["username"],
                password=location["password"],
                socket_connect_timeout=options.get("SOCKET_CONNECT_TIMEOUT"),
                socket_timeout=options.get("SOCKET_TIMEOUT"),
                health_check_interval=pool_kwargs.get("health_check_interval", 0),
                retry=Retry(NoBackoff(), 1),
                require_full_coverage=False,
                dynamic_startup_nodes=True,
                policy_resolver=_ScriptsAreKeyed(),
            )
            _clients[key] = client
    return client


class ClusterClient(DefaultClient):
    """django-redis client class for ``redis+cluster://`` locations (set by settings for such URLs)."""

    def __init__(self, server, params, backend) -> None:
        # DefaultClient splits LOCATION on commas (its replication form); a cluster URL is one location.
        super().__init__([server] if isinstance(server, str) else list(server), params, backend)

    def connect(self, index: int = 0):
        if not is_cluster_url(self._server[index]):  # a plain redis:// location (tests swap LOCATION only)
            return super().connect(index)
        return cluster_client(self._server[index], self._options)

    def disconnect(self, index: int = 0, client=None) -> None:
        client = client or self._clients[index]
        if isinstance(client, RedisCluster):
            client.disconnect_connection_pools()
        else:
            super().disconnect(index, client)

    def get_many(self, keys, version=None, client=None) -> dict:
        """Django's cache.get_many across slots (one MGET per slot, pipelined per node)."""
        client = client or self.get_client(write=False)
        if not isinstance(client, RedisCluster):
            return super().get_many(keys, version=version, client=client)
        names = {self.make_key(key, version=version): key for key in keys}
        values = client.mget_nonatomic(list(names)) if names else []
        return {names[name]: self.decode(value) for name, value in zip(names, values) if value is not None}


def is_cluster(client) -> bool:
    """True for a RedisCluster or one of its pipelines."""
    return isinstance(client, RedisCluster)


def queue_delete(pipe, names, *, unlink: bool = False) -> int:
    """Queue DEL (or UNLINK) of ``names`` on ``pipe``; the number of commands queued (their replies are counts).

    A plain pipeline takes one command; a cluster pipeline refuses multi-key DEL, so one command per slot
    is queued (keys sharing a hash tag still go together).
    """
    names = list(names)
    if not names:
        return 0
    command = "UNLINK" if unlink else "DEL"
    if not isinstance(pipe, ClusterPipeline):
        pipe.execute_command(command, *names)
        return 1
    by_slot: dict[int, list] = {}
    for name in names:
        by_slot.setdefault(key_slot(name.encode() if isinstance(name, str) else name), []).append(name)
    for group in by_slot.values():
        pipe.execute_command(command, *group)
    return len(by_slot)


def queued_commands(pipe) -> list[tuple[tuple, dict]]:
    """(args, options) of every command queued on a pipeline, plain or cluster, in order."""
    if isinstance(pipe, ClusterPipeline):
        # redis-py keeps a cluster pipeline's queue on its execution strategy; there is no public accessor.
        return [(command.args, dict(command.options)) for command in pipe._execution_strategy.command_queue]
    return [(args, dict(options)) for args, options in pipe.command_stack]
