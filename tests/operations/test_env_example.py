""".env.example works as written: copied as is it passes `check --deploy`; empty means unset; no silent database."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"


def run_manage(tmp_path: Path, *args: str, env_file: Path | None = None, **values: str) -> subprocess.CompletedProcess:
    """manage.py ARGS in a bare environment: PATH, the .env file given, and exactly the values passed."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "CONVOSTORE_ENV_FILE": str(env_file or tmp_path / "absent.env"), **values}
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def services() -> dict:
    return {"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}


def test_the_example_keeps_comments_on_their_own_lines_and_names_no_server():
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^#\s]*", line), f"not NAME=value with no inline comment: {line!r}"
    values = dict(line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    assert values["DATABASE_URL"] == "" and values["REDIS_URL"] == ""


def test_a_copied_example_passes_check_deploy_with_production_settings(tmp_path):
    dotenv = tmp_path / ".env"
    shutil.copy(EXAMPLE, dotenv)
    result = run_manage(tmp_path, "check", "--deploy", env_file=dotenv, **services(),
                        DJANGO_SETTINGS_MODULE="convostore.settings.production", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ERRORS" not in result.stdout + result.stderr
    assert "security.W009" not in result.stdout  # the secret key came through


def test_every_empty_value_means_the_default(tmp_path):
    """Every name of the example set to "" behaves as unset: the Redis layers fall back to REDIS_URL, numbers to defaults."""
    names = [line.split("=", 1)[0] for line in EXAMPLE.read_text().splitlines() if line and not line.startswith("#")]
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}=\n" for name in names))
    empties = {name: "" for name in names if name not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    probe = ("from django.conf import settings as s; print(s.CACHES['hot']['LOCATION'], s.CACHES['semantic']['LOCATION'], "
             "s.DATA_UPLOAD_MAX_MEMORY_SIZE, s.CONVOSTORE['WINDOW_TTL_SECONDS'], s.CONVOSTORE['SERVE_BODY_TIMEOUT_SECONDS'])")
    result = run_manage(tmp_path, "shell", "-c", probe, env_file=dotenv, **services(), **empties,
                        DJANGO_SETTINGS_MODULE="convostore.settings.base")
    assert result.returncode == 0, result.stderr[-3000:]
    redis_url = os.environ["REDIS_URL"]
    assert result.stdout.strip().splitlines()[-1].split() == [redis_url, redis_url, str(20 * 1024 * 1024 * 2 + 65536), "3600", "60.0"]


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL"])
def test_without_a_server_url_manage_py_says_what_to_set_in_one_line(tmp_path, missing):
    dotenv = tmp_path / ".env"
    shutil.copy(EXAMPLE, dotenv)
    values = {k: v for k, v in services().items() if k != missing}
    result = run_manage(tmp_path, "check", env_file=dotenv, **values, DJANGO_SETTINGS_MODULE="convostore.settings.base")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"convostore: {missing} is not set"), result.stderr[-2000:]


def test_production_without_a_secret_key_says_so_in_one_line(tmp_path):
    result = run_manage(tmp_path, "check", **services(), DJANGO_SETTINGS_MODULE="convostore.settings.production")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "DJANGO_SECRET_KEY" in result.stderr
