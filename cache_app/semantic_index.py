"""Random-hyperplane buckets for the semantic cache: signatures, multi-probe field lists, packed records.

Layout (bump keys.SEMANTIC_LAYOUT when any constant here changes):
- TABLES independent tables of BITS random hyperplanes each; an entry is listed in one bucket per table,
  whose field name is 3 bytes: table number, 16-bit signature (big-endian).
- A lookup probes, per table, the PROBES most likely buckets (query-directed multi-probe: flip the
  signature bits whose projections are closest to zero, cheapest flip sets first), sent to Redis as one
  string of TABLES*PROBES 3-byte fields.
- A candidate's *votes* are the number of tables in whose probed buckets it was found. A near duplicate at
  cosine >= 0.92 collects >= MIN_VOTES in 99.9 % of lookups, a random entry almost never (about 2
  entries at 100 k), so for thresholds >= VOTE_THRESHOLD a large candidate set is cut to those entries.
- A record is ``expires_at f8 | text digest u8 | signatures u2[TABLES] | vector f2[dim]`` (little-endian),
  so a lookup scores candidates with one ``numpy.frombuffer`` and never parses text.
"""

from __future__ import annotations

import functools
import hashlib
import itertools

import numpy as np

TABLES = 10
BITS = 16
PROBES = 24  # buckets read per table
FLIP_BITS = 7  # flip sets are drawn from the 7 least confident bits of each table
MIN_VOTES = 2  # for thresholds >= VOTE_THRESHOLD, large candidate sets keep entries found in >= 2 tables
VOTE_THRESHOLD = 0.9
VOTE_BUDGET = 64  # up to this many candidates are all scored, whatever their votes
SEED = 20240605
MEMBER_WIDTH = 8  # entry members are 8 hex digits of a per-scope counter
HEADER_BYTES = 16 + 2 * TABLES

_SUBSETS = [s for r in range(FLIP_BITS + 1) for s in itertools.combinations(range(FLIP_BITS), r)]
_FLIPS = np.zeros((len(_SUBSETS), FLIP_BITS), dtype=np.float32)
for _row, _subset in enumerate(_SUBSETS):
    _FLIPS[_row, list(_subset)] = 1.0
_FLIPS_INT = _FLIPS.astype(np.int64)
_POWERS = (1 << np.arange(BITS, dtype=np.int64))
_BIT_MASKS = 1 << np.arange(BITS, dtype=np.int64)
_TABLE_ROWS = np.arange(TABLES)[:, None]
_FIELD_DTYPE = np.dtype([("table", "u1"), ("sig", ">u2")])
_FIELDS = np.empty((TABLES, PROBES), dtype=_FIELD_DTYPE)
_FIELDS["table"] = _TABLE_ROWS


@functools.lru_cache(maxsize=16)
def hyperplanes(dim: int) -> np.ndarray:
    """The (TABLES*BITS, dim) hyperplanes for vectors of ``dim``: fixed per deployment, never stored."""
    rng = np.random.default_rng([SEED, dim])
    return rng.standard_normal((TABLES * BITS, dim)).astype(np.float32)


@functools.lru_cache(maxsize=16)
def record_dtype(dim: int) -> np.dtype:
    return np.dtype([("expires", "<f8"), ("text", "<u8"), ("sigs", "<u2", (TABLES,)), ("vec", "<f2", (dim,))])


def normalise(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector.astype(np.float64)))  # float64: squares of large float32 values overflow
    return (vector.astype(np.float64) / norm).astype(np.float32) if norm > 0 else vector


def text_digest(text: str | None) -> int:
    """64 bits of SHA-256 of the text (0 when there is none), for require_exact_text pre-filtering."""
    if text is None:
        return 0
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "little") or 1


def _projections(vector: np.ndarray) -> np.ndarray:
    return (hyperplanes(vector.shape[0]) @ vector).reshape(TABLES, BITS)


def signatures(vector: np.ndarray) -> np.ndarray:
    """One 16-bit signature per table."""
    bits = (_projections(vector) > 0).astype(np.int64)
    return (bits @ _POWERS).astype(np.uint16)


def probe_fields(vector: np.ndarray) -> bytes:
    """TABLES*PROBES bucket field names (3 bytes each, concatenated), most likely first within each table."""
    projections = _projections(vector)
    confidence = np.abs(projections)
    base = (projections > 0) @ _POWERS  # (TABLES,)
    order = np.argpartition(confidence, FLIP_BITS, axis=1)[:, :FLIP_BITS]  # the least confident bits
    weakest = confidence[_TABLE_ROWS, order]  # (TABLES, FLIP_BITS)
    scores = weakest @ _FLIPS.T  # cost of each flip set, (TABLES, subsets)
    chosen = np.argpartition(scores, PROBES - 1, axis=1)[:, :PROBES]
    chosen = np.take_along_axis(chosen, np.argsort(scores[_TABLE_ROWS, chosen], axis=1, kind="stable"), axis=1)
    masks = _FLIPS_INT @ _BIT_MASKS[order].T  # (subsets, TABLES): xor mask of each flip set per table
    fields = _FIELDS.copy()
    fields["sig"] = base[:, None] ^ masks.T[_TABLE_ROWS, chosen]
    return fields.tobytes()


def pack_record(vector: np.ndarray, *, expires_at: float, text: str | None) -> bytes:
    dim = vector.shape[0]
    record = np.zeros(1, dtype=record_dtype(dim))
    record["expires"] = expires_at
    record["text"] = text_digest(text)
    record["sigs"] = signatures(vector)
    record["vec"] = vector.astype(np.float16)
    return record.tobytes()


def unpack_records(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype=record_dtype(dim))


def best_candidates(records: np.ndarray, query: np.ndarray, *, now: float, threshold: float, text: str | None = None):
    """Indices of live candidates at or above ``threshold``, best first, their similarities, and the best
    similarity of any live candidate (None when there is none), threshold or not."""
    if records.shape[0] == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32), None
    vectors = records["vec"].astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    # float16 storage shifts similarities by ~1e-4; renormalising and a small tolerance keep exact
    # duplicates at 1.0 so that threshold 1.0 still matches them.
    sims = np.minimum((vectors @ query) / np.where(norms > 0, norms, 1.0), 1.0)
    live = records["expires"] > now
    best = float(sims[live].max()) if live.any() else None
    keep = live & (sims >= threshold - 5e-4)
    if text is not None:
        keep &= records["text"] == np.uint64(text_digest(text))
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return idx, sims[idx], best
