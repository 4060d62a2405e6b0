"""Random-hyperplane buckets for the semantic cache: signatures, multi-probe field lists, packed records.

Layout (bump keys.SEMANTIC_LAYOUT when any constant here changes):
- TABLES independent tables of BITS random hyperplanes each; an entry is listed in one bucket per table,
  whose field name is 3 bytes: table number, 16-bit signature (big-endian).
- A lookup probes, per table, the PROBES most likely buckets (query-directed multi-probe: flip the
  signature bits whose projections are closest to zero, cheapest flip sets first).
- A record is ``expires_at f8 | text digest u8 | signatures u2[TABLES] | vector f2[dim]`` (little-endian),
  so a lookup scores candidates with one ``numpy.frombuffer`` and never parses text.
"""

from __future__ import annotations

import functools
import hashlib
import itertools

import numpy as np

TABLES = 8
BITS = 16
PROBES = 24  # buckets read per table
FLIP_BITS = 7  # flip sets are drawn from the 7 least confident bits of each table
SEED = 20240605
MEMBER_WIDTH = 8  # entry members are 8 hex digits of a per-scope counter
HEADER_BYTES = 16 + 2 * TABLES

_SUBSETS = [s for r in range(FLIP_BITS + 1) for s in itertools.combinations(range(FLIP_BITS), r)]
_FLIPS = np.zeros((len(_SUBSETS), FLIP_BITS), dtype=np.float32)
for _row, _subset in enumerate(_SUBSETS):
    _FLIPS[_row, list(_subset)] = 1.0
_FLIPS_INT = _FLIPS.astype(np.int64)
_POWERS = (1 << np.arange(BITS, dtype=np.int64))


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
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


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


def bucket_fields(signatures_: np.ndarray) -> list[bytes]:
    packed = np.empty(TABLES, dtype=[("table", "u1"), ("sig", ">u2")])
    packed["table"] = np.arange(TABLES)
    packed["sig"] = signatures_
    raw = packed.tobytes()
    return [raw[i * 3 : i * 3 + 3] for i in range(TABLES)]


def probe_fields(vector: np.ndarray) -> list[bytes]:
    """TABLES*PROBES bucket field names, most likely first within each table."""
    projections = _projections(vector)
    base = ((projections > 0).astype(np.int64) @ _POWERS)  # (TABLES,)
    order = np.argsort(np.abs(projections), axis=1)[:, :FLIP_BITS]  # least confident bits first
    weakest = np.take_along_axis(np.abs(projections), order, axis=1)  # (TABLES, FLIP_BITS)
    scores = weakest @ _FLIPS.T  # cost of each flip set, (TABLES, subsets)
    chosen = np.argsort(scores, axis=1, kind="stable")[:, :PROBES]
    masks = _FLIPS_INT @ (1 << order).T  # (subsets, TABLES): xor mask of each flip set per table
    sigs = base[:, None] ^ np.take_along_axis(masks.T, chosen, axis=1)
    packed = np.empty((TABLES, PROBES), dtype=[("table", "u1"), ("sig", ">u2")])
    packed["table"] = np.arange(TABLES)[:, None]
    packed["sig"] = sigs
    raw = packed.tobytes()
    return [raw[i : i + 3] for i in range(0, len(raw), 3)]


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
    """Indices of live candidates at or above ``threshold``, best first, and their similarities."""
    if records.shape[0] == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    vectors = records["vec"].astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    # float16 storage shifts similarities by ~1e-4; renormalising and a small tolerance keep exact
    # duplicates at 1.0 so that threshold 1.0 still matches them.
    sims = np.minimum((vectors @ query) / np.where(norms > 0, norms, 1.0), 1.0)
    keep = (records["expires"] > now) & (sims >= threshold - 5e-4)
    if text is not None:
        keep &= records["text"] == np.uint64(text_digest(text))
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    return idx, sims[idx]
