"""The Celery app: settings from Django (CELERY_*), tasks discovered in every app."""

import os
import time

from celery import Celery, signals

from convostore import metrics, observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")

app = Celery("convostore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs):
    """Celery leaves logging alone when this signal has a receiver: workers log through Django's LOGGING
    (JSON lines with task_id and the bound ids when LOG_FORMAT=json), like the web processes; LOG_LEVEL sets the level."""


@app.on_after_finalize.connect
def _observe_tasks(sender, **kwargs):
    """Task durations and failures to Prometheus; task id and name bound on every log line of a task."""
    started: dict[str, float] = {}

    @signals.task_prerun.connect(weak=False)
    def prerun(task_id=None, task=None, **_):
        started[task_id] = time.perf_counter()
        observability.task_scope(task_id=task_id, task=task.name if task else None)

    @signals.task_postrun.connect(weak=False)
    def postrun(task_id=None, task=None, **_):
        began = started.pop(task_id, None)
        if began is not None and task is not None:
            metrics.task_duration.labels(task=task.name).observe(time.perf_counter() - began)
        observability.task_scope()

    @signals.task_failure.connect(weak=False)
    def failure(task_id=None, sender=None, **_):
        metrics.task_failures.labels(task=getattr(sender, "name", "unknown")).inc()
