"""The local static model: BERT WordPiece like the reference tokenizer, lazy once-per-process loading, meaning.

The shared contract (shape, unit rows, determinism, batching = one by one) runs in test_embedders_contract.py.
"""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from archive_app import local_embedder
from archive_app.embedders import EmbedderError
from archive_app.local_embedder import MODEL_DIM, MODEL_NAME, LocalEmbedder, StaticModel, bert_words, load_model

ROOT = Path(__file__).resolve().parents[2]

# Produced by the reference Rust tokenizer (tokenizers 0.23.3, all-MiniLM-L6-v2's tokenizer.json after
# model2vec's vocabulary clean-up) with add_special_tokens=False and [UNK] removed.
GOLDEN_IDS = {
    "How do I reset my password?": [1132, 1082, 48, 24144, 1029, 19789, 32],
    "Ünïcødé ✓ and emoji 🚀": [3898, 1597, 15418, 2210, 1001, 6864, 28150, 1075],
    "東京タワー": [882, 758, 712, 29265, 29268],
    "don't 2FA e-mail: x@y.com": [1126, 8, 59, 19, 6014, 44, 14, 4656, 27, 63, 33, 64, 15, 3015],
    "unaffable": [13480, 19964, 2471],
}


@pytest.mark.parametrize("text", list(GOLDEN_IDS))
def test_token_ids_match_the_reference_tokenizer(text):
    assert load_model().token_ids(text) == GOLDEN_IDS[text]


def test_bert_words_normalise_accents_case_and_punctuation():
    assert bert_words("Héllo, WORLD!\tnaïve\u00a0café\x00") == ["hello", ",", "world", "!", "naive", "cafe"]
    assert bert_words("東京") == ["東", "京"]


def test_the_shipped_files_are_the_model_the_embedder_names():
    config = json.loads((local_embedder.MODEL_DIR / "config.json").read_text())
    assert (config["name"], config["dimensions"]) == (MODEL_NAME, MODEL_DIM)
    embedder = LocalEmbedder()
    assert embedder.cache_id == f"local:{MODEL_NAME}:{MODEL_DIM}"
    assert embedder.embed(["x"]).shape == (1, MODEL_DIM)


def test_long_texts_use_their_first_512_tokens():
    model = load_model()
    head = "alpha beta gamma " * 200
    assert len(model.token_ids(head)) == 512
    a, b = model.encode([head, head + " completely different tail about tax returns"])
    assert np.allclose(a, b)


def test_texts_without_known_tokens_get_the_same_unit_vector():
    vectors = LocalEmbedder().embed(["", "   ", "\x00\x01", "🚀🚀"])
    assert np.allclose(vectors, vectors[0]) and np.isclose(np.linalg.norm(vectors[0]), 1.0)


def test_meaning_beats_word_overlap():
    """The case HashingEmbedder gets wrong (test_embedders_contract): a paraphrase with other words."""
    a, close, other_words, unrelated = LocalEmbedder().embed(
        ["reset my password please", "how can I change my password", "change my login secret", "what's the weather in Oslo"]
    )
    assert a @ close > 0.7  # HashingEmbedder: 0.44
    assert a @ other_words > 0.3 > 0.1 > a @ unrelated  # HashingEmbedder: 0.19 and 0.03


def test_the_model_loads_once_per_process_under_concurrency(monkeypatch):
    loads = []
    real_init = StaticModel.__init__

    def counting_init(self, directory):
        loads.append(directory)
        real_init(self, directory)

    monkeypatch.setattr(StaticModel, "__init__", counting_init)
    monkeypatch.setattr(local_embedder, "_models", {})
    results = []
    threads = [threading.Thread(target=lambda: results.append(LocalEmbedder().embed(["same text"]))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len(results) == 8
    assert all(np.array_equal(results[0], r) for r in results)


def test_a_process_that_never_embeds_never_loads_the_model():
    script = (
        "import django; django.setup();"
        "from archive_app import local_embedder; from archive_app.embedders import get_embedder;"
        "e = get_embedder(); print(type(e).__name__, local_embedder.loaded());"
        "e.embed(['now it loads']) if type(e).__name__ == 'LocalEmbedder' else None;"
        "print(local_embedder.loaded())"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="convostore.settings.test", CONVOSTORE_EMBEDDER="archive_app.local_embedder.LocalEmbedder")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["LocalEmbedder", "False", "True"]


def test_missing_or_damaged_files_are_an_embedder_error(tmp_path):
    with pytest.raises(EmbedderError, match="could not be read"):
        LocalEmbedder(tmp_path).embed(["x"])
    for name in ("config.json", "vocab.txt"):
        (tmp_path / name).write_bytes((local_embedder.MODEL_DIR / name).read_bytes())
    np.save(tmp_path / "embeddings.npy", np.zeros((10, MODEL_DIM), dtype=np.float16))
    with pytest.raises(EmbedderError, match="vectors for"):
        LocalEmbedder(tmp_path).embed(["x"])
