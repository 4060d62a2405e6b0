"""Length-limited canonical Huffman codes and word-wise numpy bit packing (the decoder is in lockstep.py)."""

from __future__ import annotations

import heapq

import numpy as np


# A hard stream boundary (exact bit offset stored in the segment) every this many symbols;
# it bounds how far a decoding error can travel and gives the decoder exact restart points.
SYNC_SYMBOLS = 4096

def code_lengths(counts, max_len: int) -> np.ndarray:
    """Huffman code lengths for ``counts`` (0 = symbol absent), limited to ``max_len`` bits."""
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(len(counts), dtype=np.int64)
    used = np.flatnonzero(counts > 0)
    if len(used) > (1 << max_len):
        raise ValueError("alphabet too large for the length limit")
    if len(used) == 1:
        lengths[used] = 1
    if len(used) <= 1:
        return lengths
    heap = [(int(c), i) for i, c in enumerate(counts[used])]
    heapq.heapify(heap)
    parent = [0] * (2 * len(used) - 1)
    node = len(used)
    while len(heap) > 1:
        w1, a = heapq.heappop(heap)
        w2, b = heapq.heappop(heap)
        parent[a] = parent[b] = node
        heapq.heappush(heap, (w1 + w2, node))
        node += 1
    depth = [0] * node
    for i in range(node - 2, -1, -1):  # parents are created after their children
        depth[i] = depth[parent[i]] + 1
    lengths[used] = depth[: len(used)]
    if lengths.max() > max_len:
        lengths[used] = _limit(lengths[used], counts[used], max_len)
    return lengths


def _limit(lengths: np.ndarray, counts: np.ndarray, max_len: int) -> np.ndarray:
    """Heuristic length limiting: clamp, lengthen rare codes until Kraft holds, then spend slack."""
    lens = np.minimum(lengths, max_len).tolist()
    cap = 1 << max_len
    kraft = sum(1 << (max_len - l) for l in lens)
    rare_first = np.argsort(counts, kind="stable").tolist()
    while kraft > cap:
        for s in rare_first:
            if lens[s] < max_len:
                lens[s] += 1
                kraft -= 1 << (max_len - lens[s])
                if kraft <= cap:
                    break
    for s in reversed(rare_first):  # frequent symbols first: shorten while the code stays valid
        while lens[s] > 1 and kraft + (1 << (max_len - lens[s])) <= cap:
            kraft += 1 << (max_len - lens[s])
            lens[s] -= 1
    return np.asarray(lens, dtype=np.int64)


def kraft_ok(lengths: np.ndarray, max_len: int) -> bool:
    """True when ``lengths`` (0 = absent) describe a valid prefix code of at most ``max_len`` bits."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size == 0 or lengths.min() < 0 or lengths.max() > max_len:
        return False
    used = lengths[lengths > 0]
    return int(np.sum(np.left_shift(1, max_len - used, dtype=np.int64))) <= (1 << max_len)


class Code:
    """A canonical prefix code; each symbol may carry a fixed number of raw extra bits."""

    def __init__(self, lengths, extra_bits=None):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        n = len(self.lengths)
        self.extra = np.zeros(n, np.int64) if extra_bits is None else np.asarray(extra_bits, np.int64)
        self.max_len = int(self.lengths.max()) if n else 0
        syms = np.flatnonzero(self.lengths)
        # Canonical order is (length, symbol); each code is its left-aligned Kraft interval start.
        self.order = syms[np.lexsort((syms, self.lengths[syms]))]
        self.span = np.left_shift(1, self.max_len - self.lengths[self.order], dtype=np.int64)
        start = np.cumsum(self.span) - self.span
        self.codes = np.zeros(n, np.uint64)
        self.codes[self.order] = (start >> (self.max_len - self.lengths[self.order])).astype(np.uint64)
        self._peek = None

    def peek_tables(self):
        """(symbol, code length, total advance) indexed by the next ``max_len`` bits; -1 = invalid."""
        if self._peek is None:
            size = 1 << max(self.max_len, 1)
            filled = int(self.span.sum())
            sym = np.full(size, -1, np.int32)
            sym[:filled] = np.repeat(self.order, self.span)
            clen = np.ones(size, np.int32)
            clen[:filled] = np.repeat(self.lengths[self.order], self.span)
            adv = clen.astype(np.int64)
            adv[:filled] += np.repeat(self.extra[self.order], self.span)
            self._peek = (sym, clen, adv)
        return self._peek


def pack_bits(values: np.ndarray, widths: np.ndarray) -> tuple[bytes, np.ndarray]:
    """MSB-first concatenation of ``values[i]`` in ``widths[i]`` bits (each 1..64 - 7 = 57 at most).

    Word-wise: every value lands in the 64-bit word holding its first bit and possibly spills into
    the next one; the bits of different values are disjoint, so a per-word sum (``add.reduceat``
    over the values starting in that word) is their OR.  Cost is per symbol, not per bit.
    Returns (bytes, end bit of each value).
    """
    widths = np.asarray(widths, dtype=np.int64)
    ends = np.cumsum(widths)
    if len(ends) == 0 or ends[-1] == 0:
        return b"", ends
    n_bits = int(ends[-1])
    values = np.asarray(values, dtype=np.uint64)
    # Short codes (bytes): first merge neighbours pairwise while the merged width stays <= 57,
    # which divides the per-value work below by up to 4.
    max_w = int(widths.max())
    while len(widths) > 1 and 2 * max_w <= 57:
        if len(widths) % 2:
            values, widths = np.append(values, np.uint64(0)), np.append(widths, 0)
        values = (values[0::2] << widths[1::2].astype(np.uint64)) | values[1::2]
        widths = widths[0::2] + widths[1::2]
        max_w *= 2
    starts = np.cumsum(widths) - widths
    word = starts >> 6
    tail = (starts & 63) + widths  # end of the value relative to its first word's start
    fits = tail <= 64
    head = np.where(fits, values << (64 - np.minimum(tail, 64)).astype(np.uint64),
                    values >> (np.maximum(tail, 64) - 64).astype(np.uint64))
    words = np.zeros((n_bits + 63) // 64 + 1, np.uint64)
    first = np.flatnonzero(np.diff(word, prepend=-1))
    words[word[first]] = np.add.reduceat(head, first)
    spill = np.flatnonzero(~fits)  # only a word's last value can spill, so targets are distinct
    words[word[spill] + 1] |= values[spill] << (128 - tail[spill]).astype(np.uint64)
    return words.astype(">u8").tobytes()[: (n_bits + 7) // 8], ends


def encode_symbols(code: Code, syms: np.ndarray, extra_vals=None):
    """Bit-pack ``syms`` with ``code``; returns (payload, n_bits, bit offsets of the hard streams)."""
    syms = np.asarray(syms)
    if code.extra.any():
        nx = code.extra[syms]
        values = code.codes[syms] << nx.astype(np.uint64)
        if extra_vals is not None:
            values |= np.asarray(extra_vals, dtype=np.uint64)
        widths = code.lengths[syms] + nx
    else:
        values, widths = code.codes[syms], code.lengths[syms]
    payload, ends = pack_bits(values, widths)
    n_bits = int(ends[-1]) if len(ends) else 0
    offsets = ends[np.arange(SYNC_SYMBOLS, len(syms), SYNC_SYMBOLS) - 1]
    return payload, n_bits, offsets
