"""Celery tasks of sessions_app (autodiscovered): the outbox sweep, expired-record clean-up, and the lifecycle's tasks."""

from celery import shared_task

from .lifecycle.tasks import *  # noqa: F401,F403  (registers the lifecycle tasks with the worker)
from .services import outbox


@shared_task(name="convostore.outbox_sweep")
def outbox_sweep() -> int:
    return outbox.outbox_apply()


@shared_task(name="convostore.idempotency_cleanup")
def idempotency_cleanup() -> int:
    return outbox.expired_records_delete()
