"""Token streams: any bytes to BPE ids and back, log-bucket integer codes, LZ77 over token ids."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from convostore import tokens

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
    enc = tokens.get_encoding(encoding)
    ranks = enc._mergeable_ranks
    valid = np.zeros(max(ranks.values()) + 1, dtype=bool)
    valid[list(ranks.values())] = True
    return enc, valid, [ranks[bytes([b])] for b in range(256)]


def _bpe(enc, text: str) -> list[int]:
    """BPE ids of ``text`` with bounded work per byte: a stretch around a long run (convostore.tokens.spans)
    is encoded LONG_RUN characters at a time (a slice seen before is not encoded again). Any split keeps
    the byte concatenation exact; a run's slices repeat, so LZ77 below takes them almost for free."""
    out: list[int] = []
    step = tokens.LONG_RUN
    seen: dict[str, list[int]] = {}
    for start, end, exact in tokens.spans(text):
        if exact:
            out.extend(enc.encode_ordinary(text[start:end]))
            continue
        for at in range(start, end, step):
            piece = text[at:min(at + step, end)]
            ids = seen.get(piece)
            if ids is None:
                ids = enc.encode_ordinary(piece)
                if len(seen) < 1024:
                    seen[piece] = ids
            out.extend(ids)
    return out


def tokenize(data: bytes, encoding: str) -> np.ndarray:
    """BPE ids whose byte concatenation is exactly ``data``; invalid UTF-8 becomes byte tokens."""
    enc, _, byte_ids = vocab_info(encoding)
    try:
        return np.asarray(_bpe(enc, data.decode("utf-8")), dtype=np.int64)
    except UnicodeDecodeError:
        pass
    out: list[int] = []
    for i, part in enumerate(_SURROGATES.split(data.decode("utf-8", "surrogateescape"))):
        if i % 2:  # surrogateescape maps an undecodable byte b to U+DC00+b
            out.extend(byte_ids[ord(ch) - 0xDC00] for ch in part)
        elif part:
            out.extend(_bpe(enc, part))
    return np.asarray(out, dtype=np.int64)


@lru_cache(maxsize=None)
def vocab_bytes(encoding: str):
    """(all ordinary tokens' bytes concatenated, start of each id's bytes, length of each id's bytes)."""
    enc, valid, _ = vocab_info(encoding)
    pieces = [b""] * len(valid)
    for token, rank in enc._mergeable_ranks.items():
        pieces[rank] = token
    lens = np.fromiter(map(len, pieces), np.int64, len(pieces))
    return np.frombuffer(b"".join(pieces), np.uint8), np.cumsum(lens) - lens, lens


def detokenize(ids: np.ndarray, encoding: str) -> bytes:
    """Bytes of a token id sequence: one vectorised gather from the vocabulary's byte table."""
    _, valid, _ = vocab_info(encoding)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(valid) or not valid[ids].all()):
        raise ArchiveCorrupt("decoded an id that is not an ordinary token")
    buf, start, lens = vocab_bytes(encoding)
    n = lens[ids]
    ends = np.cumsum(n)
    total = int(ends[-1]) if len(ends) else 0
    idx = np.repeat(start[ids] - (ends - n), n) + np.arange(total)
    return buf[idx].tobytes()


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


def prefix_index(prefix: np.ndarray):
    """(sorted distinct MIN_MATCH-gram hashes of ``prefix``, position of each one's last occurrence).

    Built once per table (CodeTable caches it), so encoding sorts only the segment's own hashes.
    """
    h = _kgram_hash(np.asarray(prefix, np.int64), MIN_MATCH) if len(prefix) >= MIN_MATCH else np.zeros(0, np.uint64)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    last = np.append(hs[1:] != hs[:-1], True) if len(hs) else np.zeros(0, bool)
    return hs[last], order[last].astype(np.int64)


def match_lengths(prefix: np.ndarray, toks: np.ndarray, index=None):
    """For each position of ``toks``: length and distance of a match with earlier tokens.

    The candidate is the most recent earlier occurrence of the MIN_MATCH-gram starting there:
    inside the segment (one sort of the segment's hash|position keys) or else in the prefix
    (binary search in ``index`` = prefix_index(prefix)); candidates are verified token by token
    and runs of candidates on one diagonal extend the match (all vectorised).
    """
    # long: one vectorised pass (candidate, verify, extend); the steps share large intermediate arrays
    n, base, k = len(toks), len(prefix), MIN_MATCH
    if n < k:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    comb = np.concatenate([prefix, toks]).astype(np.int64)
    ph, ppos = prefix_index(prefix) if index is None else index
    h = _kgram_hash(comb[base:], k)
    m = len(h)
    # One plain sort of (hash high bits | position): equal hashes end up adjacent in position
    # order, which is what a stable argsort gave, at a fraction of the cost.
    pos_bits = np.uint64(max(1, int(m).bit_length()))
    key = np.sort((h >> pos_bits) << pos_bits | np.arange(m, dtype=np.uint64))
    kpos = (key & ((np.uint64(1) << pos_bits) - np.uint64(1))).astype(np.int64)
    same = (key[1:] >> pos_bits) == (key[:-1] >> pos_bits)
    j = np.full(m, -1, np.int64)
    j[kpos[1:][same]] = kpos[:-1][same] + base
    if len(ph):
        miss = kpos[j[kpos] < 0]  # in (nearly) hash order: cache-friendly binary searches
        at = np.minimum(np.searchsorted(ph, h[miss]), len(ph) - 1)
        hit = ph[at] == h[miss]
        j[miss[hit]] = ppos[at[hit]]
    i = np.arange(base, base + m)
    # Hashes can collide (and the sort key drops hash bits): verify the k = 4 tokens themselves,
    # as two exact 64-bit pairs (token ids < 2**32).
    u = comb.astype(np.uint64)
    pair = (u[:-1] << np.uint64(32)) | u[1:]
    jj = np.maximum(j, 0)
    ok = (j >= 0) & (pair[i] == pair[jj]) & (pair[i + 2] == pair[jj + 2])
    dist = np.where(ok, i - j, 0)
    ok &= dist <= MAX_DIST
    cont = ok[:-1] & ok[1:] & (dist[:-1] == dist[1:])
    run_end = _next_at_or_after(np.append(~cont, True))
    lengths = np.zeros(n, np.int64)
    lengths[:m] = np.where(ok, run_end - np.arange(m) + k, 0)
    return lengths, np.pad(dist, (0, n - m))


def _next_at_or_after(mask: np.ndarray) -> np.ndarray:
    """For every index p, the smallest q >= p with mask[q] (len(mask) when there is none)."""
    n = len(mask)
    at = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(at[::-1])[::-1]


def greedy_parse(lengths: np.ndarray, dists: np.ndarray):
    """Greedy left-to-right choice of matches; returns (starts, lengths, distances).

    ``nxt[p]`` is the first match candidate at or after p, so the Python loop runs once per
    chosen match (matches are far fewer than tokens).
    """
    cand = np.flatnonzero(lengths >= MIN_MATCH)
    if not len(cand):
        z = np.zeros(0, np.int64)
        return z, z, z
    is_cand = np.append(lengths >= MIN_MATCH, True)  # sentinel candidate n
    nxt = _next_at_or_after(is_cand)
    rank = np.cumsum(is_cand) - 1  # index in cand of each candidate position (n -> len(cand))
    # For each candidate: index (in cand) of the first candidate after the match taken there.
    after = rank[nxt[cand + np.minimum(lengths[cand], MAX_MATCH)]].tolist()
    chosen = []
    c, n_cand = 0, len(cand)
    while c < n_cand:
        chosen.append(c)
        c = after[c]
    starts = cand[chosen]
    return starts, np.minimum(lengths[starts], MAX_MATCH), dists[starts]


def parse(prefix: np.ndarray, toks: np.ndarray, index=None):
    """LZ77 parse of ``toks`` against ``prefix``: (is_match_start mask of kept positions, ...).

    Returns (positions, match_len, match_dist): the kept positions in order (literals and match
    starts); match_len is 0 for literals.
    """
    starts, lens, dists = greedy_parse(*match_lengths(prefix, toks, index))
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
    """Inverse of parse: per symbol a literal id (mlen 0) or a copy; resolved by pointer jumping.

    Positions are in prefix + output coordinates, where ``ext`` holds the prefix followed by each
    symbol's literal repeated over its span (meaningful at literal positions only).  Every
    copied token refers to an earlier position; only refs that still point at copied tokens are
    jumped (ref = ref[ref]), so each round touches the unresolved few and the depth halves per
    round.  Finally every token is ``ext[ref]``.
    """
    counts = np.where(mlen > 0, mlen, 1)
    total = int(counts.sum())
    base = len(prefix)
    idx = np.int32 if base + total < (1 << 31) else np.int64
    back = np.repeat(np.where(mlen > 0, mdist, 0).astype(idx), counts)
    ref = np.arange(base, base + total, dtype=idx) - back
    if total and ref.min() < 0:
        raise ArchiveCorrupt("match reaches before the dictionary")
    pend = np.flatnonzero(back)
    for _ in range(64):  # depth <= total < 2**40, halved every round
        r = ref[pend] - base
        inner = r >= 0
        inner[inner] = back[r[inner]] > 0  # still pointing at a copied token
        pend = pend[inner]
        if not len(pend):
            break
        ref[pend] = ref[ref[pend] - base]
    else:
        raise ArchiveCorrupt("unresolvable match chain")
    ext = np.concatenate([prefix, np.repeat(literal, counts)])
    return ext[ref]
