"""How much a curve varies from step to step, measured robustly: the scale every shape detector
divides by, so its scores are in units of the model's own typical variation.

A median absolute deviation is used because one corruption peak must not set the scale that
is meant to measure it. Medians are also exact under repetition: a curve whose every step is
repeated k times (the same music on a grid k times finer) has exactly the same spread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

MAD_TO_STD = 1.4826
"""Scales a median absolute deviation to a standard deviation for Gaussian data."""
MEAN_ABS_TO_STD = math.sqrt(math.pi / 2.0)
"""Scales a mean absolute deviation to a standard deviation for Gaussian data."""


def finite(values: np.ndarray) -> np.ndarray:
    """The finite values of ``values`` as a flat float64 array (NaN = masked step)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    return x[np.isfinite(x)]


def robust_spread(values: np.ndarray) -> float:
    """Robust standard deviation of the finite values (NaN steps are left out).

    ``MAD_TO_STD · median(|x − median(x)|)``; when more than half the values are equal (the
    median absolute deviation is 0, as on a curve that is mostly silence),
    ``MEAN_ABS_TO_STD · mean(|x − median(x)|)`` (summed with ``math.fsum``) instead, which is 0
    only for a constant input. NaN when there is no finite value.
    """
    x = finite(values)
    if x.size == 0:
        return math.nan
    dev = np.abs(x - np.median(x))
    mad = float(np.median(dev))
    if mad > 0.0:
        return MAD_TO_STD * mad
    return MEAN_ABS_TO_STD * math.fsum(dev) / dev.size


def corpus_spread(curves: Iterable[np.ndarray]) -> float:
    """Typical per-step spread of a model over a corpus: the median over curves of
    :func:`robust_spread` (curves with no finite step left out; NaN when none is left).

    Pass it to the reference-free change score as ``corpus_spread`` so that a piece that is
    flat almost everywhere is still measured against the spread the model usually shows.
    """
    spreads = [robust_spread(c) for c in curves]
    spreads = [s for s in spreads if math.isfinite(s)]
    return float(np.median(spreads)) if spreads else math.nan


def row_medians(rows: np.ndarray) -> np.ndarray:
    """Median of the finite values of each row of a 2-D array (NaN for a row with none).

    The same value :func:`numpy.median` gives for each row's finite values: the two middle
    values of the sorted row, averaged.
    """
    rows = np.where(np.isfinite(rows), rows, np.nan)
    ordered = np.sort(rows, axis=1)  # NaN sorts last
    counts = np.count_nonzero(~np.isnan(ordered), axis=1)
    lo = np.clip((counts - 1) // 2, 0, None)[:, None]
    hi = np.clip(counts // 2, 0, max(rows.shape[1] - 1, 0))[:, None]
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], np.nan)
    a = np.take_along_axis(ordered, lo, axis=1)[:, 0]
    b = np.take_along_axis(ordered, hi, axis=1)[:, 0]
    return np.where(counts > 0, (a + b) / 2.0, np.nan)


def row_robust_spreads(rows: np.ndarray) -> np.ndarray:
    """:func:`robust_spread` of each row of a 2-D array (NaN = left out), vectorised; rows
    whose median absolute deviation is 0 fall back to the mean absolute deviation exactly as
    :func:`robust_spread` does."""
    rows = np.where(np.isfinite(rows), rows, np.nan)
    dev = np.abs(rows - row_medians(rows)[:, None])
    out = MAD_TO_STD * row_medians(dev)
    for i in np.flatnonzero(out == 0.0):
        d = dev[i][~np.isnan(dev[i])]
        out[i] = MEAN_ABS_TO_STD * math.fsum(d) / d.size
    return out
