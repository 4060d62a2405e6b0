"""Give a worker's memory back to the OS after a large request: collect reference cycles, then glibc's malloc_trim."""

from __future__ import annotations

import ctypes
import gc
import logging

logger = logging.getLogger(__name__)


def _malloc_trim():
    """glibc's malloc_trim(pad) from the running process, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_memory() -> bool:
    """Free what a finished request left behind and return free heap pages to the OS.

    A DRF request and its view refer to each other, so a parsed 20 MiB body lives until the cyclic
    collector runs; gc.collect() frees it now. glibc then keeps the freed memory in its arenas (the dynamic
    mmap threshold grows to the largest block freed, so later big blocks come from the heap, which is only
    trimmed at its top): malloc_trim(0) gives every arena's free pages back. Costs a full collection
    (tens of ms), so callers run it only after large requests. Returns whether malloc_trim ran and
    released memory (always False where there is no glibc; the collection still runs).
    """
    gc.collect()
    if _TRIM is None:
        return False
    return bool(_TRIM(0))
