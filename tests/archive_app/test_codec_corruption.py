"""Damaged segments and wrong tables must raise ArchiveCorrupt, never return wrong bytes."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from archive_app import codec  # noqa: E402

TEXT = ('{"content":[{"text":"Explain cache eviction with an example. Done?","type":"input_text"}],'
        '"role":"user","type":"message"}').encode()
TABLE = codec.train_table([TEXT, TEXT.replace(b"cache", b"queue"), b"Explain the retry policy, please."])
OTHER = codec.train_table([b"completely different training text about gardening"])


def blobs():
    return {
        "byte": (codec.encode(TEXT * 3), None),
        "token": (codec.encode(TEXT * 3 + b" unseen zebra", table=TABLE), TABLE),
        "stored": (codec.encode(bytes(range(256))), None),
    }


def assert_never_wrong(blob, table, original):
    try:
        out = codec.decode(blob, table=table)
    except codec.ArchiveCorrupt:
        return
    assert out == original  # only acceptable success: a flip in a don't-care bit


def test_archive_corrupt_is_value_error():
    assert issubclass(codec.ArchiveCorrupt, ValueError)


@pytest.mark.parametrize("kind", ["byte", "token", "stored"])
def test_every_truncation(kind):
    blob, table = blobs()[kind]
    for n in range(len(blob)):
        with pytest.raises(codec.ArchiveCorrupt):
            codec.decode(blob[:n], table=table)


@pytest.mark.parametrize("kind", ["byte", "token", "stored"])
def test_every_single_bit_flip_of_the_header_and_some_body(kind):
    blob, table = blobs()[kind]
    original = codec.decode(blob, table=table)
    for bit in range(min(len(blob) * 8, 600)):
        damaged = bytearray(blob)
        damaged[bit // 8] ^= 1 << (bit % 8)
        assert_never_wrong(bytes(damaged), table, original)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["byte", "token", "stored"]), st.lists(st.integers(min_value=0), min_size=1, max_size=6))
def test_random_bit_flips(kind, positions):
    blob, table = blobs()[kind]
    damaged = bytearray(blob)
    for p in positions:
        bit = p % (len(blob) * 8)
        damaged[bit // 8] ^= 1 << (bit % 8)
    if bytes(damaged) != blob:
        with pytest.raises(codec.ArchiveCorrupt):
            codec.decode(bytes(damaged), table=table)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_and_appended_bytes(junk):
    for blob, table in blobs().values():
        with pytest.raises(codec.ArchiveCorrupt):
            codec.decode(junk, table=table) if junk[:4] != blob[:4] else codec.decode(blob + b"\0" + junk, table=table)


def test_wrong_magic_and_version():
    blob, _ = blobs()["byte"]
    with pytest.raises(codec.ArchiveCorrupt, match="magic"):
        codec.decode(b"XXXX" + blob[4:])
    with pytest.raises(codec.ArchiveCorrupt, match="version"):
        codec.decode(blob[:4] + bytes([99]) + blob[5:])


def test_missing_or_wrong_table():
    blob, _ = blobs()["token"]
    with pytest.raises(codec.ArchiveCorrupt, match="table"):
        codec.decode(blob)
    with pytest.raises(codec.ArchiveCorrupt, match="table"):
        codec.decode(blob, table=OTHER)


def test_huge_length_field_is_bounded():
    blob, _ = blobs()["byte"]
    # raw length varint starts at byte 18: claim ~2**40 bytes
    damaged = blob[:18] + bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F]) + blob[20:]
    with pytest.raises(codec.ArchiveCorrupt):
        codec.decode(damaged)


def test_damaged_tables_are_rejected():
    data = TABLE.to_bytes()
    for n in (0, 3, 10, len(data) - 1):
        with pytest.raises(codec.ArchiveCorrupt):
            codec.load_table(data[:n])
    with pytest.raises(codec.ArchiveCorrupt):
        codec.load_table(b"JUNK" + data[4:])
