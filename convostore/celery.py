"""The Celery app: settings from Django (CELERY_*), tasks discovered in every app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")

app = Celery("convostore")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
