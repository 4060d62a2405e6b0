"""Self-synchronising lockstep decoder: many Huffman decode chains advanced by one numpy step each."""

from __future__ import annotations

import numpy as np

from .errors import ArchiveCorrupt
from .huffman import SYNC_SYMBOLS

# Decoder pieces and probes (see locate_symbols), in symbols' worth of bits; fix-up rounds.
PROBE_SYMBOLS = 12
PIECE_SYMBOLS = 24
TABLE_PIECE_SYMBOLS = 48  # in table mode a step is one gather: longer pieces are cheap
FIX_ROUNDS = 16
# Longer pieces once a section would have more than this many (caps the lockstep width).
MAX_PIECES = 4096
# Sections up to this many bits precompute every bit position's successor (see Chaser).
TABLE_BITS = 1 << 17
# On-the-fly chains are clamped at the section end every this many steps.
CLAMP_STEPS = 4
# Single-stream sections with at most this many symbols are walked in plain Python (see _walk).
WALK_SYMBOLS = 4096


class Chaser:
    """Follows many decode chains in lockstep: one vectorised step per symbol for every chain.

    ``win[b]`` is the big-endian 32-bit word at payload byte b; the ``max_len``-bit peek at bit p
    is ``(win[p >> 3] << (p & 7)) >> (32 - max_len)`` in uint32 arithmetic (the left shift drops
    the bits before p), and ``adv[peek]`` is the code length plus extra bits, so p -> p + adv
    moves one symbol on.  Small sections (<= TABLE_BITS) precompute that successor for every bit
    position once, so a step is a single gather; large ones peek on the fly (cost per symbol,
    not per bit) and clamp positions at n_bits every CLAMP_STEPS steps (zero words past the end
    absorb the overrun in between).
    """

    def __init__(self, padded: bytes, start: int, n_bits: int, adv: np.ndarray, max_len: int):
        n = (n_bits + 7) // 8 + 1
        view = np.ndarray((n,), dtype=">u4", buffer=padded, offset=start, strides=(1,))
        # uint32 positions below 2**32 bits (512 MB sections), int64 beyond.
        self.wide = n_bits >= (1 << 32) - (1 << 12)
        self.dtype = np.int64 if self.wide else np.uint32
        pad = np.zeros(CLAMP_STEPS * int(adv.max()) // 8 + 2, self.dtype)
        self.win = np.concatenate([view.astype(self.dtype), pad])
        self.adv, self.n_bits = adv.astype(self.dtype), n_bits
        self.base, self.mask = 32 - max_len, (1 << max_len) - 1
        self.nxt = self.all_peeks = None
        if n_bits <= TABLE_BITS:
            r8 = np.arange(8, dtype=np.uint32)
            self.all_peeks = ((self.win[:n, None] << r8) >> np.uint32(self.base)).ravel()[: n_bits + 1]
            self.nxt = np.minimum(np.arange(n_bits + 1, dtype=self.dtype) + self.adv[self.all_peeks], n_bits)

    def peek(self, pos):
        if self.all_peeks is not None:
            return self.all_peeks[pos]
        if self.wide:
            return (self.win[pos >> 3] >> (self.base - (pos & 7))) & self.mask
        pos = np.asarray(pos, np.uint32)
        return (self.win[pos >> np.uint32(3)] << (pos & np.uint32(7))) >> np.uint32(self.base)

    def run(self, pos, ends):
        """Step every chain until it reaches its end.

        Returns (positions, peeks): one row per chain, one column per step; ``positions`` has one
        more column (where the chain is after its last step); ``peeks`` is None in table mode.
        Positions past n_bits are clamped to n_bits.
        """
        pos = pos.astype(self.dtype)
        rows, peeks = [pos], []
        nxt, n_bits = self.nxt, self.n_bits
        while True:
            if nxt is not None:
                for _ in range(8):
                    pos = nxt[pos]
                    rows.append(pos)
            else:
                adv, peek = self.adv, self.peek
                for _ in range(CLAMP_STEPS):
                    idx = peek(pos)
                    pos = pos + adv[idx]
                    rows.append(pos)
                    peeks.append(idx)
                pos = np.minimum(pos, n_bits)
                rows[-1] = pos
            if (pos >= ends).all():
                break
        rows = np.minimum(np.stack(rows), n_bits) if nxt is None else np.stack(rows)
        # stack step-major (contiguous writes), then one transposing copy: much faster than axis=1
        return np.ascontiguousarray(rows.T), (np.ascontiguousarray(np.stack(peeks).T) if peeks else None)


def locate_symbols(chaser: Chaser, n_bits: int, hard: np.ndarray, n_syms: int, want_pos: bool = True):
    """(start bit or None, peek value) of every symbol of a section, in order; checks counts.

    The section is cut into pieces of about PIECE_SYMBOLS symbols' worth of bits (the stored hard
    stream starts are piece boundaries too).  A piece's entry (its first symbol start) is
    guessed by a probe chain started PROBE_SYMBOLS symbols' worth of bits before the boundary:
    Huffman codes self-synchronise, so the probe has normally joined the true chain by then.
    All pieces are then decoded in lockstep from their entries, and piece k must exit exactly at
    piece k+1's entry.  Piece 0 starts at bit 0, so at the first disagreement the exit is the
    true entry: from there a run of wrong pieces is re-decoded as one chain (or, at a hard
    start, the disagreement proves damage).  Each round fixes at least the first wrong piece;
    after FIX_ROUNDS rounds the decoder falls back to decoding from the hard starts only.
    """
    # long: one vectorised pass over all pieces of a section; splitting it would copy the numpy arrays between steps
    if n_syms <= WALK_SYMBOLS and chaser.nxt is not None and len(hard) == 1:
        return _walk(chaser, n_bits, n_syms, want_pos)
    avg = n_bits / max(n_syms, 1)
    # Bigger sections get longer pieces: fewer wasted probe steps, same number of Python steps.
    floor = TABLE_PIECE_SYMBOLS if chaser.nxt is not None else PIECE_SYMBOLS
    piece = min(max(floor, n_syms // MAX_PIECES), 16 * PIECE_SYMBOLS)
    spacing = max(16, int(piece * avg))
    probe = max(16, int((PROBE_SYMBOLS + piece // 16) * avg))
    for bounds, is_hard in (_bounds(hard, n_bits, spacing), (hard, np.ones(len(hard), bool))):
        ends = np.append(bounds[1:], n_bits)
        # Soft pieces start decoding ``probe`` bits early; their entry is the first chain
        # position at or after the boundary, their exit the first at or after the end.
        seeds = np.where(is_hard, bounds, np.maximum(bounds - probe, 0))
        rows, peeks = chaser.run(seeds, ends)
        cols = np.arange(len(bounds))
        first = (rows < bounds[:, None]).sum(axis=1)  # column of each piece's first symbol
        stop = (rows < ends[:, None]).sum(axis=1)  # column after its last symbol
        entry, exits = rows[cols, first], rows[cols, stop]
        blocks = [(rows, peeks)]
        src_block = np.zeros(len(bounds), np.int64)
        src_row = cols.copy()
        for fix_round in range(FIX_ROUNDS + 1):
            wrong = np.flatnonzero(exits[:-1] != entry[1:]) + 1
            if not len(wrong):
                break
            if is_hard[wrong[0]]:
                raise ArchiveCorrupt("stream offsets disagree with the decoded bits")  # not reached
            if fix_round == FIX_ROUNDS:
                break
            todo, last = _runs(wrong, is_hard)
            entry[todo] = exits[todo - 1]
            r2, p2 = chaser.run(entry[todo], ends[last])
            n2 = np.arange(len(todo))
            c2 = (r2 < ends[last][:, None]).sum(axis=1)
            exits[last] = r2[n2, c2]
            src_block[todo], src_row[todo], first[todo], stop[todo] = len(blocks), n2, 0, c2
            blocks.append((r2, p2))
            # Pieces swallowed by a run become empty; they pass the run's exit on.
            for a, b in zip(todo.tolist(), last.tolist()):
                entry[a + 1 : b + 1] = exits[a : b] = exits[b]
                stop[a + 1 : b + 1] = first[a + 1 : b + 1]
        if len(wrong):
            continue  # did not converge (a code that resynchronises badly): use the hard starts only
        if exits[-1] != n_bits:
            raise ArchiveCorrupt("section does not end on a symbol boundary")
        count = stop - first
        before = np.cumsum(count) - count
        if int(count.sum()) != n_syms or (before[is_hard] != np.arange(len(hard)) * SYNC_SYMBOLS).any():
            raise ArchiveCorrupt("symbol count disagrees with the section header")
        # Chains are clamped at n_bits: the last symbol must really end there.
        k = int(np.flatnonzero(count)[-1])
        last = int(blocks[src_block[k]][0][src_row[k], first[k] + count[k] - 1])
        if last + int(chaser.adv[chaser.peek(np.array([last]))[0]]) != n_bits:
            raise ArchiveCorrupt("section does not end on a symbol boundary")
        return _collect(blocks, src_block, src_row, first, count, before, chaser, want_pos)
    raise ArchiveCorrupt("stream offsets disagree with the decoded bits")  # not reached


def _walk(chaser, n_bits, n_syms, want_pos):
    """Small single-stream sections: follow the successor table in plain Python (no numpy calls)."""
    nxt = memoryview(chaser.nxt)  # indexing yields Python ints without converting the whole table
    out = []
    p = 0
    for _ in range(n_syms):
        out.append(p)
        p = nxt[p]
        if p >= n_bits:
            break
    if len(out) != n_syms:
        raise ArchiveCorrupt("symbol count disagrees with the section header")
    pos = np.asarray(out, dtype=np.int64)
    peek = chaser.peek(pos)
    if pos[-1] + int(chaser.adv[peek[-1]]) != n_bits:  # unclamped: the last symbol ends exactly at the end
        raise ArchiveCorrupt("section does not end on a symbol boundary")
    return pos, peek


def _collect(blocks, src_block, src_row, first, count, out_start, chaser, want_pos):
    """Concatenate every piece's symbols (``count`` columns from ``first`` of its row in its block)."""
    total = int(out_start[-1] + count[-1])
    at = np.arange(total) - np.repeat(out_start, count)
    width = np.array([r.shape[1] for r, _ in blocks])[src_block]
    pos = None
    if want_pos or blocks[0][1] is None:
        off = np.cumsum([0] + [r.size for r, _ in blocks[:-1]])[src_block]
        flat = blocks[0][0].ravel() if len(blocks) == 1 else np.concatenate([r.ravel() for r, _ in blocks])
        pos = flat[np.repeat(off + src_row * width + first, count) + at]
    if blocks[0][1] is None:
        return pos, chaser.peek(pos)
    off = np.cumsum([0] + [p.size for _, p in blocks[:-1]])[src_block]
    flat = blocks[0][1].ravel() if len(blocks) == 1 else np.concatenate([p.ravel() for _, p in blocks])
    return pos, flat[np.repeat(off + src_row * (width - 1) + first, count) + at]


def _bounds(hard, n_bits, spacing):
    """Sorted piece boundaries: every ``spacing`` bits plus the hard starts; and which are hard."""
    soft = np.arange(0, n_bits, spacing)
    extra = hard[hard % spacing != 0]
    at = np.searchsorted(soft, extra)
    is_hard = np.zeros(len(soft), bool)
    is_hard[hard[hard % spacing == 0] // spacing] = True
    return np.insert(soft, at, extra), np.insert(is_hard, at, True)


def _runs(wrong, is_hard):
    """Group wrong soft pieces into runs of consecutive ones: (first, last) of each run."""
    wrong = wrong[~is_hard[wrong]]
    if not len(wrong):
        return wrong, wrong
    brk = np.flatnonzero(np.diff(wrong) != 1) + 1
    return wrong[np.append(0, brk)], wrong[np.append(brk - 1, len(wrong) - 1)]
