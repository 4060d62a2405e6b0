"""Reads over archived history."""

from __future__ import annotations


def segment_entries(path, upto_seq: int) -> list:
    """Entries of ``path`` stored in archive segments, decoded; none until the archive lifecycle lands."""
    return []
