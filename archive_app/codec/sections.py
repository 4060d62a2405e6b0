"""Varints and Huffman-coded sections: header layout, bounds checks and vectorised decoding."""

from __future__ import annotations

import numpy as np

from .errors import ArchiveCorrupt
from .huffman import SYNC_SYMBOLS, Code, encode_symbols
from .lockstep import Chaser, locate_symbols


def put_varint(out: bytearray, value: int) -> None:
    """Append unsigned LEB128 ``value``."""
    value = int(value)
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class Reader:
    """Bounds-checked cursor over a segment; every overrun is ArchiveCorrupt."""

    def __init__(self, blob: bytes, pos: int = 0):
        self.blob = blob
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.blob):
            raise ArchiveCorrupt("segment truncated")
        chunk = self.blob[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def varint(self, limit: int) -> int:
        value = shift = 0
        for _ in range(10):
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value > limit:
                    raise ArchiveCorrupt("length field out of range")
                return value
            shift += 7
        raise ArchiveCorrupt("malformed varint")


def write_section(out: bytearray, code: Code, syms, extra_vals=None, *, with_count=True) -> None:
    """Section = [n_symbols] n_bits, one varint offset delta per extra stream, payload bytes."""
    payload, n_bits, offsets = encode_symbols(code, syms, extra_vals)
    if with_count:
        put_varint(out, len(syms))
    put_varint(out, n_bits)
    previous = 0
    for offset in offsets.tolist():
        put_varint(out, offset - previous)
        previous = offset
    out += payload


def read_section_header(r: Reader, n_syms: int | None):
    """Parse a section header; returns (n_syms, n_bits, hard stream starts, payload start)."""
    remaining_bits = 8 * (len(r.blob) - r.pos)
    if n_syms is None:
        n_syms = r.varint(remaining_bits)  # every symbol takes at least one bit
    n_bits = r.varint(remaining_bits)
    if n_syms > n_bits or (n_bits and not n_syms):
        raise ArchiveCorrupt("symbol count inconsistent with bit count")
    n_streams = max(1, -(-n_syms // SYNC_SYMBOLS))
    hard = [0]
    for _ in range(n_streams - 1):
        hard.append(hard[-1] + r.varint(n_bits))
    if len(hard) > 1 and (np.diff(hard) <= 0).any() or hard[-1] >= max(n_bits, 1):
        raise ArchiveCorrupt("bad stream offsets")
    start = r.pos
    payload = r.take((n_bits + 7) // 8)
    if n_bits % 8 and payload[-1] & ((1 << (8 - n_bits % 8)) - 1):
        raise ArchiveCorrupt("non-zero padding after the last symbol")
    return n_syms, n_bits, np.asarray(hard, dtype=np.int64), start


def decode_section(r: Reader, padded: bytes, code: Code, n_syms: int | None = None):
    """Decode one section at the reader's cursor; returns (symbols, extra-bit values)."""
    n_syms, n_bits, hard, start = read_section_header(r, n_syms)
    if n_syms == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    if code.max_len == 0:
        raise ArchiveCorrupt("section uses an empty code")
    sym_tab, clen_tab, adv_tab = code.peek_tables()
    chaser = Chaser(padded, start, n_bits, adv_tab, max(code.max_len, 1))
    has_extra = bool(code.extra.any())
    pos, idx = locate_symbols(chaser, n_bits, hard, n_syms, want_pos=has_extra)
    syms = sym_tab[idx]
    if syms.min() < 0:
        raise ArchiveCorrupt("invalid Huffman code")
    if not has_extra:
        return syms, None
    syms = syms.astype(np.int64)
    extras = np.zeros(n_syms, np.uint64)
    nx = code.extra[syms]
    has = np.flatnonzero(nx)
    if len(has):
        extras[has] = _read_bits(padded, start, pos[has] + clen_tab[idx[has]], nx[has])
    return syms, extras


def _read_bits(padded: bytes, start: int, bitpos: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Raw ``widths[i]``-bit values (1..56) at section bit offsets ``bitpos``."""
    words = np.ndarray((len(padded) - start - 7,), dtype=">u8", buffer=padded, offset=start, strides=(1,))
    w = words[bitpos >> 3].astype(np.uint64) << (bitpos & 7).astype(np.uint64)
    return w >> (64 - widths).astype(np.uint64)
