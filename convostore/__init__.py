"""ConvoStore: conversation state for LLM inference gateways."""

from .celery import app as celery_app

__all__ = ("celery_app",)
