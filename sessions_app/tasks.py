"""Celery tasks of sessions_app: the invalidation outbox sweep and idempotency clean-up."""

from celery import shared_task

from . import maintenance


@shared_task(name="convostore.outbox_sweep")
def outbox_sweep() -> int:
    return maintenance.outbox_apply()


@shared_task(name="convostore.idempotency_cleanup")
def idempotency_cleanup() -> int:
    return maintenance.expired_records_delete()
