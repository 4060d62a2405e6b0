"""OpenAI-compatible routes under /v1: Conversations API and stored-response reads."""

from django.urls import path

from . import openai_conversations as conversations, openai_responses as responses

urlpatterns = [
    path("conversations", conversations.ConversationsApi.as_view(), name="openai-conversations"),
    path("conversations/<str:conversation_id>", conversations.ConversationApi.as_view(), name="openai-conversation"),
    path("conversations/<str:conversation_id>/items", conversations.ConversationItemsApi.as_view(), name="openai-conversation-items"),
    path(
        "conversations/<str:conversation_id>/items/<str:item_id>",
        conversations.ConversationItemApi.as_view(),
        name="openai-conversation-item",
    ),
    path("responses/<str:response_id>", responses.ResponseApi.as_view(), name="openai-response"),
    path("responses/<str:response_id>/input_items", responses.ResponseInputItemsApi.as_view(), name="openai-response-input-items"),
]
