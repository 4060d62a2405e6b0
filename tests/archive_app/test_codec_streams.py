"""Fast codec internals: bit packing, greedy LZ parse, the lockstep decoder over many pieces/streams."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archive_app import codec  # noqa: E402
from archive_app.codec import format as fmt  # noqa: E402
from archive_app.codec import huffman, lockstep, lz  # noqa: E402
from archive_app.codec.sections import Reader  # noqa: E402

WORDS = "the cache token retry window archive segment tenant value error python redis query".split()


def chat_text(seed: int, size: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    while sum(map(len, parts)) < size:
        parts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) + rng.choice([". ", "? ", "\n"]))
        if rng.random() < 0.2 and len(parts) > 3:
            parts.append(rng.choice(parts[:-1]))  # repeats for the LZ stage
    return "".join(parts).encode()[:size]


TABLE = codec.train_table([chat_text(s, 3000) for s in range(12)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 57), st.integers(0, 2**57 - 1)), max_size=300))
def test_pack_bits_matches_a_bit_string(items):
    widths = np.array([w for w, _ in items], np.int64)
    values = np.array([v & ((1 << w) - 1) for w, v in items], np.uint64)
    packed, ends = huffman.pack_bits(values, widths)
    bits = "".join(format(int(v), f"0{w}b") for w, v in zip(widths.tolist(), values.tolist()))
    bits += "0" * (-len(bits) % 8)
    assert packed == bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))
    assert ends.tolist() == np.cumsum(widths).tolist()


def _reference_greedy(lengths, dists):
    starts, i = [], 0
    while i < len(lengths):
        if lengths[i] >= lz.MIN_MATCH:
            starts.append(i)
            i += min(lengths[i], lz.MAX_MATCH)
        else:
            i += 1
    return starts


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=200))
def test_greedy_parse_matches_the_obvious_loop(raw):
    n = len(raw)
    lengths = np.array([min(v, n - i) if v >= lz.MIN_MATCH else v % lz.MIN_MATCH for i, v in enumerate(raw)], np.int64)
    dists = np.arange(n, dtype=np.int64) + 1
    starts, lens, ds = lz.greedy_parse(lengths, dists)
    assert starts.tolist() == _reference_greedy(lengths.tolist(), dists.tolist())
    assert lens.tolist() == [min(int(lengths[s]), lz.MAX_MATCH) for s in starts.tolist()]
    assert ds.tolist() == (starts + 1).tolist()


def test_cached_prefix_index_gives_the_same_parse_as_a_fresh_one():
    toks = lz.tokenize(chat_text(99, 20000), TABLE.encoding)
    a = lz.parse(TABLE.dict_tokens, toks, TABLE.prefix_index())
    b = lz.parse(TABLE.dict_tokens, toks)
    assert all((x == y).all() for x, y in zip(a, b))
    assert TABLE.prefix_index() is TABLE.prefix_index()


@pytest.mark.parametrize("size", [5_000, 60_000, 400_000])
def test_many_streams_and_pieces_round_trip(size):
    data = chat_text(size, size)
    for kwargs in ({}, {"table": TABLE}):
        blob = codec.encode(data, **kwargs)
        assert codec.decode(blob, **kwargs) == data
    assert codec.segment_info(codec.encode(data))["stream_count"] == -(-size // huffman.SYNC_SYMBOLS)


@pytest.mark.parametrize("data", [
    b"a" * 50_000 + b"b",  # 1-bit codes: many symbols per piece
    bytes(random.Random(3).choices(range(200), k=300_000)),  # ~8-bit codes, window mode
    bytes(random.Random(4).choices(range(40), weights=[2**-i for i in range(40)], k=200_000)),  # long codes
])
def test_skewed_and_flat_byte_codes(data):
    assert codec.decode(codec.encode(data)) == data


def test_decoder_recovers_from_probes_that_never_sync(monkeypatch):
    data = chat_text(7, 150_000)
    blobs = [(codec.encode(data), None), (codec.encode(data, table=TABLE), TABLE)]
    monkeypatch.setattr(lockstep, "PROBE_SYMBOLS", 0)  # entries guessed from 16 bits: often wrong
    for blob, table in blobs:
        assert codec.decode(blob, table=table) == data
    monkeypatch.setattr(lockstep, "FIX_ROUNDS", 0)  # no fix-up: decode from the hard starts only
    for blob, table in blobs:
        assert codec.decode(blob, table=table) == data


def _byte_section_offset(blob):
    r, *_ = fmt._header(blob)
    assert r.take(1)[0] == fmt.MODE_BYTES
    fmt._byte_code(r)
    return r.pos


def test_bit_count_one_short_or_long_is_corrupt():
    data = chat_text(11, 30_000)
    blob = codec.encode(data)
    at = _byte_section_offset(blob)
    r = Reader(blob, at)
    n_bits = r.varint(1 << 40)
    for delta in (-1, 1, -8, 8):
        head = bytearray()
        codec.sections.put_varint(head, n_bits + delta)
        if len(head) != r.pos - at:
            continue
        damaged = blob[:at] + bytes(head) + blob[r.pos :]
        with pytest.raises(codec.ArchiveCorrupt):
            codec.decode(damaged)


def test_lying_stream_offsets_are_corrupt():
    data = chat_text(12, 40_000)
    blob = codec.encode(data)
    r = Reader(blob, _byte_section_offset(blob))
    r.varint(1 << 40)
    first = r.pos  # first stream-offset varint
    for flip in range(8):
        damaged = bytearray(blob)
        damaged[first] ^= 1 << flip
        try:
            out = codec.decode(bytes(damaged))
        except codec.ArchiveCorrupt:
            continue
        assert out == data


def test_non_zero_padding_bits_are_corrupt():
    data = b"abcabcabd" * 7
    blob = codec.encode(data)
    damaged = bytearray(blob)
    damaged[-1] |= 1  # the last payload byte's lowest bit is padding unless the bits end exactly
    if bytes(damaged) != blob:
        with pytest.raises(codec.ArchiveCorrupt):
            codec.decode(bytes(damaged))


def test_flips_inside_large_sections_never_give_wrong_bytes():
    data = chat_text(13, 120_000)
    rng = random.Random(5)
    for kwargs in ({}, {"table": TABLE}):
        blob = codec.encode(data, **kwargs)
        for _ in range(25):
            damaged = bytearray(blob)
            bit = rng.randrange(8 * 40, 8 * len(blob))
            damaged[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(codec.ArchiveCorrupt):
                codec.decode(bytes(damaged), **kwargs)


def test_detokenize_matches_tiktoken():
    enc, _, _ = lz.vocab_info(TABLE.encoding)
    ids = lz.tokenize("héllo wörld — 東京 🚀 ".encode() * 20 + b"\xff\xfe", TABLE.encoding)
    assert lz.detokenize(ids, TABLE.encoding) == enc.decode_bytes(ids.tolist())
    assert lz.detokenize(np.zeros(0, np.int64), TABLE.encoding) == b""
