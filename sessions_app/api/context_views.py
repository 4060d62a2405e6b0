"""Context assembly endpoints (token budget, summary, recall, prefix fingerprint)."""

from rest_framework.views import APIView

from convostore.errors import NotFound


class ConversationContextApi(APIView):
    def get(self, request, conversation_id: str):
        raise NotFound("Context assembly is not available yet.")


class ResponseContextApi(APIView):
    def get(self, request):
        raise NotFound("Context assembly is not available yet.")
