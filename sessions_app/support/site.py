"""The admin site: Django's AdminSite plus the dashboard page (/admin/dashboard/, also drawn on the index).

Installed as the default site through ``AdminConfig.default_site`` (sessions_app.apps.ConvoStoreAdminConfig),
so every ``admin.site.register`` — django-celery-beat's included — lands here, and every model admin gets
convostore.admin_mixins.AllowListedLookupsMixin (no filter, search or lookup on a column not allowed).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from convostore.admin_mixins import AllowListedLookupsMixin
from convostore.db_router import from_replica

from .dashboard import DASHBOARD_PERMISSION, dashboard_context


class ConvoStoreAdminSite(admin.AdminSite):
    site_header = "ConvoStore administration"
    site_title = "ConvoStore admin"
    index_title = "Site administration"
    enable_nav_sidebar = False  # its 300 px are the conversation list's columns; the breadcrumbs lead home

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every model admin — ours, django-celery-beat's, django.contrib.auth's — filters only by its allow-list."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AllowListedLookupsMixin):
            admin_class = type(admin_class.__name__, (AllowListedLookupsMixin, admin_class), {"__module__": admin_class.__module__})
        super().register(model_or_iterable, admin_class, **options)

    def get_urls(self):
        return [path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"), *super().get_urls()]

    def dashboard_view(self, request):
        """Tiers, archive ratio, lifecycle counts and the semantic cache hit rate, for staff who may view conversations.

        Aggregates over every conversation: read from the replica when one is configured."""
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            raise PermissionDenied
        charts = from_replica(dashboard_context, where="admin dashboard")
        context = {**self.each_context(request), "title": "ConvoStore dashboard", **charts}
        return TemplateResponse(request, "admin/convostore_dashboard.html", context)
