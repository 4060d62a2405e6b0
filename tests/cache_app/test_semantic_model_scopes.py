"""Vectors of two models never meet: the server embedder's model is part of every semantic-cache scope."""

import numpy as np
import pytest

from cache_app import keys

pytestmark = pytest.mark.django_db


def post(api, path, body, status=200):
    response = api.post(path, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_the_model_is_part_of_the_scope():
    ids = {keys.semantic_scope_id(1, "ns", None, model) for model in ("", "local:minilm-l6-v2-static-256:256", "hashing:hashing-v1:256")}
    assert len(ids) == 3
    assert keys.semantic_scope_id(1, "ns", "ctx", "m") != keys.semantic_scope_id(1, "ns", None, "m")


def test_an_entry_is_only_found_with_the_model_that_embedded_it(api, settings):
    question = "What is the capital of France?"
    post(api, "/v1/cache/store", {"namespace": "n", "text": question, "response": "Paris"}, status=201)
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "text": question})["hit"] is True
    settings.CONVOSTORE = {**settings.CONVOSTORE, "EMBEDDER": "archive_app.embedders.HashingEmbedder"}
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "text": question})["hit"] is False  # same dimension, other model
    post(api, "/v1/cache/store", {"namespace": "n", "text": question, "response": "Paris (hashing)"}, status=201)
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "text": question})["response"] == "Paris (hashing)"
    settings.CONVOSTORE = {**settings.CONVOSTORE, "EMBEDDER": "archive_app.local_embedder.LocalEmbedder"}
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "text": question})["response"] == "Paris"


def test_gateway_vectors_and_server_vectors_live_apart(api):
    from archive_app.local_embedder import LocalEmbedder

    question = "How do I reset my password?"
    vector = LocalEmbedder().embed([question])[0]  # even the very same numbers, sent by the gateway
    post(api, "/v1/cache/store", {"namespace": "n", "embedding": [float(x) for x in vector], "text": question, "response": "gw"}, status=201)
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "text": question})["hit"] is False
    assert post(api, "/v1/cache/lookup", {"namespace": "n", "embedding": [float(x) for x in np.asarray(vector)]})["response"] == "gw"
