"""A real LiteLLM proxy process with ConvoStore's hook, in front of the loopback model server (which keeps no state).

The proxy runs from its own venv (.venv-litellm, pinned in litellm-requirements.txt; built by `make litellm-venv`
or here on first use), on a free loopback port, with the config.yaml docs/gateway.md shows. ConvoStore is the live
test server; the official openai SDK talks to the proxy.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from convostore import client as cs
from sessions_app.models import ApiKey, Response
from sessions_app.services.tenants import KEY_PREFIX_LEN, hash_key
from tests.conftest import _free_port
from tests.gateway.fake_upstream import FakeUpstream

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-litellm"
REQUIREMENTS = Path(__file__).with_name("litellm-requirements.txt")
DOCS = ROOT / "docs" / "gateway.md"
DOCS_UPSTREAM = "http://127.0.0.1:8001/v1   # the model server"


def docs_config(upstream: str) -> str:
    """docs/gateway.md's config.yaml, verbatim but for the model server's address."""
    section = DOCS.read_text().split("## LiteLLM proxy", 1)[1]
    config = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert DOCS_UPSTREAM in config and HOOK in config
    return config.replace(DOCS_UPSTREAM, upstream)


HOOK = "convostore.integrations.litellm.proxy_handler_instance"
PROXY_KEY = f"cs_{secrets.token_hex(4)}_litellm-proxy-tests"  # the ConvoStore key the proxy's hook uses


def litellm_venv() -> Path:
    """.venv-litellm/bin/python, installed when its stamp is missing or older than the requirements (as the Makefile does)."""
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < REQUIREMENTS.stat().st_mtime:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
        stamp.touch()
    return VENV / "bin" / "python"


@pytest.fixture(scope="session")
def litellm_python():
    return litellm_venv()


class Proxy:
    def __init__(self, python: Path, upstream: str, convostore_url: str, api_key: str, tmp_path: Path):
        self.port, self.key = _free_port(), f"sk-{secrets.token_hex(32)}"
        config = tmp_path / "config.yaml"
        config.write_text(docs_config(upstream))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CONVOSTORE_URL": convostore_url, "CONVOSTORE_API_KEY": api_key,
               "LITELLM_MASTER_KEY": self.key, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "DJANGO_SETTINGS_MODULE": ""}
        env.pop("DATABASE_URL", None)  # the proxy would take it for its own spend-log database
        self.log = tmp_path / "litellm.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(python.parent / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-4000:]
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("the LiteLLM proxy did not start:\n" + self.log.read_text()[-4000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(litellm_python, upstream, live_server, tmp_path_factory):
    """One proxy for the module (it takes a while to start); each test issues the tenant key it was given."""
    proxy = Proxy(litellm_python, upstream.base_url, live_server.url, PROXY_KEY, tmp_path_factory.mktemp("litellm"))
    try:
        proxy.wait_ready()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def sdk(proxy, upstream, tenant):
    ApiKey.objects.create(tenant=tenant, name="litellm", prefix=PROXY_KEY[:KEY_PREFIX_LEN], key_hash=hash_key(PROXY_KEY))
    upstream.requests.clear()
    with openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=proxy.key, max_retries=0, timeout=60) as client:
        yield client


@pytest.fixture
def native(live_server, api):
    with cs.Client(live_server.url, api.raw_key, max_retries=0) as native:
        yield native


def sent(upstream) -> list[str]:
    """What the last /responses request gave the upstream as input (each item as JSON text)."""
    body = upstream.calls("/responses")[-1]["body"]
    assert "previous_response_id" not in body  # the upstream keeps no state: it gets the whole context
    return [json.dumps(item) for item in body["input"]]


def stored_paths(native, tenant) -> dict[str, str]:
    """Each stored response's path (its conversation up to it), as JSON text, by the last user text of its input."""
    paths = {}
    for row in Response.objects.filter(tenant=tenant):
        items = native.resolve(row.response_id)["items"]
        content = [item for item in items if item.get("role") == "user"][-1]["content"]
        text = content if isinstance(content, str) else "".join(part.get("text", "") for part in content)
        paths[text] = json.dumps(items)
    return paths


def test_chained_responses_through_litellm_resolve_the_previous_turn_at_once(sdk, upstream, native, tenant):
    first = sdk.responses.create(model="small", input="My name is Ada.")
    assert first.output_text == "echo: My name is Ada."
    second = sdk.responses.create(model="small", input="What is my name?", previous_response_id=first.id)  # no wait
    upstream_input = sent(upstream)
    assert ["My name is Ada." in t for t in upstream_input] == [True, True, False]  # the input, its echo, the new one
    assert "echo: My name is Ada." in upstream_input[1] and "What is my name?" in upstream_input[2]
    assert second.output_text == "echo: What is my name?"
    rows = list(Response.objects.filter(tenant=tenant).order_by("id"))
    assert len(rows) == 2 and rows[1].previous_response_id == rows[0].response_id and rows[0].conversation_id == rows[1].conversation_id
    stored = json.dumps(native.resolve(rows[1].response_id)["items"])
    assert all(text in stored for text in ("My name is Ada.", "echo: My name is Ada.", "What is my name?", "echo: What is my name?"))


def test_a_streamed_turn_is_stored_before_its_completed_event(sdk, upstream, tenant):
    first = sdk.responses.create(model="small", input="Remember: blue.")
    events = list(sdk.responses.create(model="small", input="And green.", previous_response_id=first.id, stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.output_text == "echo: And green."
    assert len({e.response.id for e in events if getattr(e, "response", None) is not None}) == 1  # one id, every event
    sdk.responses.create(model="small", input="Which colours?", previous_response_id=events[-1].response.id)
    assert all(any(text in item for item in sent(upstream)) for text in ("Remember: blue.", "echo: And green.", "Which colours?"))
    assert Response.objects.filter(tenant=tenant).count() == 3


def test_a_fork_through_litellm_is_isolated(sdk, upstream, native, tenant):
    first = sdk.responses.create(model="small", input="Trip to Oslo.")
    left = sdk.responses.create(model="small", input="Go by train.", previous_response_id=first.id)
    sdk.responses.create(model="small", input="Go by plane.", previous_response_id=first.id)
    assert "Go by train." not in json.dumps(sent(upstream))  # the second branch was sent its own path only
    sdk.responses.create(model="small", input="How long?", previous_response_id=left.id)
    upstream_input = json.dumps(sent(upstream))
    assert "Trip to Oslo." in upstream_input and "Go by train." in upstream_input and "Go by plane." not in upstream_input
    paths = stored_paths(native, tenant)
    assert "Trip to Oslo." in paths["Go by plane."] and "Go by train." not in paths["Go by plane."]
    assert "Go by plane." not in paths["How long?"]


def test_a_retried_call_is_stored_once(sdk, upstream, native, tenant):
    headers = {"x-litellm-call-id": "call-retry-1"}  # the same LiteLLM call id: the same Idempotency-Key
    first = sdk.responses.create(model="small", input="Book a table.", extra_headers=headers)
    again = sdk.responses.create(model="small", input="Book a table.", extra_headers=headers)
    assert len(upstream.calls("/responses")) == 2 and again.output_text == first.output_text  # the model ran twice ...
    (row,) = Response.objects.filter(tenant=tenant)  # ... ConvoStore kept one response
    assert json.dumps(native.resolve(row.response_id)["items"]).count("Book a table.") == 2  # the input and its echo
    for held in (first.id, again.id):  # either answer's id continues the one stored turn
        sdk.responses.create(model="small", input="For two.", previous_response_id=held)
        assert ["Book a table." in item for item in sent(upstream)] == [True, True, False]


def test_an_unknown_previous_response_is_a_404_and_nothing_goes_upstream(sdk, upstream, proxy):
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model="small", input="Hi", previous_response_id="resp_nope")
    assert upstream.calls("/responses") == []


def test_a_chat_naming_a_conversation_gets_its_history_and_is_stored(sdk, upstream, native, tenant):
    extension = {"convostore": {"conversation": "chat-via-litellm"}}
    first = sdk.chat.completions.create(model="small", extra_body=extension, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "My name is Ada."}])
    assert first.choices[0].message.content == "echo: My name is Ada." and first.id.startswith("resp_cs_")
    sdk.chat.completions.create(model="small", extra_body=extension, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is my name?"}])
    sent_messages = upstream.calls("/chat/completions")[-1]["body"]["messages"]
    assert [(m["role"], m["content"]) for m in sent_messages] == [
        ("system", "Be brief."), ("user", "My name is Ada."), ("assistant", "echo: My name is Ada."), ("user", "What is my name?")]
    texts = [item["content"] if isinstance(item["content"], str) else item["content"][0]["text"]
             for item in native.items("chat-via-litellm", order="asc")["data"]]
    assert texts == ["My name is Ada.", "echo: My name is Ada.", "What is my name?", "echo: What is my name?"]
    plain = sdk.chat.completions.create(model="small", messages=[{"role": "user", "content": "Hi"}])  # no conversation
    assert not plain.id.startswith("resp_cs_") and Response.objects.filter(tenant=tenant).count() == 2
