"""Native API routes under /v1/sessions (reserved words come before the id routes)."""

from django.urls import path

from . import views

urlpatterns = [
    path("sessions/resolve", views.ResponseResolveApi.as_view(), name="sessions-resolve"),
    path("sessions/responses", views.ResponseStoreApi.as_view(), name="sessions-responses"),
    path("sessions/<str:conversation_id>/append", views.SessionAppendApi.as_view(), name="sessions-append"),
    path("sessions/<str:conversation_id>/items", views.ConversationItemsApi.as_view(), name="sessions-items"),
    path("sessions/<str:conversation_id>", views.ConversationDetailApi.as_view(), name="sessions-detail"),
]
