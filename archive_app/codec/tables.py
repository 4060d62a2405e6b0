"""Shared per-tenant code tables: training, immutable serialisation and a content-derived id."""

from __future__ import annotations

import hashlib
import struct
from typing import Iterable

import numpy as np

from .errors import ArchiveCorrupt
from .huffman import Code, code_lengths, kraft_ok
from .lz import BUCKET_EXTRA, MIN_MATCH, N_BUCKETS, _kgram_hash, parse, prefix_index, to_buckets, tokenize, vocab_info

TABLE_MAGIC = b"CSTB"
TABLE_VERSION = 1
MAX_CODE_LEN = 16
MAX_TABLE_TOKENS = 32768
DICT_TOKENS = 16384  # LZ prefix shared by all segments coded with the table (like a zstd dictionary)
_DICT_WINDOW = 32
_DICT_K = 6


class CodeTable:
    """Immutable trained table: literal token codes, escape, match length/distance codes, prefix."""

    def __init__(self, encoding: str, tokens, main_lengths, dist_lengths, dict_tokens):
        self.encoding = encoding
        self.tokens = np.asarray(tokens, np.int64)
        self.main_lengths = np.asarray(main_lengths, np.int64)
        self.dist_lengths = np.asarray(dist_lengths, np.int64)
        self.dict_tokens = np.asarray(dict_tokens, np.int64)
        self._bytes = self._serialise()
        # 63 bits so the id is a positive signed bigint; 0 is reserved for "no table".
        self.table_id = (int.from_bytes(hashlib.sha256(self._bytes).digest()[:8], "big") >> 1) or 1
        self._codes = None
        self._index = None
        self._prefix_index = None

    @property
    def escape(self) -> int:
        """Main-alphabet symbol announcing a raw token id in ESCAPE_BITS extra bits."""
        return len(self.tokens)

    @property
    def escape_bits(self) -> int:
        return max(1, int(len(vocab_info(self.encoding)[1]) - 1).bit_length())

    def codes(self) -> tuple[Code, Code]:
        """(main code: tokens + escape + match lengths, distance code), built lazily."""
        if self._codes is None:
            extra = np.concatenate([np.zeros(len(self.tokens), np.int64), [self.escape_bits], BUCKET_EXTRA])
            self._codes = (Code(self.main_lengths, extra), Code(self.dist_lengths, BUCKET_EXTRA))
        return self._codes

    def prefix_index(self):
        """Sorted hashes of the prefix's MIN_MATCH-grams and their last positions (built once)."""
        if self._prefix_index is None:
            self._prefix_index = prefix_index(self.dict_tokens)
        return self._prefix_index

    def index_of(self, ids: np.ndarray) -> np.ndarray:
        """Main-alphabet index of each token id; the escape symbol for ids not in the table."""
        if self._index is None:
            index = np.full(len(vocab_info(self.encoding)[1]), self.escape, np.int64)
            index[self.tokens] = np.arange(len(self.tokens))
            self._index = index
        return self._index[ids]

    def to_bytes(self) -> bytes:
        """Serialised table; load_table(table.to_bytes()) is equal and has the same table_id."""
        return self._bytes

    def _serialise(self) -> bytes:
        name = self.encoding.encode("ascii")
        head = TABLE_MAGIC + struct.pack("<BB", TABLE_VERSION, len(name)) + name
        head += struct.pack("<II", len(self.tokens), len(self.dict_tokens))
        return b"".join([
            head,
            self.tokens.astype("<u4").tobytes(),
            self.main_lengths.astype(np.uint8).tobytes(),
            self.dist_lengths.astype(np.uint8).tobytes(),
            self.dict_tokens.astype("<u4").tobytes(),
        ])

    def __eq__(self, other):
        return isinstance(other, CodeTable) and other._bytes == self._bytes

    def __hash__(self):
        return hash(self.table_id)

    def __repr__(self):
        return f"<CodeTable {self.table_id} {self.encoding} tokens={len(self.tokens)} dict={len(self.dict_tokens)}>"


def load_table(data: bytes) -> CodeTable:
    """Parse CodeTable.to_bytes output; ArchiveCorrupt on any malformed or inconsistent table."""
    try:
        return _load(bytes(data))
    except ArchiveCorrupt:
        raise
    except Exception as exc:  # struct/numpy/lookup errors all mean a damaged table
        raise ArchiveCorrupt(f"malformed code table: {exc}") from None


def _load(data: bytes) -> CodeTable:
    if data[:4] != TABLE_MAGIC or data[4] != TABLE_VERSION:
        raise ArchiveCorrupt("not a code table (bad magic or version)")
    name = data[6 : 6 + data[5]].decode("ascii")
    pos = 6 + data[5]
    n_tok, n_dict = struct.unpack_from("<II", data, pos)
    pos += 8
    need = pos + 4 * n_tok + n_tok + 1 + 2 * N_BUCKETS + 4 * n_dict
    if len(data) != need:
        raise ArchiveCorrupt("code table has the wrong length")
    tokens = np.frombuffer(data, "<u4", n_tok, pos).astype(np.int64)
    pos += 4 * n_tok
    main = np.frombuffer(data, np.uint8, n_tok + 1 + N_BUCKETS, pos).astype(np.int64)
    pos += len(main)
    dist = np.frombuffer(data, np.uint8, N_BUCKETS, pos).astype(np.int64)
    dict_tokens = np.frombuffer(data, "<u4", n_dict, pos + N_BUCKETS).astype(np.int64)
    valid = vocab_info(name)[1]
    ids_ok = all(len(a) == 0 or (a.max() < len(valid) and valid[a].all()) for a in (tokens, dict_tokens))
    if not ids_ok or (np.diff(tokens) <= 0).any():
        raise ArchiveCorrupt("code table lists invalid token ids")
    if not (kraft_ok(main, MAX_CODE_LEN) and kraft_ok(dist, MAX_CODE_LEN)) or (main[n_tok:] == 0).any() or (dist == 0).any():
        raise ArchiveCorrupt("code table has an invalid prefix code")
    return CodeTable(name, tokens, main, dist, dict_tokens)


def train_table(samples: Iterable[bytes], *, encoding: str = "o200k_base") -> CodeTable:
    """Train a shared table on archived text: token/escape/match code lengths and an LZ prefix.

    Deterministic for the same samples and encoding, so equal inputs give equal table_ids.
    """
    vocab_info(encoding)  # fail early on an unknown encoding
    token_lists = [tokenize(bytes(s), encoding) for s in samples]
    n_vocab = len(vocab_info(encoding)[1])
    raw = np.bincount(np.concatenate(token_lists), minlength=n_vocab) if token_lists else np.zeros(n_vocab, np.int64)
    # Match statistics come from held-out samples parsed against a prefix built from the others;
    # parsing samples against a prefix made of themselves would match everything.
    held_out = token_lists[1::2]
    probe_prefix = build_dictionary(token_lists[0::2]) if len(token_lists) > 1 else np.zeros(0, np.int64)
    lens = np.ones(N_BUCKETS, np.float64)  # +1 smoothing: every length/distance stays codable
    dists = np.ones(N_BUCKETS, np.int64)
    n_literals = n_held = 0
    probe_index = prefix_index(probe_prefix)
    for toks in held_out or token_lists:
        keep, mlen, mdist = parse(probe_prefix, toks, probe_index)
        n_literals += int((mlen == 0).sum())
        n_held += len(toks)
        lens += np.bincount(to_buckets(mlen[mlen > 0] - MIN_MATCH)[0], minlength=N_BUCKETS)
        dists += np.bincount(to_buckets(mdist[mlen > 0] - 1)[0], minlength=N_BUCKETS)
    literal_share = n_literals / n_held if n_held else 1.0
    lens = np.ceil(lens * (raw.sum() / max(n_held, 1))).astype(np.int64)
    tokens = np.flatnonzero(raw)
    if len(tokens) > MAX_TABLE_TOKENS:
        tokens = np.sort(np.argsort(-raw, kind="stable")[:MAX_TABLE_TOKENS])
    lit = np.ceil(raw[tokens] * literal_share).astype(np.int64)
    # Good-Turing flavour: tokens seen once estimate how often unseen tokens will turn up.
    unseen = int((raw == 1).sum()) + int(raw.sum() - raw[tokens].sum())
    escape = max(1, int(np.ceil(unseen * literal_share)))
    main = code_lengths(np.concatenate([np.maximum(lit, 1), [escape], lens]), MAX_CODE_LEN)
    dict_tokens = build_dictionary(token_lists)
    return CodeTable(encoding, tokens, main, code_lengths(dists, MAX_CODE_LEN), dict_tokens)


def build_dictionary(token_lists, size: int = DICT_TOKENS) -> np.ndarray:
    """LZ prefix from the windows richest in k-grams that recur across samples (COVER-like).

    The best window goes last, nearest the data, so the commonest matches have short distances.
    """
    toks = np.concatenate(token_lists) if token_lists else np.zeros(0, np.int64)
    n_win = (len(toks) - _DICT_K + 1) // _DICT_WINDOW
    if len(toks) <= size or n_win < 1:
        return toks[-size:] if len(toks) else toks
    _, inv, counts = np.unique(_kgram_hash(toks, _DICT_K), return_inverse=True, return_counts=True)
    gain = (counts[inv] - 1)[: n_win * _DICT_WINDOW].astype(np.float64)
    inv = inv[: n_win * _DICT_WINDOW]
    chosen: list[int] = []
    while len(chosen) * _DICT_WINDOW < size:
        score = gain.reshape(n_win, _DICT_WINDOW).sum(axis=1)
        score[chosen] = -1
        picks = [w for w in np.argsort(-score, kind="stable")[:16].tolist() if score[w] > 0]
        if not picks:
            break
        picks = picks[: size // _DICT_WINDOW - len(chosen)]
        chosen += picks
        covered = np.concatenate([inv[w * _DICT_WINDOW : (w + 1) * _DICT_WINDOW] for w in picks])
        gain[np.isin(inv, covered)] = 0  # a k-gram only pays once
    if not chosen:
        return toks[-size:]
    return np.concatenate([toks[w * _DICT_WINDOW : (w + 1) * _DICT_WINDOW] for w in reversed(chosen)])
