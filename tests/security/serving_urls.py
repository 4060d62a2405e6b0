"""The app's URLconf plus /test/stream, an endless-enough streaming answer (64 KiB chunks, up to 256 MiB)."""

from django.http import StreamingHttpResponse
from django.urls import include, path


def stream(request):
    chunk = b"data: " + b"x" * (64 * 1024 - 8) + b"\n\n"
    return StreamingHttpResponse((chunk for _ in range(4096)), content_type="text/event-stream")


urlpatterns = [path("test/stream", stream), path("", include("convostore.urls"))]
