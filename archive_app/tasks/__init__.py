"""Celery tasks of archive_app (autodiscovered): lifecycle (evict, archive, purge) and memory (summarise, embed)."""

from .lifecycle import *  # noqa: F401,F403
from .memory import *  # noqa: F401,F403
