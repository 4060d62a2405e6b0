"""Gateway routes under /v1."""

from django.urls import path

from .views import ResponsesCreateApi

urlpatterns = [path("responses", ResponsesCreateApi.as_view(), name="openai-responses-create")]
