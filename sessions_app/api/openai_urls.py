"""OpenAI-compatible routes under /v1: Conversations API and stored-response reads."""

urlpatterns: list = []
