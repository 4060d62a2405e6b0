"""Gateway routes under /v1."""

from django.urls import path

from .views import ChatCompletionsCreateApi, ResponsesCreateApi

urlpatterns = [
    path("responses", ResponsesCreateApi.as_view(), name="openai-responses-create"),
    path("chat/completions", ChatCompletionsCreateApi.as_view(), name="openai-chat-completions-create"),
]
