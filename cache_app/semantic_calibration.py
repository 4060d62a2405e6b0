"""Pick a semantic-cache threshold from labelled pairs: the most true hits at a bounded false-hit rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLDS = np.round(np.arange(0.5, 1.0 + 1e-9, 0.005), 3)  # the grid searched, 0.50 … 1.00


@dataclass(frozen=True)
class Calibration:
    threshold: float
    true_hit_rate: float  # share of same=True pairs that hit at ``threshold`` (guard applied when given)
    false_hit_rate: float  # share of same=False pairs that hit
    true_pairs: int
    near_misses: int


def threshold_pick(similarities, same, agrees=None, *, max_false_hit_rate: float) -> Calibration | None:
    """The threshold of THRESHOLDS with the most true hits whose false-hit rate is <= ``max_false_hit_rate``.

    ``similarities``: cosine per pair, shape (n,); ``same``: bool (n,), True where the pair should share an
    answer; ``agrees``: bool (n,) from the guard, or None when it is off. Ties go to the lower threshold
    (more hits on unseen paraphrases). None when no threshold qualifies. Raises ValueError without at
    least one pair of each kind.
    """
    sims = np.asarray(similarities, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    allowed = np.ones_like(same) if agrees is None else np.asarray(agrees, dtype=bool)
    if same.sum() == 0 or (~same).sum() == 0:
        raise ValueError("calibration needs pairs that should hit (same: true) and near misses (same: false)")
    hits = (sims[None, :] >= THRESHOLDS[:, None] - 1e-9) & allowed[None, :]
    true_rate = hits[:, same].mean(axis=1)
    false_rate = hits[:, ~same].mean(axis=1)
    ok = np.flatnonzero(false_rate <= max_false_hit_rate + 1e-12)
    if ok.size == 0:
        return None
    best = int(ok[np.argmax(true_rate[ok])])  # argmax takes the first (lowest threshold) among equals
    return Calibration(float(THRESHOLDS[best]), float(true_rate[best]), float(false_rate[best]), int(same.sum()), int((~same).sum()))
