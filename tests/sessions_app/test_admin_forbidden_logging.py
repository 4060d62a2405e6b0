"""An admin 403 (or any 4xx) is logged as one line, without a traceback."""

import json

import pytest
from django.urls import reverse

from convostore.observability import ContextFilter
from tests.api.test_observability import json_formatter
from tests.sessions_app.admin_fixtures import bare_staff  # noqa: F401

pytestmark = pytest.mark.django_db


def test_admin_403_logs_one_short_line(client, bare_staff, caplog):
    client.force_login(bare_staff)
    caplog.set_level("WARNING", logger="django.request")
    assert client.get(reverse("admin:sessions_app_conversation_changelist")).status_code == 403
    records = [r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", None) == 403]
    assert records, "Django logs every 403 on django.request"
    for record in records:
        assert record.exc_info is None and not record.exc_text
        ContextFilter().filter(record)
        line = json_formatter().format(record)
        assert "\n" not in line and "Traceback" not in line and "exc" not in json.loads(line)
        assert len(line) < 600, line
