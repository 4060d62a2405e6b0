"""The beat schedule is declared once; every entry names a registered task; install_schedule keeps admin edits."""

import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from convostore.celery import app
from convostore.schedule import SCHEDULE

pytestmark = pytest.mark.django_db


def test_every_scheduled_task_is_registered():
    app.loader.import_default_modules()
    assert [task for _, task, _ in SCHEDULE if task not in app.tasks] == []


def test_install_schedule_is_idempotent_and_keeps_admin_edits():
    call_command("install_schedule", stdout=io.StringIO())
    assert PeriodicTask.objects.filter(task__startswith="convostore.").count() == len(SCHEDULE)
    edited = PeriodicTask.objects.get(task="convostore.evict_idle")
    edited.enabled = False
    edited.save()
    out = io.StringIO()
    call_command("install_schedule", stdout=out)
    assert "0 periodic task(s) installed" in out.getvalue()
    assert PeriodicTask.objects.get(pk=edited.pk).enabled is False
