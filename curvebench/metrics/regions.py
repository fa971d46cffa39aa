"""The paper's three regions of the Δℓ curve: peak, assimilation and recovery.

The rule of the paper's released analysis code, on a curve of grid steps (index = token at
50 Hz), given the onset and length of the corruption in steps:

- baseline = mean Δℓ over [0, onset − 50);
- peak = [onset − 5, p), where p is the first step from onset − 5 at which Δℓ stays ≤ baseline
  for 5 consecutive steps (fallback: onset − 5 + 50);
- assimilation = [p, (onset − 1) + length + 4);
- recovery = from there to the end.

Each region is summarised by its mean Δℓ. On a masked curve (symbolic music leaves empty time
bins) "consecutive steps" means consecutive *valid* steps and means skip masked steps; a region
with no valid step is NaN and is left out of dataset means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curvebench.metrics.means import NamedMeans

BASELINE_GAP = 50
PEAK_LEAD = 5
STABLE_STEPS = 5
PEAK_FALLBACK = 50
ASSIMILATION_TAIL = 4
REGION_NAMES = ("peak", "assimilation", "recovery")


@dataclass(frozen=True)
class RegionBounds:
    """Half-open step ranges of the three regions and the baseline level."""

    baseline: float
    """Mean Δℓ before the corruption (0 when that part of the curve is empty)."""
    peak: tuple[int, int]
    """[start, end) of the peak region."""
    assimilation: tuple[int, int]
    """[start, end) of the assimilation region."""
    recovery: tuple[int, int]
    """[start, end) of the recovery region."""


def region_bounds(delta: np.ndarray, onset: int, length: int) -> RegionBounds:
    """Locate the regions of one Δℓ curve (NaN = masked step)."""
    delta = np.asarray(delta, dtype=np.float64)
    n = len(delta)
    valid = ~np.isnan(delta)
    head = delta[: max(0, onset - BASELINE_GAP)]
    head = head[~np.isnan(head)]
    baseline = float(head.mean()) if head.size else 0.0
    start = max(0, onset - PEAK_LEAD)
    steps = np.flatnonzero(valid[start:]) + start
    below = delta[steps] <= baseline
    end = None
    for i in range(len(steps) - STABLE_STEPS + 1):
        if below[i : i + STABLE_STEPS].all():
            end = int(steps[i])
            break
    if end is None:
        end = start + PEAK_FALLBACK
    end = min(end, n)
    assim_end = min(max(end, onset - 1 + length + ASSIMILATION_TAIL), n)
    return RegionBounds(baseline, (start, end), (end, assim_end), (assim_end, n))


def region_means(delta: np.ndarray, onset: int, length: int) -> dict[str, float]:
    """Mean Δℓ of each region (NaN when a region holds no valid step)."""
    bounds = region_bounds(delta, onset, length)
    out = {}
    for name in REGION_NAMES:
        lo, hi = getattr(bounds, name)
        part = np.asarray(delta[lo:hi], dtype=np.float64)
        part = part[~np.isnan(part)]
        out[name] = float(part.mean()) if part.size else float("nan")
    return out


class RegionMeans(NamedMeans):
    """Mean over pairs of each region's mean Δℓ (``region_peak``, ...); NaN regions left out."""

    def __init__(self, **kwargs) -> None:
        super().__init__(REGION_NAMES, "region_", **kwargs)
