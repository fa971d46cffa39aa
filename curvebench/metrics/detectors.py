"""Decisions read off the paper's signal: does the Δℓ curve of a pair show the corruption's peak?

Each detector turns one pair's Δℓ (perturbed − original per grid step, NaN = masked step) and
the corruption's onset into one number where HIGHER means "the perturbed copy is the worse
one". Its decision (score > 0) can then be checked against the truth: the perturbed copy is
worse music.

- :func:`peak_evidence`: the peak region's mean Δℓ in units of the baseline's spread;
- :func:`peak_area`: the positive Δℓ integrated over the peak region, over time.

The peak region is the one of :func:`curvebench.metrics.regions.region_bounds`. To compare a
pair score with the truth as a ranking (AUROC), :func:`swapped_and_pair` also scores the
*swapped* pair (the original seen as a corruption of the perturbed copy, i.e. −Δℓ): that is
the score the original gets, and the perturbed copy should out-score it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from curvebench.metrics.regions import region_bounds
from curvebench.metrics.registry import PairView, ValidityMetric, register
from curvebench.metrics.spread import finite, robust_spread

BASELINE_GAP_S = 1.0
"""The baseline of a pair's Δℓ ends this long before the onset (the regions' rule)."""
EVIDENCE_FLOOR = 0.1
"""The baseline spread is floored at this fraction of the model's typical per-step spread."""


def _steps(seconds: float, hz: float) -> int:
    """A time in grid steps (rounded to the nearest step)."""
    return round(seconds * hz)


def _peak_range(delta: np.ndarray, onset: int, length: int, hz: float) -> tuple[int, int]:
    """[start, end) of the peak region of ``delta`` by the regions' rule."""
    return region_bounds(delta, onset, length, hz=hz).peak


def _peak_values(
    delta: np.ndarray, onset_s: float, duration_s: float | None, hz: float
) -> tuple[np.ndarray, int]:
    """The valid Δℓ of the peak region and the onset step."""
    onset = _steps(onset_s, hz)
    length = _steps(duration_s or 0.0, hz)
    lo, hi = _peak_range(delta, onset, length, hz)
    return finite(delta[lo:hi]), onset


def peak_evidence(
    delta: np.ndarray,
    onset_s: float,
    duration_s: float | None,
    hz: float = 50.0,
    scale: float | None = None,
) -> float:
    """Evidence of a corruption peak in one pair's Δℓ, in baseline standard deviations::

        peak_evidence = mean(Δℓ over the peak region) / max(σ_base, EVIDENCE_FLOOR · scale)

    - the peak region is that of :func:`~curvebench.metrics.regions.region_bounds`, with the
      onset ``onset_s`` and length ``duration_s`` (seconds) converted to steps of ``hz``;
    - σ_base = :func:`~curvebench.metrics.spread.robust_spread` of Δℓ over the baseline
      [0, onset − BASELINE_GAP_S) (0 when that part is empty);
    - ``scale`` is the model's typical per-step spread, e.g. ``robust_spread`` of the
      original's loss curve; when None, the robust spread of the whole Δℓ curve. The floor
      matters: a causal model leaves Δℓ exactly 0 before the onset, so σ_base is often 0.

    Masked steps are left out. A peak region with no valid step gives 0.0 (no evidence either
    way). When the denominator is 0 (a constant Δℓ and no ``scale``) the result is 0.0 for a
    zero peak mean and NaN otherwise. Higher = the perturbed copy is worse.
    """
    delta = np.asarray(delta, dtype=np.float64)
    peak, onset = _peak_values(delta, onset_s, duration_s, hz)
    if peak.size == 0:
        return 0.0
    mean = float(peak.mean())
    base = finite(delta[: max(0, onset - _steps(BASELINE_GAP_S, hz))])
    sigma = robust_spread(base) if base.size else 0.0
    if scale is None:
        scale = robust_spread(delta)
    floor = EVIDENCE_FLOOR * scale if math.isfinite(scale) else 0.0
    denominator = max(sigma, floor)
    if denominator <= 0.0:
        return 0.0 if mean == 0.0 else math.nan
    return mean / denominator


def peak_area(
    delta: np.ndarray, onset_s: float, duration_s: float | None, hz: float = 50.0
) -> float:
    """Positive Δℓ integrated over the peak region, with time in seconds::

        peak_area = Σ_{valid t in peak} max(Δℓ_t, 0) / hz

    Δℓ is a level (nats per token or frame at that time), so the area is in nats·s per token:
    the area under the positive part of the curve. The same curve sampled at any grid rate
    gives the same area (a bump of height h lasting 0.4 s has area 0.4·h at 50 Hz and 100 Hz).
    Masked steps add nothing; an empty peak region gives 0.0. Higher = the perturbed copy is
    worse.
    """
    delta = np.asarray(delta, dtype=np.float64)
    peak, _ = _peak_values(delta, onset_s, duration_s, hz)
    return math.fsum(peak[peak > 0.0]) / hz


def swapped_and_pair(
    score: Callable[[np.ndarray], float], delta: np.ndarray
) -> tuple[float, float]:
    """A detector's (swapped pair's score, pair's score): the pair's reads Δℓ, the swapped
    pair's reads −Δℓ (the original scored as a corruption of the perturbed copy). The
    perturbed copy should score higher, so these go into agreement and AUROC like any
    per-item score."""
    delta = np.asarray(delta, dtype=np.float64)
    return score(-delta), score(delta)


def _evidence(pair: PairView) -> tuple[float, float]:
    return swapped_and_pair(
        lambda d: peak_evidence(d, pair.onset_s, pair.duration_s, pair.grid_hz, pair.scale),
        pair.delta,
    )


def _area(pair: PairView) -> tuple[float, float]:
    return swapped_and_pair(
        lambda d: peak_area(d, pair.onset_s, pair.duration_s, pair.grid_hz), pair.delta
    )


register(
    ValidityMetric(
        "peak_evidence",
        "Δℓ peak",
        "Δℓ peak evidence (the peak's mean over the baseline's spread)",
        _evidence,
        per_item=False,
        headline=True,
        shape=True,
        order=50,
    )
)
register(
    ValidityMetric(
        "peak_area",
        "Δℓ area",
        "positive Δℓ area of the peak region (nats·s per token)",
        _area,
        per_item=False,
        shape=True,
        order=60,
    )
)
