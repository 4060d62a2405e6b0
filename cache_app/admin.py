"""The admin dashboard page (/admin/dashboard/, also shown on the admin index) for staff who may view conversations."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from .dashboard import dashboard_context

DASHBOARD_PERMISSION = "sessions_app.view_conversation"


def dashboard_view(request):
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    context = {**admin.site.each_context(request), "title": "ConvoStore dashboard", **dashboard_context()}
    return TemplateResponse(request, "admin/convostore_dashboard.html", context)


def _with_dashboard(get_urls):
    # The project keeps django.contrib.admin's default site (django-celery-beat registers on it), so the
    # dashboard joins its URLs instead of replacing the site.
    def urls():
        return [path("dashboard/", admin.site.admin_view(dashboard_view), name="dashboard"), *get_urls()]

    return urls


if not getattr(admin.site, "convostore_dashboard", False):
    admin.site.get_urls = _with_dashboard(admin.site.get_urls)
    admin.site.convostore_dashboard = True
