"""The process environment, read once with django-environ (and a .env file); an empty value means unset."""

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent


class NonEmptyEnviron(Mapping):
    """A live view of os.environ without its empty values, so `NAME=` (in the environment or .env) means unset."""

    def __getitem__(self, name: str) -> str:
        value = os.environ[name]
        if value == "":
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name, value in os.environ.items() if value != "")

    def __len__(self) -> int:
        return sum(1 for _ in self)


def required(name: str, what: str) -> str:
    """The value of `name`, or exit with one line saying what to set (never a silent default to a local server)."""
    value = env(name, default="")
    if not value:
        raise SystemExit(f"convostore: {name} is not set (in the environment or .env); set it to {what}.")
    return value


class _DotEnv(environ.Env):
    ENVIRON: dict = {}  # django-environ's reader fills this, not os.environ


def load_dotenv(path: Path) -> None:
    """Copy the non-empty values of a .env file into os.environ where the environment has no value yet.

    Empty values are skipped rather than copied, so that `NAME=` never reaches a library that only asks
    whether NAME is present (prometheus-client does, for PROMETHEUS_MULTIPROC_DIR).
    """
    _DotEnv.ENVIRON = {}
    _DotEnv.read_env(str(path))
    for name, value in _DotEnv.ENVIRON.items():
        if value != "" and not os.environ.get(name):
            os.environ[name] = value


env = environ.Env()
env.ENVIRON = NonEmptyEnviron()
# CONVOSTORE_ENV_FILE names another file (tests use it); values already in the environment win.
_dotenv = Path(os.environ.get("CONVOSTORE_ENV_FILE") or BASE_DIR / ".env")
if _dotenv.exists():
    load_dotenv(_dotenv)
