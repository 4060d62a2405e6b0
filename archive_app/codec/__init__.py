"""Archive codecs: canonical Huffman over bytes or BPE tokens (with LZ), in a checked segment format."""

from .errors import ArchiveCorrupt
from .format import (
    CODEC_BYTE_HUFFMAN,
    CODEC_TOKEN_HUFFMAN,
    FORMAT_VERSION,
    MAGIC,
    decode,
    encode,
    segment_info,
)
from .tables import CodeTable, load_table, train_table

__all__ = [
    "ArchiveCorrupt",
    "CODEC_BYTE_HUFFMAN",
    "CODEC_TOKEN_HUFFMAN",
    "CodeTable",
    "FORMAT_VERSION",
    "MAGIC",
    "decode",
    "encode",
    "load_table",
    "segment_info",
    "train_table",
]
