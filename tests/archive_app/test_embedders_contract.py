"""One contract for every embedder: float32 (n, dim), L2-normalised rows, deterministic, order-preserving.

The OpenAI-compatible embedder talks to a real http.server on loopback that answers deterministic vectors.
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from archive_app.embedders import BaseEmbedder, EmbedderError, HashingEmbedder, OpenAICompatibleEmbedder, get_embedder
from archive_app.local_embedder import LocalEmbedder

TEXTS = ["What is the capital of France?", "how do I reset my password", "", "Ünïcødé ✓ and emoji 🚀", "a " * 500]


class FakeEmbeddings(BaseHTTPRequestHandler):
    failures_left = 0
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if type(self).failures_left > 0:
            type(self).failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        data = []
        for index, text in enumerate(body["input"]):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(body["dimensions"]) * 3.0  # not normalised on purpose
            data.append({"object": "embedding", "index": index, "embedding": vector.tolist()})
        payload = json.dumps({"object": "list", "data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    FakeEmbeddings.requests = []
    FakeEmbeddings.failures_left = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEmbeddings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["hashing", "local", "transformer", "openai"])
def embedder(request, settings) -> BaseEmbedder:
    if request.param == "hashing":
        return HashingEmbedder()
    if request.param == "local":
        return LocalEmbedder()
    if request.param == "transformer":  # the optional extra: runs where sentence-transformers is installed
        pytest.importorskip("sentence_transformers")
        from archive_app.transformer_embedder import TransformerEmbedder

        return TransformerEmbedder()
    base_url = request.getfixturevalue("fake_server")
    settings.CONVOSTORE = {**settings.CONVOSTORE, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-test", "EMBEDDING_MODEL": "emb-model"}
    return OpenAICompatibleEmbedder()


def test_identity_attributes(embedder, settings):
    assert embedder.name and embedder.model
    # the local models have their own dimension; hashing and the endpoint take the setting
    assert embedder.dimensions == settings.CONVOSTORE["EMBEDDING_DIM"] or embedder.name in ("local", "sentence-transformers")


def test_shape_dtype_and_unit_rows(embedder):
    vectors = embedder.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), embedder.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_deterministic_and_order_preserving(embedder):
    together = embedder.embed(TEXTS)
    one_by_one = np.vstack([embedder.embed([text]) for text in TEXTS])
    assert np.allclose(together, one_by_one, atol=1e-6)
    assert np.allclose(embedder.embed(TEXTS[::-1]), together[::-1], atol=1e-6)


def test_empty_batch(embedder):
    assert embedder.embed([]).shape == (0, embedder.dimensions)


def test_hashing_embedder_captures_lexical_overlap_not_meaning():
    embedder = HashingEmbedder()
    a, b, c, d = embedder.embed(["reset my password please", "please reset my password", "what's the weather in Oslo", "change my login secret"])
    assert a @ b > 0.9  # same words
    assert a @ c < 0.3  # different words
    assert a @ d < 0.5  # a paraphrase with other words is NOT recognised (documented limitation)


def test_openai_embedder_sends_model_dimensions_and_key(fake_server, settings):
    settings.CONVOSTORE = {**settings.CONVOSTORE, "OPENAI_BASE_URL": fake_server, "OPENAI_API_KEY": "sk-test", "EMBEDDING_MODEL": "emb-model"}
    OpenAICompatibleEmbedder().embed(["x"])
    sent = FakeEmbeddings.requests[-1]
    assert sent["path"] == "/v1/embeddings" and sent["auth"] == "Bearer sk-test"
    assert sent["model"] == "emb-model" and sent["dimensions"] == settings.CONVOSTORE["EMBEDDING_DIM"] and sent["input"] == ["x"]


def test_openai_embedder_retries_then_raises_a_clear_error(fake_server):
    embedder = OpenAICompatibleEmbedder(base_url=fake_server, api_key="k", model="m", dimensions=8)
    FakeEmbeddings.failures_left = 2
    assert embedder.embed(["x"]).shape == (1, 8)
    FakeEmbeddings.failures_left = 10
    with pytest.raises(EmbedderError, match="failed"):
        embedder.embed(["x"])
    with pytest.raises(EmbedderError):
        OpenAICompatibleEmbedder(base_url="http://127.0.0.1:9", api_key="k", model="m", dimensions=8).embed(["x"])


def test_wrong_dimensions_from_the_endpoint_are_an_error(fake_server):
    embedder = OpenAICompatibleEmbedder(base_url=fake_server, api_key="k", model="m", dimensions=8)
    with pytest.raises(EmbedderError, match="shape"):
        embedder._parse({"data": [{"index": 0, "embedding": [0.1] * 16}]}, 1)


def test_get_embedder_loads_the_dotted_path(settings):
    assert isinstance(get_embedder(), LocalEmbedder)  # the default: a real model, no endpoint needed
    assert settings.CONVOSTORE["EMBEDDING_DIM"] == LocalEmbedder.dimensions
    settings.CONVOSTORE = {**settings.CONVOSTORE, "EMBEDDER": "archive_app.embedders.HashingEmbedder"}
    assert get_embedder().name == "hashing"
