"""`make run`, then operators' commands against the very stack it started (`make manage ARGS=…`).

The slow test runs the launcher for real in a throwaway state directory: embedded Postgres, redis-server,
convostore-serve, a Celery worker and beat. A turn appended through the API is evicted by `manage evict`, the
command's work shows up in the same /metrics, and the next start reuses the previous ports. The fast
tests check the launcher's pieces (stack.env, port reuse, the Makefile target) on their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import importlib.util
import urllib.request
from pathlib import Path

import pytest

from tests.archive_app.test_worker_kill_archive import wait_for

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "scripts" / "devservers.py"
OUTER_STACK = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR",
               "CONVOSTORE_EMBEDDED_PGDATA", "CONVOSTORE_EMBEDDED_PGUSER", "DJANGO_SECRET_KEY")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Launcher:
    """`scripts/devservers.py run` in a state directory of its own; its output is collected line by line."""

    def __init__(self, state: Path, port: int):
        self.state, self.port = state, port
        self.env = {key: value for key, value in os.environ.items() if key not in OUTER_STACK}
        self.env.update(CONVOSTORE_STATE_DIR=str(state), PORT=str(port), WEB_CONCURRENCY="1", LOG_FORMAT="json")
        self.lines: list[str] = []
        self.process = None
        self.serving = threading.Event()

    def start(self) -> "Launcher":
        self.process = subprocess.Popen([sys.executable, str(LAUNCHER), "run"], env=self.env, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._drain, daemon=True).start()
        # The launcher says so once its servers are started (or it ended early); then the API answers.
        self.serving.wait(timeout=600)
        try:
            assert self.process.poll() is None and self.serving.is_set(), "\n".join(self.lines[-40:])
            wait_for(self._healthy, "the API to answer /healthz", 120)
        except AssertionError:
            self.stop()  # never leave a launcher (and what it started) behind
            raise
        return self

    def _healthy(self) -> bool:
        try:
            return self.get("/healthz") is not None
        except OSError:
            return False

    def _drain(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if "commands against this stack" in line:
                self.serving.set()
        self.serving.set()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(120)

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(LAUNCHER), "manage", *args], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    def ports(self) -> dict:
        return json.loads((self.state / "ports.json").read_text())

    def get(self, path: str, **headers) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read().decode()

    def append(self, conversation_id: str, text: str) -> dict:
        key = (self.state / "demo_api_key").read_text().strip()
        body = json.dumps({"items": [{"role": "user", "content": text}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/v1/sessions/{conversation_id}/append", data=body,
                                         headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())


@pytest.fixture
def state():
    path = Path(tempfile.mkdtemp(prefix="cs-make-run-"))
    yield path
    pgdata = path / "pgdata"
    if (pgdata / "postmaster.pid").exists():  # a failed test left Postgres running: stop it
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'scripts'); import devservers as d; "
                        f"p = d.EmbeddedPostgres(d.Path({str(pgdata)!r})); p.started_here = True; p.stop()"],
                       cwd=ROOT, env={**os.environ, "XDG_RUNTIME_DIR": str(path / "run")}, check=False)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_commands_reach_the_stack_make_run_started_and_ports_are_reused(state):
    first = Launcher(state, _free_port()).start()
    try:
        stack_env = state / "stack.env"
        assert stat.S_IMODE(stack_env.stat().st_mode) == 0o600
        settings = dict(line.split("=", 1) for line in stack_env.read_text().splitlines() if "=" in line and line[0] != "#")
        ports = first.ports()
        assert settings["DATABASE_URL"].endswith(f":{ports['postgres']}/convostore")
        assert settings["REDIS_URL"] == f"redis://127.0.0.1:{ports['redis']}/0"

        first.append("ops-1", "hello from the operator test")
        evicted = first.manage("evict", "--idle-seconds", "0")
        assert evicted.returncode == 0, evicted.stderr
        assert evicted.stdout.strip().splitlines()[-1] == "1 conversation evicted"
        assert "\r" not in evicted.stdout + evicted.stderr  # not a terminal: plain lines, no bar

        # The command's work is counted in the metrics the API serves (one multiprocess directory).
        metrics = first.get("/metrics")
        assert re.search(r'^lifecycle_conversations_total\{kind="evict"\} 1\.0$', metrics, re.M), metrics[:2000]
    finally:
        assert first.stop() == 0, "\n".join(first.lines[-40:])
    assert not (state / "stack.env").exists()
    stopped = first.manage("evict", "--idle-seconds", "0")
    assert stopped.returncode != 0 and "make run" in stopped.stderr

    second = Launcher(state, first.port).start()
    try:
        assert second.ports() == ports  # the previous run's ports were free: reused
        assert second.manage("evict", "--idle-seconds", "0").stdout.strip().splitlines()[-1] == "0 conversations evicted"
    finally:
        assert second.stop() == 0


def test_make_manage_runs_the_launcher_with_the_given_arguments():
    # outside any make: under `make test` a child make inherits MAKELEVEL and prints "Entering directory" lines
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "manage", "ARGS=evict --idle-seconds 0"], cwd=ROOT,
                             capture_output=True, text=True, env=env)
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.strip().splitlines()[-1].endswith("scripts/devservers.py manage evict --idle-seconds 0")


@pytest.fixture
def launcher(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("devservers_under_test", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "STATE", tmp_path)
    return module


def test_stack_env_is_private_and_names_what_commands_need(launcher, tmp_path):
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        env = {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/convostore", "REDIS_URL": "redis://127.0.0.1:7/0",
               "DJANGO_SECRET_KEY": "s", "PROMETHEUS_MULTIPROC_DIR": "/tmp/m", "HOME": "/root"}
        path = launcher.stack_env_write(env)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert launcher.stack_env_read() == {key: env[key] for key in env if key != "HOME"}
    with pytest.raises(SystemExit, match="does not answer"):  # the stack is gone (killed without cleaning up)
        launcher.stack_env_read()
    path.unlink()
    with pytest.raises(SystemExit, match="make run"):
        launcher.stack_env_read()


def test_the_previous_port_is_reused_when_free_and_not_when_taken(launcher):
    port = _free_port()
    assert launcher.port_or_free(port) == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        assert launcher.port_or_free(port) != port
    assert launcher.port_or_free(5432) != 5432
