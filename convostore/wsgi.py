"""WSGI entry point (gunicorn convostore.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")
application = get_wsgi_application()
