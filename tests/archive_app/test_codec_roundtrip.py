"""Round trips of the archive codec: byte and token Huffman, with and without a trained table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archive_app import codec  # noqa: E402

SAMPLES = [
    (
        '{"content":[{"text":"How do I retry a failed %s request with backoff? Attempt %d","type":"input_text"}],'
        '"role":"user","type":"message"}' % (word, i)
    ).encode()
    for i, word in enumerate(["redis", "postgres", "http", "celery", "django", "numpy"] * 6)
] + ['{"role":"assistant","text":"Use exponential backoff: wait 2**n seconds, cap it, add jitter."}'.encode()] * 3

FAST = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def table():
    return codec.train_table(SAMPLES)


_TABLE = None


def shared_table():
    global _TABLE
    if _TABLE is None:
        _TABLE = codec.train_table(SAMPLES)
    return _TABLE


@FAST
@given(st.binary(max_size=3000))
def test_any_bytes_round_trip_both_flavours(data):
    assert codec.decode(codec.encode(data)) == data
    t = shared_table()
    assert codec.decode(codec.encode(data, table=t), table=t) == data


@FAST
@given(st.text(max_size=1500))
def test_any_unicode_round_trip_both_flavours(text):
    data = text.encode("utf-8")
    assert codec.decode(codec.encode(data)) == data
    t = shared_table()
    blob = codec.encode(data, table=t)
    assert codec.segment_info(blob)["table_id"] == t.table_id
    assert codec.decode(blob, table=t) == data


@pytest.mark.parametrize("data", [b"", b"x", b"a" * 100_000, bytes(range(256)), bytes(range(256)) * 50])
def test_edge_inputs(table, data):
    for kwargs in ({}, {"table": table}):
        blob = codec.encode(data, **kwargs)
        assert codec.decode(blob, **kwargs) == data
        assert codec.segment_info(blob)["raw_length"] == len(data)


def test_codec_ids_and_info(table):
    data = SAMPLES[0] * 20
    info = codec.segment_info(codec.encode(data))
    assert info["codec"] == codec.CODEC_BYTE_HUFFMAN and info["table_id"] is None
    info = codec.segment_info(codec.encode(data, table=table))
    assert info["codec"] == codec.CODEC_TOKEN_HUFFMAN and info["table_id"] == table.table_id
    assert info["stream_count"] >= 1 and info["crc32"] == __import__("zlib").crc32(data)


def test_unseen_tokens_go_through_escape(table):
    data = "Zebra quantum fjord xylophone — 東京タワー 🚀 naïve façade".encode() * 3
    blob = codec.encode(data, table=table)
    assert codec.segment_info(blob)["mode"] == "tokens"
    assert codec.decode(blob, table=table) == data


def test_invalid_utf8_with_token_table(table):
    data = SAMPLES[0][:40] + b"\xff\xfe\x80" + SAMPLES[1] + b"\xc3" + "é".encode() + b"\xed\xa0\x80"
    assert codec.decode(codec.encode(data, table=table), table=table) == data


def test_large_input_uses_many_streams(table):
    data = b"\n".join(SAMPLES) * 200
    blob = codec.encode(data, table=table)
    assert codec.segment_info(blob)["stream_count"] > 1
    assert codec.decode(blob, table=table) == data
    plain = codec.encode(data)
    assert codec.segment_info(plain)["stream_count"] > 1
    assert codec.decode(plain) == data


def test_table_serialisation_round_trip(table):
    again = codec.load_table(table.to_bytes())
    assert again == table and again.table_id == table.table_id and again.encoding == table.encoding
    assert 0 < table.table_id < 2**63
    blob = codec.encode(SAMPLES[3], table=table)
    assert codec.decode(blob, table=again) == SAMPLES[3]


def test_training_is_deterministic_and_records_encoding():
    a = codec.train_table(SAMPLES[:10])
    b = codec.train_table(SAMPLES[:10])
    assert a.table_id == b.table_id
    c = codec.train_table(SAMPLES[:10], encoding="cl100k_base")
    assert c.encoding == "cl100k_base" and c.table_id != a.table_id
    assert codec.decode(codec.encode(SAMPLES[11], table=c), table=c) == SAMPLES[11]


def test_empty_training_set_still_codes():
    t = codec.train_table([])
    assert codec.decode(codec.encode(b"hello there", table=t), table=t) == b"hello there"
