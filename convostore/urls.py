"""Root URLconf: API under /v1, admin, schema and docs (Swagger UI, served offline), health probes."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import exposition, health

urlpatterns = [
    path("v1/", include("sessions_app.api.urls")),
    path("v1/", include("sessions_app.api.cache_urls")),
    path("v1/", include("sessions_app.api.openai_urls")),
    path("v1/", include("sessions_app.gateway.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", exposition.metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico on any page without a <link rel="icon">: answer instead of logging a 404.
    path("favicon.ico", RedirectView.as_view(url=static("convostore_admin/favicon.svg"), permanent=True), name="favicon"),
]

handler404 = "convostore.health.not_found"
handler500 = "convostore.health.server_error"
