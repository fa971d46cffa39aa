"""The paper's released region rule, edge cases included (``regions: paper``).

Matched against ``detect_regions_ma`` and ``analyze_single_file`` in
``experiments/phase5/phase5_region_analysis_boxplot_3areas.py`` of github YoEv/noiseloss, where
the curve is ``diff = mix_loss − ori_loss`` (one row per frame of a 50 Hz MusicGen curve), the
noise starts at frame 250 and lasts ``noise_length`` frames:

- ``baseline = mean(diff[:200])``, i.e. over [0, onset − 50);
- the peak starts at the fixed row 245 (onset − 5) and ends at the first p ≥ 245 with
  diff[p .. p+4] all ≤ baseline, searched as ``for i in range(245 + 5, len(diff))``, so the
  window never reaches the last row; fallback p = 245 + 50 (not clipped to the curve);
- the assimilation is [p, min(249 + noise_length + 4, len − 1)), i.e. ends at
  (onset − 1) + length + 4 even when the peak ran past it (then it is empty);
- the recovery is [that end, len − 1): it starts there even when the peak ran past it
  (the two overlap) and the last row is dropped;
- each region's value is ``np.mean(diff[a:b]) if b > a else 0``: an empty region counts 0.

Rows are the loss files' rows: row i is the loss of the step-(i+1) frame, computed from the
frames up to i (``input = codes[:-1], target = codes[1:]``), so a loss is indexed by the frame
it is conditioned on. curvebench indexes a loss by the frame it predicts, so the paper's row i
is curvebench's step i + 1: the rule reads ``delta[1:]``.

Generalised only where the paper hard-codes its setup: onset and length come from the
perturbation and the step constants from the grid rate (exactly the paper's at 50 Hz), and a
peak start before step 0 is clipped to 0. On a masked curve (``"mean"`` alignment only; sum
alignment and audio leave no masked step) a masked step never counts as settled and means skip
masked steps (a region whose steps are all masked is NaN).
"""

from __future__ import annotations

import numpy as np

PaperRegions = tuple[float, tuple[int, int], tuple[int, int], tuple[int, int]]
"""(baseline, peak, assimilation, recovery) in the paper's row indices, half-open, unclipped."""


def paper_rows(delta: np.ndarray) -> np.ndarray:
    """A curvebench Δℓ curve (step = frame predicted) in the paper's rows (row = frame
    conditioned on): row i is step i + 1."""
    return np.asarray(delta, dtype=np.float64)[1:]


def paper_region_rows(
    rows: np.ndarray,
    onset: int,
    length: int,
    *,
    baseline_gap: int,
    peak_lead: int,
    stable: int,
    peak_fallback: int,
    assimilation_end: int,
) -> PaperRegions:
    """The paper's regions on its rows (see the module docstring).

    ``assimilation_end`` is the step offset added to ``onset + length`` for the end of the
    assimilation ((−1) + 4 = 3 at 50 Hz).
    """
    m = len(rows)
    head = rows[: max(0, onset - baseline_gap)]
    baseline = float(np.nanmean(head)) if np.any(~np.isnan(head)) else float("nan")
    start = max(0, onset - peak_lead)
    settled = rows <= baseline  # NaN (masked step or NaN baseline) is never settled
    peak_end = None
    for i in range(start + stable, m):
        if settled[i - stable : i].all():
            peak_end = i - stable
            break
    if peak_end is None:
        peak_end = start + peak_fallback
    assim_end = min(onset + length + assimilation_end, m - 1)
    return baseline, (start, peak_end), (peak_end, assim_end), (assim_end, m - 1)


def paper_region_mean(rows: np.ndarray, lo: int, hi: int) -> float:
    """The paper's region value: mean of rows[lo:hi], 0 when hi ≤ lo (an empty region); NaN
    when the slice holds no valid row (it lies past the curve, or all of it is masked)."""
    if hi <= lo:
        return 0.0
    part = rows[lo:hi]
    part = part[~np.isnan(part)]
    return float(part.mean()) if part.size else float("nan")
