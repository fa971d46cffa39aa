"""95% intervals of dataset means, clustered by original piece: each resample draws pieces with
replacement and keeps every value of a drawn piece (an original's copies move together), so
twelve copies of one piece count as one piece's worth of evidence, not twelve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from curvebench.metrics.clustered import _cluster_index, _draw_counts, _interval

N_BOOT = 1000
"""Resamples behind every interval."""


def clustered_mean_ci(
    values: Sequence[float],
    clusters: Sequence[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> list[float] | None:
    """[low, high] of the mean of ``values`` (NaN left out) under resampling of ``clusters``;
    None with fewer than two clusters or no finite value."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    keep = np.isfinite(x)
    if not keep.any():
        return None
    index, n_clusters = _cluster_index(np.asarray(list(clusters), dtype=object)[keep])
    if n_clusters < 2:
        return None
    sums = np.bincount(index, weights=x[keep], minlength=n_clusters)
    counts = np.bincount(index, minlength=n_clusters).astype(np.float64)
    means = []
    for draw in _draw_counts(n_clusters, n_boot, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((draw @ sums) / (draw @ counts))
    low, high = _interval(np.concatenate(means), level)
    return None if low is None else [low, high]
