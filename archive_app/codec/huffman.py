"""Length-limited canonical Huffman codes: numpy bit packing and a self-synchronising lockstep decoder."""

from __future__ import annotations

import heapq

import numpy as np

from .errors import ArchiveCorrupt

# A hard stream boundary (exact bit offset stored in the segment) every this many symbols;
# it bounds how far a decoding error can travel and gives the decoder exact restart points.
SYNC_SYMBOLS = 4096
# Bits between speculative decoder seeds inside a stream (see locate_symbols).
SOFT_SPACING = 128
_BIG = np.iinfo(np.int64).max


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
            adv = clen.copy()
            adv[:filled] += np.repeat(self.extra[self.order], self.span).astype(np.int32)
            self._peek = (sym, clen, adv)
        return self._peek


def pack_bits(values: np.ndarray, widths: np.ndarray) -> tuple[bytes, np.ndarray]:
    """MSB-first concatenation of ``values[i]`` in ``widths[i]`` bits; returns (bytes, end bit of each)."""
    widths = np.asarray(widths, dtype=np.int64)
    ends = np.cumsum(widths)
    if len(ends) == 0 or ends[-1] == 0:
        return b"", ends
    chunks = []
    step = 1 << 17  # bounds the temporaries to a few tens of MB whatever the input size
    for lo in range(0, len(widths), step):
        w = widths[lo : lo + step]
        e = ends[lo : lo + step]
        base = int(e[0] - w[0])
        shift = np.repeat(e - 1 - base, w) - np.arange(int(e[-1]) - base)
        bits = (np.repeat(values[lo : lo + step], w) >> shift.astype(np.uint64)) & np.uint64(1)
        chunks.append(bits.astype(np.uint8))
    return np.packbits(np.concatenate(chunks)).tobytes(), ends


def encode_symbols(code: Code, syms: np.ndarray, extra_vals=None):
    """Bit-pack ``syms`` with ``code``; returns (payload, n_bits, bit offsets of the hard streams)."""
    syms = np.asarray(syms, dtype=np.int64)
    nx = code.extra[syms]
    values = code.codes[syms] << nx.astype(np.uint64)
    if extra_vals is not None:
        values |= np.asarray(extra_vals, dtype=np.uint64)
    payload, ends = pack_bits(values, code.lengths[syms] + nx)
    n_bits = int(ends[-1]) if len(ends) else 0
    offsets = ends[np.arange(SYNC_SYMBOLS, len(syms), SYNC_SYMBOLS) - 1]
    return payload, n_bits, offsets


def _chase(nxt: np.ndarray, seeds: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Follow every seed's decode chain in lockstep until each has passed its end; rows = steps."""
    pos = seeds
    rows = [pos]
    while True:
        for _ in range(8):
            pos = nxt[pos]
            rows.append(pos)
        if (pos >= ends).all():
            return np.stack(rows)


def locate_symbols(nxt: np.ndarray, n_bits: int, hard: np.ndarray) -> np.ndarray:
    """Start bit of every symbol, given nxt[p] = start of the symbol after one starting at p.

    Seeds are the hard stream starts plus speculative seeds every SOFT_SPACING bits.  Huffman
    codes self-synchronise, so a chain started mid-symbol soon joins the true chain; a segment
    is accepted once the true entry (the previous segment's exit) lies on its chain, otherwise
    it is re-chased from that entry.  Hard starts must be hit exactly.
    """
    seeds = np.union1d(hard, np.arange(0, n_bits, SOFT_SPACING))
    is_hard = np.isin(seeds, hard)
    ends = np.append(seeds[1:], n_bits)
    chains = _chase(nxt, seeds, ends)
    for _ in range(6):
        exits = np.where(chains >= ends, chains, _BIG).min(axis=0)
        entry = np.concatenate(([0], exits[:-1]))
        bad = ~(is_hard | (chains == entry).any(axis=0))
        if not bad.any():
            if (entry[is_hard] != seeds[is_hard]).any():
                raise ArchiveCorrupt("stream offsets disagree with the decoded bits")
            valid = (chains >= entry) & (chains < ends)
            return chains.T[valid.T]
        redo = _chase(nxt, entry[bad], ends[bad])
        chains = _merge(chains, redo, bad, n_bits)
    # Pathological codes that never resynchronise: decode from the exact hard starts only.
    hard_ends = np.append(hard[1:], n_bits)
    chains = _chase(nxt, hard, hard_ends)
    exits = np.where(chains >= hard_ends, chains, _BIG).min(axis=0)
    if (exits[:-1] != hard[1:]).any():
        raise ArchiveCorrupt("stream offsets disagree with the decoded bits")
    return chains.T[(chains < hard_ends).T]


def _merge(chains, redo, bad, fill):
    rows = max(len(chains), len(redo))
    out = np.full((rows, chains.shape[1]), fill, dtype=chains.dtype)
    out[: len(chains)] = chains
    out[:, bad] = fill
    out[: len(redo), bad] = redo
    return out
