"""Shape features of a Δℓ curve, and a spike score that needs no clean reference.

The paper summarises each region of Δℓ by its mean (see :mod:`curvebench.metrics.regions`).
Means blur what the paper's figures show: how high the peak goes, how soon, how deep the
assimilation dip gets and how long the curve takes to settle. :func:`curve_features` measures
those on a lightly smoothed curve (a centred moving average that skips masked steps), inside the
same regions, so one noisy step does not set the peak. :class:`CurveFeatureMeans` averages them
over pairs.

:func:`spike_score` reads ONE loss curve, with no original to subtract: how far the loss jumps
above its own recent past, in units of that past's spread. It is what lets generated music, which
has no clean reference, be judged by the shape signal: a corrupted copy should score higher than
its original.
"""

from __future__ import annotations

import numpy as np

from curvebench.metrics.means import NamedMeans
from curvebench.metrics.regions import region_bounds, region_steps
from curvebench.metrics.registry import ValidityMetric, register
from curvebench.metrics.smoothing import nan_moving_average

FEATURE_NAMES = (
    "peak_height",
    "peak_latency_s",
    "assimilation_depth",
    "recovery_time_s",
    "area_positive",
    "area_negative",
)
NOISE_BAND_STD = 2.0
SPIKE_EPS = 1e-6

_NAN = float("nan")


def _valid_extreme(
    smoothed: np.ndarray, lo: int, hi: int, pick_max: bool
) -> tuple[float, int | None]:
    """Max (or min) of the valid smoothed values in [lo, hi) and its first step, or (NaN, None)."""
    part = smoothed[lo:hi]
    steps = np.flatnonzero(~np.isnan(part))
    if steps.size == 0:
        return _NAN, None
    values = part[steps]
    i = int(np.argmax(values) if pick_max else np.argmin(values))
    return float(values[i]), lo + int(steps[i])


def _recovery_step(
    smoothed: np.ndarray, start: int, low: float, high: float, stable: int
) -> int | None:
    """First step from ``start`` that begins a run of ``stable`` consecutive valid smoothed
    steps inside [low, high], or None."""
    steps = np.flatnonzero(~np.isnan(smoothed[start:])) + start
    inside = (smoothed[steps] >= low) & (smoothed[steps] <= high)
    for i in range(len(steps) - stable + 1):
        if inside[i : i + stable].all():
            return int(steps[i])
    return None


def curve_features(
    delta: np.ndarray, onset: int, length: int, hz: float = 50.0, smooth: int = 5
) -> dict[str, float]:
    """Shape features of one Δℓ curve on a grid of ``hz`` steps per second (NaN = masked step).

    ``onset`` and ``length`` are the corruption's start and duration in steps. Region ranges come
    from :func:`~curvebench.metrics.regions.region_bounds` applied to the raw curve; the
    features read the curve smoothed by a centred moving average of ``smooth`` steps, except
    the areas, which sum the raw curve. Keys (NaN where a feature is undefined):

    - ``peak_height``: max smoothed Δℓ in the peak region (NaN when the region is empty, as for
      a curve with no effect, where Δℓ settles at once);
    - ``peak_latency_s``: seconds from the onset step to that max (negative if it comes in the
      PEAK_LEAD_S (0.1 s) before the onset; the first step wins a tie);
    - ``assimilation_depth``: min smoothed Δℓ in the assimilation region;
    - ``recovery_time_s``: seconds from the end of the assimilation region to the first of
      STABLE_S (0.1 s) of consecutive valid smoothed steps inside the baseline's noise band, mean ±
      NOISE_BAND_STD std (ddof 0) of raw Δℓ over [0, onset − BASELINE_GAP_S); 0 when the curve is
      already back, NaN when it never settles or there is no baseline;
    - ``area_positive`` / ``area_negative``: sum of the positive / negative raw Δℓ of the valid
      steps from onset − PEAK_LEAD_S to the end, divided by ``hz`` (nats·s; the negative area is
      reported as a negative number; masked steps add nothing).
    """
    delta = np.asarray(delta, dtype=np.float64)
    bounds = region_bounds(delta, onset, length, hz)
    k = region_steps(hz)
    smoothed = nan_moving_average(delta, smooth)

    peak_height, peak_step = _valid_extreme(smoothed, *bounds.peak, pick_max=True)
    depth, _ = _valid_extreme(smoothed, *bounds.assimilation, pick_max=False)

    head = delta[: max(0, onset - k.baseline_gap)]
    head = head[~np.isnan(head)]
    recovery = _NAN
    if head.size:
        mean, spread = float(head.mean()), NOISE_BAND_STD * float(head.std())
        start = bounds.recovery[0]
        step = _recovery_step(smoothed, start, mean - spread, mean + spread, k.stable)
        if step is not None:
            recovery = (step - start) / hz

    tail = delta[max(0, onset - k.peak_lead) :]
    tail = tail[~np.isnan(tail)]
    return {
        "peak_height": peak_height,
        "peak_latency_s": _NAN if peak_step is None else (peak_step - onset) / hz,
        "assimilation_depth": depth,
        "recovery_time_s": recovery,
        "area_positive": float(tail[tail > 0].sum()) / hz,
        "area_negative": float(tail[tail < 0].sum()) / hz,
    }


def spike_score(loss_grid: np.ndarray, baseline_steps: int = 50, smooth: int = 5) -> float:
    """Reference-free spike score of one loss curve (NaN = masked step): the largest rise of
    the smoothed loss above its trailing baseline, in baseline standard deviations.

    For each step t whose trailing window [t − ``baseline_steps``, t) (clipped at the start)
    holds at least ``baseline_steps // 2`` valid raw values, and whose smoothed loss (centred
    moving average of ``smooth`` steps) is defined::

        z_t = (smoothed[t] − mean(window)) / max(std(window), SPIKE_EPS)

    where mean and std (ddof 0) are of the *raw* valid values in the window. The score is
    max over t of z_t; NaN when no step qualifies.

    Why it exists: the shape signal of the paper is read off Δℓ, which needs a clean original
    to subtract. Generated music has none. A corruption shows up in the model's own loss as a
    sudden rise over what it was just predicting, so this score lets any single piece be
    judged: a perturbed copy should score higher than its original (AUROC with originals as
    negatives, see :func:`~curvebench.metrics.clustered.clustered_auroc`). A flat, noise-free
    window has std 0, so any rise after it is divided by SPIKE_EPS and scores very high.
    """
    if baseline_steps < 1:
        raise ValueError(f"baseline_steps must be at least 1, got {baseline_steps}")
    raw = np.asarray(loss_grid, dtype=np.float64)
    n = raw.size
    if n == 0:
        return _NAN
    smoothed = nan_moving_average(raw, smooth)
    padded = np.concatenate([np.full(baseline_steps, np.nan), raw])
    windows = np.lib.stride_tricks.sliding_window_view(padded, baseline_steps)[:n]
    valid = ~np.isnan(windows)
    counts = valid.sum(axis=1)
    ok = (counts >= max(1, baseline_steps // 2)) & ~np.isnan(smoothed)
    if not ok.any():
        return _NAN
    windows, valid, counts = windows[ok], valid[ok], counts[ok]
    mean = np.where(valid, windows, 0.0).sum(axis=1) / counts
    centred = np.where(valid, windows - mean[:, None], 0.0)
    std = np.sqrt((centred**2).sum(axis=1) / counts)
    z = (smoothed[ok] - mean) / np.maximum(std, SPIKE_EPS)
    return float(z.max())


class CurveFeatureMeans(NamedMeans):
    """Mean over pairs of each shape feature of :func:`curve_features`; NaN features are left
    out. ``compute`` gives ``shape_<feature>`` (None when no pair had it)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(FEATURE_NAMES, "shape_", **kwargs)


register(
    ValidityMetric(
        "shape",
        "spike",
        "spike score",
        lambda item: spike_score(item.loss),
        shape=True,
        field="shape_score",
        means=True,
        order=30,
    )
)
