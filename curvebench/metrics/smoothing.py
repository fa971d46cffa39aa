"""A moving average for masked curves (NaN = masked step), used by the shape features.

The average of a step is the mean of the *valid* values in its window, so a masked step with a
valid neighbour gets a value and a step whose whole window is masked stays NaN. Sums are taken
window by window (a direct convolution, not running sums), so a window of exact zeros averages
to exactly 0.0, which the tests and the noise-band checks rely on.
"""

from __future__ import annotations

import numpy as np


def nan_moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``values`` over ``width`` steps, ignoring NaN.

    The window of step t is [t − width // 2, t − width // 2 + width), clipped to the curve: for
    an odd width it is symmetric; for an even width it holds one more step before t than after.
    A step with no valid value in its window is NaN. ``width`` 1 returns the input unchanged
    (as float64).
    """
    if width < 1:
        raise ValueError(f"moving-average width must be at least 1, got {width}")
    values = np.asarray(values, dtype=np.float64)
    if width == 1 or values.size == 0:
        return values.copy()
    valid = ~np.isnan(values)
    before = width // 2
    after = width - 1 - before
    kernel = np.ones(width)
    sums = np.convolve(np.pad(np.where(valid, values, 0.0), (before, after)), kernel, "valid")
    counts = np.convolve(np.pad(valid.astype(np.float64), (before, after)), kernel, "valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
