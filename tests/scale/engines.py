"""Real engines for the scale-out tests: a Redis Cluster (3 masters + 3 replicas) and a Postgres hot standby.

Both start on free loopback ports, in temporary directories the engine owns, and stop with ``stop()``.
They are plain classes so bench scripts can use them too; tests get them through tests/scale/plugin.py.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLUSTER_PORT_MAX = 55535  # a cluster node's bus port is port + 10000, which must stay <= 65535


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int, low: int = 20000, high: int = CLUSTER_PORT_MAX) -> list[int]:
    """``count`` loopback ports p with p and p + 10000 both free, p <= CLUSTER_PORT_MAX."""
    chosen: list[int] = []
    rng = random.Random()
    for _ in range(10_000):
        port = rng.randint(low, high)
        if port not in chosen and _port_free(port) and _port_free(port + 10000):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free cluster ports")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def redis_cli(*args: str, timeout: float = 30) -> str:
    binary = shutil.which("redis-cli")
    assert binary, "the cluster tests need redis-cli"
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True, timeout=timeout).stdout


class RedisClusterProcess:
    """Six ``redis-server --cluster-enabled yes`` nodes on loopback, joined by ``redis-cli --cluster create``.

    ``url`` is the ``redis+cluster://`` URL naming every node as a startup node. ``node_timeout_ms`` is
    ``cluster-node-timeout``: how long a silent master is left before its replica takes over.
    """

    def __init__(self, masters: int = 3, replicas_per_master: int = 1, node_timeout_ms: int = 1000):
        self.masters = masters
        self.replicas_per_master = replicas_per_master
        self.node_timeout_ms = node_timeout_ms
        self.ports = free_cluster_ports(masters * (1 + replicas_per_master))
        self.dir = tempfile.mkdtemp(prefix="cs-cluster-")
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def _start_node(self, port: int) -> None:
        node_dir = os.path.join(self.dir, str(port))
        os.makedirs(node_dir, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
             "--save", "", "--appendonly", "no", "--dir", node_dir, "--cluster-require-full-coverage", "no"],
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> "RedisClusterProcess":
        assert shutil.which("redis-server"), "the cluster tests need a real redis-server"
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            wait_for_port(port)
        redis_cli("--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                  "--cluster-replicas", str(self.replicas_per_master), "--cluster-yes", timeout=60)
        self.wait_healthy()
        return self

    def info(self, port: int) -> dict[str, str]:
        text = redis_cli("-p", str(port), "cluster", "info", timeout=5)
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def roles(self) -> dict[int, str]:
        """port -> "master" / "slave" for every live node, as the cluster sees it."""
        live = next(port for port in self.ports if self.alive(port))
        roles = {}
        for line in redis_cli("-p", str(live), "cluster", "nodes", timeout=5).splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            flags = fields[2].split(",")
            if "fail" not in flags and "fail?" not in flags and port in self.processes and self.alive(port):
                roles[port] = "master" if "master" in flags else "slave"
        return roles

    def masters_now(self) -> list[int]:
        return sorted(port for port, role in self.roles().items() if role == "master")

    def replica_of(self, master_port: int) -> int:
        master_id = redis_cli("-p", str(master_port), "cluster", "myid", timeout=5).strip()
        for line in redis_cli("-p", str(master_port), "cluster", "nodes", timeout=5).splitlines():
            fields = line.split()
            if fields[3] == master_id and "fail" not in fields[2]:
                return int(fields[1].split("@")[0].rsplit(":", 1)[1])
        raise RuntimeError(f"no live replica of {master_port}")

    def wait_healthy(self, timeout: float = 30.0, masters: int | None = None) -> None:
        """Until every live node reports cluster_state:ok and agrees on ``masters`` masters (default: all slots covered)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                live = [port for port in self.ports if self.alive(port)]
                states = {self.info(port).get("cluster_state") for port in live}
                if states == {"ok"} and (masters is None or len(self.masters_now()) == masters):
                    return
            except (subprocess.SubprocessError, StopIteration):
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster did not become healthy")

    def alive(self, port: int) -> bool:
        process = self.processes.get(port)
        return process is not None and process.poll() is None

    def failover(self, master_port: int) -> int:
        """CLUSTER FAILOVER on ``master_port``'s replica (a coordinated switch); returns the new master's port."""
        replica = self.replica_of(master_port)
        redis_cli("-p", str(replica), "cluster", "failover", timeout=5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.roles().get(replica) == "master":
                return replica
            time.sleep(0.05)
        raise RuntimeError("manual failover did not complete")

    def kill(self, port: int) -> None:
        """SIGKILL one node (no goodbye: its replica is promoted after cluster-node-timeout)."""
        self.processes[port].send_signal(signal.SIGKILL)
        self.processes[port].wait(10)

    def flushall(self) -> None:
        for port in self.masters_now():
            redis_cli("-p", str(port), "flushall", timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
