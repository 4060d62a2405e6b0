"""Embedders chosen by dotted path (CONVOSTORE["EMBEDDER"]): lexical hashing and an OpenAI-compatible client.

The default, a real local model, is archive_app.local_embedder.LocalEmbedder.

Every embedder returns float32 arrays of shape (n, dimensions) with L2-normalised rows.
``embed_cached`` puts the embedding cache (Redis, alias "embeddings") in front of any embedder.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

from cache_app import embedding_cache
from cache_app.redis_client import RedisUnavailable
from convostore import openai_client

logger = logging.getLogger(__name__)

_WORD_RE = re.compile(r"\w+", re.UNICODE)


class EmbedderError(Exception):
    """The embedder could not produce vectors (endpoint down, bad answer, wrong dimensions)."""


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


class BaseEmbedder:
    """One embedder: ``embed(texts)`` → float32 (len(texts), dimensions), rows L2-normalised."""

    name = "base"
    model = ""
    dimensions = 0

    @property
    def cache_id(self) -> str:
        """What a cached vector depends on: embedder, model and dimensions."""
        return f"{self.name}:{self.model}:{self.dimensions}"

    def embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class HashingEmbedder(BaseEmbedder):
    """Feature hashing of word unigrams, word bigrams and character 3-grams into signed buckets.

    Sublinear term frequency (1 + log tf), L2-normalised. It needs no download and is deterministic
    across processes, but it measures *lexical* overlap: paraphrases with different words score low and
    "refund allowed" vs "refund not allowed" score high. Use an OpenAI-compatible model for meaning.
    """

    name = "hashing"
    model = "hashing-v1"

    def __init__(self, dimensions: int | None = None):
        self.dimensions = int(dimensions or settings.CONVOSTORE["EMBEDDING_DIM"])

    @staticmethod
    def features(text: str) -> dict[str, float]:
        words = _WORD_RE.findall(text.lower())
        counts: dict[str, float] = {}
        for word in words:
            counts["w:" + word] = counts.get("w:" + word, 0) + 1
        for first, second in zip(words, words[1:]):
            key = f"b:{first} {second}"
            counts[key] = counts.get(key, 0) + 1
        for word in words:
            padded = f"#{word}#"
            for i in range(len(padded) - 2):
                key = "c:" + padded[i : i + 3]
                counts[key] = counts.get(key, 0) + 0.5
        if not counts:
            counts["e:"] = 1.0  # empty or symbol-only text still gets a unit vector
        return counts

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for feature, count in self.features(text).items():
            digest = hashlib.blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            sign = 1.0 if value >> 63 else -1.0
            vector[value % self.dimensions] += sign * (1.0 + math.log(count) if count >= 1 else count)
        return vector

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        matrix = np.stack([self._vector(text) for text in texts])
        # A hash collision can cancel every feature; fall back to the empty-text vector then.
        empty = np.linalg.norm(matrix, axis=1) == 0
        if empty.any():
            matrix[empty] = self._vector("")
        return _normalise_rows(matrix)


class OpenAICompatibleEmbedder(BaseEmbedder):
    """{OPENAI_BASE_URL}/embeddings (OpenAI, vLLM, TEI, …) through the openai SDK, with its timeouts and retries."""

    name = "openai"
    batch_size = 128
    retries = 2
    timeout_s = 10.0

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None, dimensions: int | None = None):
        config = settings.CONVOSTORE
        self.base_url = (base_url if base_url is not None else config["OPENAI_BASE_URL"]).rstrip("/")
        self.api_key = api_key if api_key is not None else config["OPENAI_API_KEY"]
        self.model = model or config["EMBEDDING_MODEL"]
        self.dimensions = int(dimensions or config["EMBEDDING_DIM"])
        self.timeout_s = float(config.get("EMBEDDER_TIMEOUT_SECONDS", self.timeout_s))
        if not self.base_url:
            raise EmbedderError("CONVOSTORE['OPENAI_BASE_URL'] is not set; the OpenAI-compatible embedder needs it.")

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = [self._request(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        if not rows:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return _normalise_rows(np.concatenate(rows))

    def _request(self, texts: list[str]) -> np.ndarray:
        try:
            payload = openai_client.embeddings(base_url=self.base_url, api_key=self.api_key, model=self.model, texts=texts,
                                               dimensions=self.dimensions, timeout=self.timeout_s, retries=self.retries)
        except openai_client.OpenAIError as exc:
            raise EmbedderError(f"embeddings endpoint {self.base_url} failed: {exc}") from exc
        return self._parse(payload, len(texts))

    def _parse(self, payload: dict, count: int) -> np.ndarray:
        try:
            data = sorted(payload["data"], key=lambda row: row["index"])
            matrix = np.asarray([row["embedding"] for row in data], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmbedderError(f"embeddings endpoint answered an unexpected body: {exc}") from exc
        if matrix.shape != (count, self.dimensions):
            raise EmbedderError(f"embeddings endpoint answered shape {matrix.shape}, expected {(count, self.dimensions)}")
        return matrix


def embedder_label(embedder: BaseEmbedder) -> str:
    """What Memory.embedder stores: vectors are only ever compared with vectors of the same embedder and model."""
    return f"{embedder.name}:{embedder.model}"[:200]


def get_embedder() -> BaseEmbedder:
    """The configured embedder (CONVOSTORE["EMBEDDER"], default the local static model, archive_app.local_embedder)."""
    path = settings.CONVOSTORE.get("EMBEDDER") or "archive_app.local_embedder.LocalEmbedder"
    return import_string(path)()


def embed_cached(*, tenant_id: int, texts: list[str], embedder: BaseEmbedder | None = None) -> np.ndarray:
    """Embed ``texts`` through the tenant's embedding cache: one MGET, embed only the misses, store them.

    When Redis is down every text is embedded directly; the answer is the same, only slower.
    """
    embedder = embedder or get_embedder()
    if not texts:
        return np.zeros((0, embedder.dimensions), dtype=np.float32)
    try:
        cached = embedding_cache.server_vectors_get(tenant_id=tenant_id, embedder_id=embedder.cache_id, texts=texts)
    except RedisUnavailable:
        return embedder.embed(list(texts))
    result = np.zeros((len(texts), embedder.dimensions), dtype=np.float32)
    missing = []
    for i, vector in enumerate(cached):
        if vector is None or vector.shape[0] != embedder.dimensions:
            missing.append(i)
        else:
            result[i] = vector
    if missing:
        unique = list(dict.fromkeys(texts[i] for i in missing))
        fresh = dict(zip(unique, embedder.embed(unique)))
        for i in missing:
            result[i] = fresh[texts[i]]
        try:
            embedding_cache.server_vectors_put(
                tenant_id=tenant_id, embedder_id=embedder.cache_id, model=embedder.model, texts=unique, vectors=[fresh[t] for t in unique]
            )
        except RedisUnavailable:
            logger.info("embedding cache unavailable; %d vectors not cached", len(unique))
    return result
