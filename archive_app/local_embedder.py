"""The local default embedder: a static model distilled from all-MiniLM-L6-v2 (model2vec), run with numpy alone.

A static model maps every WordPiece token of all-MiniLM-L6-v2's vocabulary to one vector (the
transformer's output for that token, PCA-rotated and weighted by token frequency at distillation); a
text's embedding is the mean of its tokens' vectors, L2-normalised. No PyTorch, no tokenizers library and
no network at run time: the files ship in ``archive_app/static_model/`` (see its README.md and
scripts/distill_static_model.py, which made them). The model is read once per process, lazily, by the
first ``embed`` call, so a process that never embeds never loads it.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import unicodedata
from pathlib import Path

import numpy as np

from .embedders import BaseEmbedder, EmbedderError

MODEL_DIR = Path(__file__).with_name("static_model")
MODEL_NAME = "minilm-l6-v2-static-256"  # what Memory.embedder and semantic-cache scopes record
MODEL_DIM = 256
MAX_TOKENS = 512  # like model2vec: a text's first 512 tokens decide its vector
MAX_WORD_CHARS = 100  # WordPiece: a longer "word" is one unknown token
_ASCII_TOKEN_RE = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_ASCII_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B73F
        or 0x2B740 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def bert_words(text: str) -> list[str]:
    """BERT's uncased normaliser and pre-tokeniser: clean, split CJK, strip accents, lowercase, split.

    Returns the words and single punctuation characters WordPiece then cuts (the same as the Rust
    ``BertNormalizer(lowercase=True)`` + ``BertPreTokenizer`` of all-MiniLM-L6-v2's tokenizer.json).
    """
    if text.isascii():
        return _ASCII_TOKEN_RE.findall(_ASCII_CONTROL_RE.sub("", text).lower())
    chars = []
    for char in text:
        code = ord(char)
        if char in "\t\n\r" or unicodedata.category(char) == "Zs":
            chars.append(" ")
        elif code == 0 or code == 0xFFFD or unicodedata.category(char).startswith("C"):
            continue
        elif _is_cjk(code):
            chars.append(f" {char} ")
        else:
            chars.append(char)
    cleaned = unicodedata.normalize("NFD", "".join(chars))
    cleaned = "".join(char for char in cleaned if unicodedata.category(char) != "Mn").lower()
    words: list[str] = []
    for chunk in cleaned.split():
        start = 0
        for i, char in enumerate(chunk):
            if _is_punctuation(char):
                if i > start:
                    words.append(chunk[start:i])
                words.append(char)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


class StaticModel:
    """Vocabulary + one float16 vector per token; ``encode(texts)`` → float32 (n, dim), unit rows."""

    def __init__(self, directory: Path):
        try:
            config = json.loads((directory / "config.json").read_text())
            vocab = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")
            self.vectors = np.load(directory / "embeddings.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EmbedderError(f"the static model in {directory} could not be read: {exc}") from exc
        self.name = config["name"]
        self.dimensions = int(config["dimensions"])
        self.ids = {token: index for index, token in enumerate(vocab) if token}
        if self.vectors.shape != (len(self.ids), self.dimensions):
            raise EmbedderError(f"{directory}: {self.vectors.shape} vectors for {len(self.ids)} tokens of {self.dimensions} dimensions")
        self.unk_id = self.ids["[UNK]"]
        fallback = self.vectors[self.unk_id].astype(np.float32)
        self.fallback = fallback / np.linalg.norm(fallback)  # texts with no known token (empty, symbols only)
        self._word_ids = functools.lru_cache(maxsize=65536)(self._wordpiece)

    def _wordpiece(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match-first WordPiece; a word that cannot be cut entirely is unknown (dropped)."""
        if len(word) > MAX_WORD_CHARS:
            return ()
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                index = self.ids.get(piece)
                if index is not None:
                    pieces.append(index)
                    break
                end -= 1
            else:
                return ()
            start = end
        return tuple(pieces)

    def token_ids(self, text: str) -> list[int]:
        """Known token ids of ``text``, at most MAX_TOKENS (unknown words are left out, as model2vec does)."""
        ids: list[int] = []
        for word in bert_words(text):
            ids.extend(self._word_ids(word))
            if len(ids) >= MAX_TOKENS:
                return ids[:MAX_TOKENS]
        return ids

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self.token_ids(text)
            if not ids:
                out[row] = self.fallback
                continue
            vector = self.vectors[ids].astype(np.float32).mean(axis=0)
            norm = float(np.linalg.norm(vector))
            out[row] = vector / norm if norm > 0 else self.fallback
        return out


_models: dict[Path, StaticModel] = {}
_lock = threading.Lock()


def load_model(directory: Path = MODEL_DIR) -> StaticModel:
    """The process's one copy of the model in ``directory`` (read on first use; thread-safe)."""
    model = _models.get(directory)
    if model is None:
        with _lock:
            model = _models.get(directory)
            if model is None:
                model = _models[directory] = StaticModel(directory)
    return model


def loaded() -> bool:
    """Whether this process has read the default model (a process that never embeds has not)."""
    return MODEL_DIR in _models


class LocalEmbedder(BaseEmbedder):
    """all-MiniLM-L6-v2 distilled to a static 256-d model: meaning, not word overlap, with numpy alone.

    ``embed(texts)`` → float32 (len(texts), 256), rows L2-normalised. The first call in a process reads
    the 14.6 MB of files (~0.1 s, ~22 MB of RSS); then a 30-word text takes ~0.05 ms and a batch of 64
    a few ms (bench/embedders.py, docs/embeddings.md). Raises EmbedderError when the files are missing
    or damaged.
    """

    name = "local"
    model = MODEL_NAME
    dimensions = MODEL_DIM

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory is not None else MODEL_DIR

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = load_model(self.directory)
        if model.name != self.model or model.dimensions != self.dimensions:
            raise EmbedderError(f"{self.directory} holds {model.name} ({model.dimensions}-d), expected {self.model} ({self.dimensions}-d)")
        return model.encode(list(texts))
