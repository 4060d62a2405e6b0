"""Summarisers: the extractive default and an OpenAI-compatible endpoint (a real HTTP server on loopback)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from archive_app.models import Summary
from sessions_app.lifecycle import summary_refresh
from archive_app.summarisers import (
    ExtractiveSummariser,
    OpenAICompatibleSummariser,
    SummariserError,
    get_summariser,
)
from sessions_app.models import Conversation
from sessions_app.services import conversation_append


class FakeChat:
    """A loopback /v1/chat/completions: answers ``reply``, or 500s, or hangs until released."""

    def __init__(self):
        self.mode = "ok"
        self.reply = "The user tunes caches; the assistant suggested TTLs."
        self.requests: list[dict] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if fake.mode == "hang":
                    fake.release.wait(10)
                    return
                if fake.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b'{"error":"boom"}')
                    return
                reply = fake.reply(body) if callable(fake.reply) else fake.reply
                payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_chat():
    with FakeChat() as server:
        yield server


def long_conversation(tenant, conversation_id="s", turns=12, start=0):
    tenant.window_size, tenant.summary_threshold_tokens = 4, 30
    tenant.save()
    for n in range(start, start + turns):
        conversation_append(
            tenant=tenant,
            conversation_id=conversation_id,
            items=[
                {"role": "user", "content": f"Turn {n}. My database index on orders is slow. Should I rebuild it?"},
                {"role": "assistant", "content": f"Reply {n}. Rebuild the orders index concurrently and raise maintenance_work_mem."},
            ],
        )
    return Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)


def openai(server, **kwargs):
    return OpenAICompatibleSummariser(base_url=server.base_url, api_key="sk-test", model="tiny", **kwargs)


@pytest.mark.parametrize("kind", ["extractive", "openai"])
def test_contract_every_summariser_returns_text_from_previous_and_turns(kind, fake_chat):
    summariser = ExtractiveSummariser() if kind == "extractive" else openai(fake_chat)
    turns = [{"type": "message", "role": "user", "content": "My cat Tom hates the vacuum cleaner. What can I do?"}]
    text = summariser.summarise(previous="user: I live in Lyon.", turns=turns)
    assert isinstance(text, str) and text.strip()
    assert summariser.label


def test_extractive_is_deterministic_and_bounded():
    turns = [{"type": "message", "role": "user", "content": f"Sentence {n} about postgres vacuum and index bloat." * 3} for n in range(50)]
    summariser = ExtractiveSummariser(max_chars=500)
    first = summariser.summarise(previous="", turns=turns)
    assert first == summariser.summarise(previous="", turns=turns)
    assert 0 < len(first) <= 500


def test_openai_request_carries_model_key_previous_summary_and_turns(fake_chat):
    text = openai(fake_chat).summarise(
        previous="user: prefers Celsius.",
        turns=[{"type": "function_call", "name": "weather", "arguments": "{\"city\":\"Oslo\"}", "call_id": "c"}],
    )
    assert text == fake_chat.reply
    request = fake_chat.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny"
    prompt = request["body"]["messages"][-1]["content"]
    assert "prefers Celsius" in prompt and "tool call weather(" in prompt


def test_openai_retries_then_raises_on_500(fake_chat):
    fake_chat.mode = "error"
    with pytest.raises(SummariserError):
        openai(fake_chat, retries=2).summarise(previous="", turns=[{"role": "user", "content": "x", "type": "message"}])
    assert len(fake_chat.requests) == 3


def test_summary_refresh_is_incremental(db, tenant):
    conversation = long_conversation(tenant)
    first = summary_refresh(conversation=conversation)
    assert first.upto_seq == 20 and first.summariser == "extractive" and first.token_estimate > 0
    assert summary_refresh(conversation=conversation) is None  # nothing new left the window: idempotent
    conversation = long_conversation(tenant, turns=6, start=12)
    seen = []

    class Recording(ExtractiveSummariser):
        def summarise(self, *, previous, turns):
            seen.append((previous, [t["content"][:8] for t in turns]))
            return super().summarise(previous=previous, turns=turns)

    second = summary_refresh(conversation=conversation, summariser=Recording())
    assert second.upto_seq == 32
    previous, turns = seen[0]
    assert previous == first.text
    assert turns[0] == "Turn 10." and len(turns) == 12  # only the turns that left the window since


def test_openai_summariser_by_dotted_path_writes_the_summary(db, tenant, fake_chat, settings):
    settings.CONVOSTORE = {
        **settings.CONVOSTORE,
        "SUMMARISER": "archive_app.summarisers.OpenAICompatibleSummariser",
        "OPENAI_BASE_URL": fake_chat.base_url,
        "SUMMARY_MODEL": "tiny",
    }
    assert isinstance(get_summariser(), OpenAICompatibleSummariser)
    summary = summary_refresh(conversation=long_conversation(tenant))
    assert summary.text == fake_chat.reply and summary.summariser == "openai:tiny"


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_endpoint_failure_leaves_the_previous_summary(db, tenant, fake_chat, mode):
    conversation = long_conversation(tenant)
    previous = summary_refresh(conversation=conversation)
    conversation = long_conversation(tenant, turns=6, start=12)
    fake_chat.mode = mode
    assert summary_refresh(conversation=conversation, summariser=openai(fake_chat, timeout=0.3, retries=1)) is None
    assert list(Summary.objects.filter(conversation=conversation).values_list("upto_seq", flat=True)) == [previous.upto_seq]
    assert len(fake_chat.requests) == 2
