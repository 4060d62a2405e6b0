"""Segment format: header, codec dispatch (stored / byte Huffman / token Huffman) and integrity checks."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from .errors import ArchiveCorrupt
from .huffman import SYNC_SYMBOLS, Code, code_lengths, kraft_ok
from .lz import MIN_MATCH, expand, from_buckets, parse, to_buckets, tokenize, detokenize
from .sections import Reader, decode_section, put_varint, read_section_header, write_section
from .tables import CodeTable

MAGIC = b"CSAR"
FORMAT_VERSION = 1
CODEC_BYTE_HUFFMAN = 1
CODEC_TOKEN_HUFFMAN = 2
CODEC_NAMES = {CODEC_BYTE_HUFFMAN: "byte-huffman", CODEC_TOKEN_HUFFMAN: "token-huffman"}
# Body modes (first body byte): how this particular segment was actually coded.
MODE_TOKENS, MODE_BYTES, MODE_STORED = 0, 1, 2
BYTE_MAX_LEN = 12
_FIXED = struct.Struct("<4sBBQI")  # magic, version, codec, table id, crc32 of the raw bytes
MAX_RAW = 1 << 40


def encode(data: bytes, *, table: CodeTable | None = None) -> bytes:
    """Compress ``data`` into one self-describing segment.

    With ``table`` the segment is token-Huffman coded (codec 2) and can only be decoded with
    that table; inside, it falls back to byte Huffman or stored bytes when those are smaller.
    Without a table it is byte-Huffman coded (codec 1), stored when Huffman would not help.
    """
    data = bytes(data)
    codec = CODEC_BYTE_HUFFMAN if table is None else CODEC_TOKEN_HUFFMAN
    out = bytearray(_FIXED.pack(MAGIC, FORMAT_VERSION, codec, table.table_id if table else 0, zlib.crc32(data)))
    put_varint(out, len(data))
    candidates = [bytes([MODE_STORED]) + data]
    if table is not None and data:
        candidates.append(_token_body(data, table))
    # A byte-Huffman body can never be smaller than the order-0 entropy of the data, so skip
    # building it when a candidate already beats that bound.
    if data and len(min(candidates, key=len)) > _entropy_bytes(data):
        candidates.append(_byte_body(data))
    return bytes(out + min(candidates, key=len))


def _entropy_bytes(data: bytes) -> float:
    counts = np.bincount(np.frombuffer(data, np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum()) * len(data) / 8


def decode(blob: bytes, *, table: CodeTable | None = None) -> bytes:
    """The exact bytes given to encode.

    Raises ArchiveCorrupt (never another exception, never wrong bytes) when the segment is
    damaged, truncated, of an unknown version, or token-coded and ``table`` is missing or wrong.
    """
    try:
        blob = bytes(blob)
        r, codec, table_id, crc, raw_len = _header(blob)
        if codec == CODEC_TOKEN_HUFFMAN:
            if table is None:
                raise ArchiveCorrupt(f"segment needs code table {table_id}; decode was given none")
            if table.table_id != table_id:
                raise ArchiveCorrupt(f"segment needs code table {table_id}, got table {table.table_id}")
        data = _body(r, blob, raw_len, table)
        if r.pos != len(blob):
            raise ArchiveCorrupt("trailing bytes after the segment body")
        if len(data) != raw_len or zlib.crc32(data) != crc:
            raise ArchiveCorrupt("CRC32 mismatch: decoded bytes differ from the archived bytes")
        return data
    except ArchiveCorrupt:
        raise
    except Exception as exc:  # any decoder failure on damaged input is corruption, by contract
        raise ArchiveCorrupt(f"corrupt segment ({type(exc).__name__}: {exc})") from None


def segment_info(blob: bytes) -> dict:
    """Header fields without decoding: codec id, table id (None if none), raw length, crc, streams."""
    try:
        blob = bytes(blob)
        r, codec, table_id, crc, raw_len = _header(blob)
        mode, streams = _count_streams(r, codec, raw_len)
    except ArchiveCorrupt:
        raise
    except Exception as exc:
        raise ArchiveCorrupt(f"corrupt segment header ({type(exc).__name__})") from None
    info = {
        "version": FORMAT_VERSION,
        "codec": codec,
        "codec_name": CODEC_NAMES[codec],
        "mode": ("tokens", "bytes", "stored")[mode],
        "table_id": table_id or None,
        "raw_length": raw_len,
        "crc32": crc,
        "stream_count": streams,
        "encoded_length": len(blob),
    }
    # Short aliases for callers that prefer them.
    info.update(codec_id=codec, raw_len=raw_len, crc=crc, streams=streams)
    return info


def _header(blob: bytes):
    if len(blob) < _FIXED.size + 2:
        raise ArchiveCorrupt("segment truncated (shorter than its header)")
    magic, version, codec, table_id, crc = _FIXED.unpack_from(blob)
    if magic != MAGIC:
        raise ArchiveCorrupt("not an archive segment (bad magic)")
    if version != FORMAT_VERSION:
        raise ArchiveCorrupt(f"unsupported segment format version {version}")
    if codec not in CODEC_NAMES or (codec == CODEC_BYTE_HUFFMAN) != (table_id == 0):
        raise ArchiveCorrupt(f"unknown codec {codec} or table id inconsistent with it")
    r = Reader(blob, _FIXED.size)
    raw_len = r.varint(MAX_RAW)
    return r, codec, table_id, crc, raw_len


def _count_streams(r: Reader, codec: int, raw_len: int):
    mode = r.take(1)[0]
    if mode == MODE_STORED:
        return mode, 0
    if mode == MODE_BYTES:
        _byte_code(r)
        return mode, -(-read_section_header(r, raw_len)[0] // SYNC_SYMBOLS)
    if mode != MODE_TOKENS or codec != CODEC_TOKEN_HUFFMAN:
        raise ArchiveCorrupt(f"unknown body mode {mode}")
    r.varint(raw_len)
    n_main = read_section_header(r, None)[0]
    n_dist = read_section_header(r, None)[0]
    return mode, -(-n_main // SYNC_SYMBOLS) + -(-n_dist // SYNC_SYMBOLS)


def _body(r: Reader, blob: bytes, raw_len: int, table):
    mode = r.take(1)[0]
    if mode == MODE_STORED:
        return r.take(raw_len)
    padded = blob + bytes(8)  # lets the vectorised readers peek past the last byte
    if mode == MODE_BYTES:
        syms, _ = decode_section(r, padded, _byte_code(r), raw_len)
        return syms.astype(np.uint8).tobytes()
    if mode == MODE_TOKENS and blob[5] == CODEC_TOKEN_HUFFMAN:
        return _decode_tokens(r, padded, raw_len, table)
    raise ArchiveCorrupt(f"unknown body mode {mode}")


def _byte_body(data: bytes) -> bytes:
    """Order-0 byte Huffman: 32-byte presence bitmap, 4-bit code lengths, one section."""
    arr = np.frombuffer(data, np.uint8)
    lengths = code_lengths(np.bincount(arr, minlength=256), BYTE_MAX_LEN)
    nib = lengths[lengths > 0]
    nib = np.append(nib, 0) if len(nib) % 2 else nib
    out = bytearray([MODE_BYTES])
    out += np.packbits(lengths > 0).tobytes() + ((nib[0::2] << 4) | nib[1::2]).astype(np.uint8).tobytes()
    write_section(out, Code(lengths), arr, with_count=False)
    return bytes(out)


def _byte_code(r: Reader) -> Code:
    present = np.unpackbits(np.frombuffer(r.take(32), np.uint8)).astype(bool)
    n = int(present.sum())
    packed = np.frombuffer(r.take((n + 1) // 2), np.uint8)
    nib = np.stack([packed >> 4, packed & 15], axis=1).ravel().astype(np.int64)
    if n % 2 and nib[-1]:
        raise ArchiveCorrupt("non-zero padding nibble in the byte code lengths")
    nib = nib[:n]
    lengths = np.zeros(256, np.int64)
    lengths[present] = nib
    if (nib == 0).any() or not kraft_ok(lengths, BYTE_MAX_LEN):
        raise ArchiveCorrupt("invalid byte code lengths")
    return Code(lengths)


def _token_body(data: bytes, table: CodeTable) -> bytes:
    """LZ77 over BPE tokens against the table's prefix, Huffman-coded with the shared codes."""
    main, dist = table.codes()
    toks = tokenize(data, table.encoding)
    keep, mlen, mdist = parse(table.dict_tokens, toks, table.prefix_index())
    ids = toks[keep]
    syms = table.index_of(ids)
    extra = np.where(syms == table.escape, ids, 0).astype(np.uint64)
    is_match = mlen > 0
    lcode, lextra = to_buckets(mlen[is_match] - MIN_MATCH)
    syms[is_match] = table.escape + 1 + lcode
    extra[is_match] = lextra
    dcode, dextra = to_buckets(mdist[is_match] - 1)
    out = bytearray([MODE_TOKENS])
    put_varint(out, len(toks))
    write_section(out, main, syms, extra)
    write_section(out, dist, dcode, dextra)
    return bytes(out)


def _decode_tokens(r: Reader, padded: bytes, raw_len: int, table: CodeTable) -> bytes:
    main, dist = table.codes()
    n_tokens = r.varint(raw_len)  # every token is at least one byte
    syms, extras = decode_section(r, padded, main)
    esc = table.escape
    is_match = syms > esc
    dsyms, dextras = decode_section(r, padded, dist)
    if len(dsyms) != int(is_match.sum()):
        raise ArchiveCorrupt("distance count mismatch")
    mlen = np.zeros(len(syms), np.int64)
    mlen[is_match] = from_buckets(syms[is_match] - esc - 1, extras[is_match]) + MIN_MATCH
    mdist = np.zeros(len(syms), np.int64)
    mdist[is_match] = from_buckets(dsyms, dextras) + 1
    if int(np.where(is_match, mlen, 1).sum()) != n_tokens:
        raise ArchiveCorrupt("token count mismatch")
    lookup = np.append(table.tokens, 0)
    literal = np.where(syms == esc, extras.astype(np.int64), lookup[np.minimum(syms, esc)])
    return detokenize(expand(table.dict_tokens, literal, mlen, mdist), table.encoding)
