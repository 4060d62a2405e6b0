"""Native API routes under /v1/sessions (reserved words come before the id routes)."""

from django.urls import path

from . import context_views, views

urlpatterns = [
    path("sessions/resolve", views.ResponseResolveApi.as_view(), name="sessions-resolve"),
    path("sessions/responses", views.ResponseStoreApi.as_view(), name="sessions-responses"),
    path("sessions/context", context_views.ResponseContextApi.as_view(), name="sessions-response-context"),
    path("sessions/<str:conversation_id>/context", context_views.ConversationContextApi.as_view(), name="sessions-context"),
    path("sessions/<str:conversation_id>/append", views.SessionAppendApi.as_view(), name="sessions-append"),
    path("sessions/<str:conversation_id>/items", views.ConversationItemsApi.as_view(), name="sessions-items"),
    path("sessions/<str:conversation_id>", views.ConversationDetailApi.as_view(), name="sessions-detail"),
]
