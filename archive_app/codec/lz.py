"""Token streams: any bytes to BPE ids and back, log-bucket integer codes, LZ77 over token ids."""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

import numpy as np

from .errors import ArchiveCorrupt

MIN_MATCH = 4
MAX_MATCH = 1 << 16
N_BUCKETS = 50  # log buckets cover values below 2**24
MAX_DIST = (1 << 24) - 1
BUCKET_EXTRA = np.array([0] * 8 + [3 + (c - 8) // 2 - 1 for c in range(8, N_BUCKETS)], np.int64)
_SURROGATES = re.compile("([\udc80-\udcff]+)")
_P1, _P2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


@lru_cache(maxsize=None)
def vocab_info(encoding: str):
    """(tiktoken Encoding, bool mask of ordinary token ids, id of each single byte)."""
    from cache_app import tokens  # the project's offline tokenizer; imported lazily

    enc = tokens.get_encoding(encoding)
    ranks = enc._mergeable_ranks
    valid = np.zeros(max(ranks.values()) + 1, dtype=bool)
    valid[list(ranks.values())] = True
    return enc, valid, [ranks[bytes([b])] for b in range(256)]


def tokenize(data: bytes, encoding: str) -> np.ndarray:
    """BPE ids whose byte concatenation is exactly ``data``; invalid UTF-8 becomes byte tokens."""
    enc, _, byte_ids = vocab_info(encoding)
    try:
        return np.asarray(enc.encode_ordinary(data.decode("utf-8")), dtype=np.int64)
    except UnicodeDecodeError:
        pass
    out: list[int] = []
    for i, part in enumerate(_SURROGATES.split(data.decode("utf-8", "surrogateescape"))):
        if i % 2:  # surrogateescape maps an undecodable byte b to U+DC00+b
            out.extend(byte_ids[ord(ch) - 0xDC00] for ch in part)
        elif part:
            out.extend(enc.encode_ordinary(part))
    return np.asarray(out, dtype=np.int64)


def detokenize(ids: np.ndarray, encoding: str) -> bytes:
    enc, valid, _ = vocab_info(encoding)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(valid) or not valid[ids].all()):
        raise ArchiveCorrupt("decoded an id that is not an ordinary token")
    return enc.decode_bytes(ids.tolist())


def to_buckets(v: np.ndarray):
    """Values < 2**24 as (code, extra-bit value): codes 0-7 exact, then two codes per octave."""
    v = np.asarray(v, dtype=np.int64)
    e = np.frexp(np.maximum(v, 1).astype(np.float64))[1].astype(np.int64) - 1  # floor(log2 v)
    big = v >= 8
    code = np.where(big, 8 + (e - 3) * 2 + ((v >> np.maximum(e - 1, 0)) & 1), v)
    extra = np.where(big, v & ((np.int64(1) << np.maximum(e - 1, 0)) - 1), 0)
    return code, extra.astype(np.uint64)


def from_buckets(code: np.ndarray, extra: np.ndarray) -> np.ndarray:
    code = np.asarray(code, dtype=np.int64)
    e = 3 + np.maximum(code - 8, 0) // 2
    base = (np.int64(1) << e) | (((code - 8) & 1) << (e - 1))
    return np.where(code >= 8, base + extra.astype(np.int64), code)


def _kgram_hash(c: np.ndarray, k: int) -> np.ndarray:
    n = len(c) - k + 1
    u = c.astype(np.uint64)
    h = u[:n] * _P1
    for t in range(1, k):
        h = (h ^ u[t : n + t]) * _P2
    return h


def match_lengths(prefix: np.ndarray, toks: np.ndarray):
    """For each position of ``toks``: length and distance of a match with earlier tokens.

    The candidate is the most recent earlier occurrence (in prefix + toks) of the MIN_MATCH-gram
    starting there; runs of candidates on one diagonal extend the match (all vectorised).
    """
    comb = np.concatenate([prefix, toks]).astype(np.int64)
    n, base, k = len(toks), len(prefix), MIN_MATCH
    if n < k:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    h = _kgram_hash(comb, k)
    order = np.argsort(h, kind="stable")
    same = h[order[1:]] == h[order[:-1]]
    prev = np.full(len(h), -1, np.int64)
    prev[order[1:][same]] = order[:-1][same]
    i = np.arange(base, len(h))
    j = prev[base:]
    ok = j >= 0
    for t in range(k):  # hashes can collide: verify the tokens
        ok &= comb[i + t] == comb[np.maximum(j, 0) + t]
    dist = np.where(ok, i - j, 0)
    ok &= dist <= MAX_DIST
    cont = ok[:-1] & ok[1:] & (dist[:-1] == dist[1:])
    stops = np.flatnonzero(~np.append(cont, False))
    run_end = stops[np.searchsorted(stops, np.arange(len(i)))]
    lengths = np.zeros(n, np.int64)
    lengths[: len(i)] = np.where(ok, run_end - np.arange(len(i)) + k, 0)
    return lengths, np.pad(dist, (0, n - len(i)))


def greedy_parse(lengths: np.ndarray, dists: np.ndarray):
    """Greedy left-to-right choice of matches; returns (starts, lengths, distances)."""
    cand = np.flatnonzero(lengths >= MIN_MATCH).tolist()
    lens, dl = lengths.tolist(), dists.tolist()
    starts, out_len, out_dist = [], [], []
    i = q = 0
    while q < len(cand):
        s = cand[q]
        if s < i:
            q = bisect.bisect_left(cand, i, q)
            continue
        length = min(lens[s], MAX_MATCH)
        starts.append(s)
        out_len.append(length)
        out_dist.append(dl[s])
        i = s + length
        q += 1
    return (np.asarray(starts, np.int64), np.asarray(out_len, np.int64), np.asarray(out_dist, np.int64))


def parse(prefix: np.ndarray, toks: np.ndarray):
    """LZ77 parse of ``toks`` against ``prefix``: (is_match_start mask of kept positions, ...).

    Returns (positions, match_len, match_dist): the kept positions in order (literals and match
    starts); match_len is 0 for literals.
    """
    starts, lens, dists = greedy_parse(*match_lengths(prefix, toks))
    n = len(toks)
    delta = np.bincount(starts, minlength=n + 1)[: n + 1] - np.bincount(starts + lens, minlength=n + 1)[: n + 1]
    covered = np.cumsum(delta)[:n] > 0
    is_start = np.zeros(n, bool)
    is_start[starts] = True
    keep = np.flatnonzero(~covered | is_start)
    mlen = np.zeros(n, np.int64)
    mlen[starts] = lens
    mdist = np.zeros(n, np.int64)
    mdist[starts] = dists
    return keep, mlen[keep], mdist[keep]


def expand(prefix: np.ndarray, literal: np.ndarray, mlen: np.ndarray, mdist: np.ndarray) -> np.ndarray:
    """Inverse of parse: per symbol a literal id (mlen 0) or a copy; resolved by pointer jumping."""
    counts = np.where(mlen > 0, mlen, 1)
    total = int(counts.sum())
    base = len(prefix)
    owner = np.repeat(np.arange(len(counts)), counts)
    here = np.arange(total) + base
    ref = here - np.where(mlen > 0, mdist, 0)[owner]
    if total and ref.min() < 0:
        raise ArchiveCorrupt("match reaches before the dictionary")
    for _ in range(64):  # each round doubles the resolved copy depth
        inner = ref >= base
        nref = ref.copy()
        nref[inner] = ref[ref[inner] - base]
        if (nref == ref).all():
            break
        ref = nref
    else:
        raise ArchiveCorrupt("unresolvable match chain")
    values = literal[owner]
    return np.where(ref < base, prefix[np.minimum(ref, max(base - 1, 0))] if base else 0, values[np.maximum(ref - base, 0)])
