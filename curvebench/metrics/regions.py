"""The paper's three regions of the Δℓ curve: peak, assimilation and recovery.

The rule's constants are times, converted to steps of the grid (``round(seconds · hz)``), so a
region means the same stretch of music at any grid rate; at 50 Hz they are exactly the step
constants of the paper's released analysis code (50, 5, 5, 50, and (onset − 1) + length + 4).
With onset and length of the corruption in steps, curvebench's rule (``rule="curvebench"``,
the default) is:

- baseline = mean Δℓ over [0, onset − 1 s) (0 when that part is empty);
- peak = [onset − 0.1 s, p), where p is the first step *from the onset* at which Δℓ stays
  ≤ baseline for 0.1 s (``STABLE_S``; the window must fit in the curve); fallback: peak start
  + 1 s;
- assimilation = [p, onset + length + 0.06 s), the paper's (onset − 1) + length + 4 at 50 Hz
  (a 0.08 s tail after the paper's one-frame offset); empty when the peak ran past it;
- recovery = from the later of the two ends to the end of the curve.

Each region is summarised by its mean Δℓ; a region with no valid step is NaN and is left out
of dataset means. A masked curve (the "mean" alignment leaves empty steps NaN) keeps a rule of
its own, so that a "mean"-alignment number means the same in every results file: the settling
search starts at the peak start, "0.1 s" means round(0.1 · hz) consecutive *valid* steps
(5 at 50 Hz, which on a sparse symbolic curve can span seconds), and means skip masked steps.

``rule="paper"`` is the paper's released code exactly (see
:mod:`curvebench.metrics.paper_regions`). curvebench's default departs from it on purpose:

- the peak cannot end before the onset. The paper searches from onset − 5 in its rows, whose
  first window already holds the onset frame's loss (rows are one frame early); in predicted-
  frame steps the same search would settle on the five steps before the onset, which a causal
  model leaves exactly at Δℓ = 0 under sum alignment, and every peak would be empty;
- an empty region is NaN (undefined, left out of means), not 0: a 0 would pull a dataset's
  mean towards "no effect" by the share of pieces whose region happens to be empty;
- the recovery starts after the peak when the peak runs past the assimilation's end, instead
  of overlapping the peak: a step belongs to one region only;
- no step is dropped: the paper's last-step drop comes from its loop bounds, not its design;
- a loss is indexed by the frame it predicts (its token's own time), the indexing every
  curvebench curve uses, so a region's steps are the times of the tokens scored in them; the
  paper's rows are indexed by the frame conditioned on, one step earlier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from curvebench.metrics.means import NamedMeans
from curvebench.metrics.paper_regions import paper_region_mean, paper_region_rows, paper_rows

BASELINE_GAP_S = 1.0
"""The baseline ends this long before the onset."""
PEAK_LEAD_S = 0.1
"""The peak region starts this long before the onset."""
STABLE_S = 0.1
"""Δℓ must stay at or below the baseline this long for the peak to end."""
PEAK_FALLBACK_S = 1.0
"""Length of a peak that never settles."""
ASSIMILATION_TAIL_S = 0.08
"""The assimilation region ends this long after the corruption (from the paper's one-frame
offset, ONSET_OFFSET_S)."""
ONSET_OFFSET_S = 0.02
"""The paper's "onset − 1": one 50 Hz frame, kept as a time."""
REFERENCE_HZ = 50.0

BASELINE_GAP = 50
PEAK_LEAD = 5
STABLE_STEPS = 5
PEAK_FALLBACK = 50
ASSIMILATION_TAIL = 4
REGION_NAMES = ("peak", "assimilation", "recovery")
REGION_RULES = ("curvebench", "paper")


def seconds_to_steps(seconds: float, hz: float) -> int:
    """A duration in grid steps, rounded half up (exact for the constants at 50 Hz)."""
    return math.floor(seconds * hz + 0.5 + 1e-9)


@dataclass(frozen=True)
class RegionSteps:
    """The rule's constants in steps of one grid rate."""

    baseline_gap: int
    """Steps between the end of the baseline and the onset."""
    peak_lead: int
    """Steps of the peak region before the onset."""
    stable: int
    """Steps Δℓ must stay at or below the baseline to end the peak (at least 1)."""
    peak_fallback: int
    """Length in steps of a peak that never settles."""
    assimilation_end: int
    """Steps from onset + length to the end of the assimilation region (tail − offset)."""


def region_steps(hz: float = REFERENCE_HZ) -> RegionSteps:
    """The seconds constants in steps of a grid of ``hz`` steps per second
    (50 Hz: 50, 5, 5, 50, 4 − 1)."""
    if hz <= 0:
        raise ValueError(f"grid rate must be positive, got {hz}")
    return RegionSteps(
        baseline_gap=seconds_to_steps(BASELINE_GAP_S, hz),
        peak_lead=seconds_to_steps(PEAK_LEAD_S, hz),
        stable=max(1, seconds_to_steps(STABLE_S, hz)),
        peak_fallback=seconds_to_steps(PEAK_FALLBACK_S, hz),
        assimilation_end=seconds_to_steps(ASSIMILATION_TAIL_S, hz)
        - seconds_to_steps(ONSET_OFFSET_S, hz),
    )


@dataclass(frozen=True)
class RegionBounds:
    """Half-open step ranges of the three regions and the baseline level (a range is empty
    when its end is not after its start)."""

    baseline: float
    """Mean Δℓ before the corruption (curvebench: 0 when that part of the curve is empty;
    paper: NaN)."""
    peak: tuple[int, int]
    """[start, end) of the peak region."""
    assimilation: tuple[int, int]
    """[start, end) of the assimilation region."""
    recovery: tuple[int, int]
    """[start, end) of the recovery region."""


def _check_rule(rule: str) -> None:
    if rule not in REGION_RULES:
        raise ValueError(f"unknown region rule {rule!r}; choose one of {', '.join(REGION_RULES)}")


def _settle_step(delta: np.ndarray, start: int, baseline: float, stable: int) -> int | None:
    """First step ≥ start from which Δℓ stays ≤ baseline for ``stable`` consecutive steps
    (the window inside the curve), or None. On a masked curve (the "mean" alignment) the
    steps are consecutive *valid* steps."""
    valid = ~np.isnan(delta)
    steps = np.flatnonzero(valid[start:]) + start
    if steps.size < stable:
        return None
    settled = delta[steps] <= baseline
    # number of steps above the baseline in each run of ``stable`` consecutive (valid) steps
    above = np.convolve((~settled).astype(np.int64), np.ones(stable, dtype=np.int64), "valid")
    hits = np.flatnonzero(above == 0)
    return int(steps[hits[0]]) if hits.size else None


def _curvebench_bounds(delta: np.ndarray, onset: int, length: int, k: RegionSteps):
    n = len(delta)
    head = delta[: max(0, onset - k.baseline_gap)]
    head = head[~np.isnan(head)]
    baseline = float(head.mean()) if head.size else 0.0
    start = max(0, onset - k.peak_lead)
    masked = bool(np.isnan(delta).any())
    # the peak cannot end before the corruption starts (a masked curve: from the peak start)
    end = _settle_step(delta, start if masked else max(start, onset), baseline, k.stable)
    if end is None:
        end = start + k.peak_fallback
    end = min(end, n)
    assim_end = min(max(end, onset + length + k.assimilation_end), n)
    return RegionBounds(baseline, (start, end), (end, assim_end), (assim_end, n))


def _paper(delta: np.ndarray, onset: int, length: int, k: RegionSteps):
    rows = paper_rows(delta)
    found = paper_region_rows(
        rows,
        onset,
        length,
        baseline_gap=k.baseline_gap,
        peak_lead=k.peak_lead,
        stable=k.stable,
        peak_fallback=k.peak_fallback,
        assimilation_end=k.assimilation_end,
    )
    return rows, found


def region_bounds(
    delta: np.ndarray,
    onset: int,
    length: int,
    hz: float = REFERENCE_HZ,
    rule: str = "curvebench",
) -> RegionBounds:
    """Locate the regions of one Δℓ curve (NaN = masked step) on a grid of ``hz`` steps per
    second; ``onset`` and ``length`` in steps. For ``rule="paper"`` the paper's rows are
    given back as curvebench steps (row + 1), clipped to the curve."""
    _check_rule(rule)
    delta = np.asarray(delta, dtype=np.float64)
    k = region_steps(hz)
    if rule == "curvebench":
        return _curvebench_bounds(delta, onset, length, k)
    n = len(delta)
    _, (baseline, *ranges) = _paper(delta, onset, length, k)
    steps = [(min(lo + 1, n), min(hi + 1, n)) for lo, hi in ranges]
    return RegionBounds(baseline, *steps)


def region_means(
    delta: np.ndarray,
    onset: int,
    length: int,
    hz: float = REFERENCE_HZ,
    rule: str = "curvebench",
) -> dict[str, float]:
    """Mean Δℓ of each region. curvebench: NaN when a region holds no valid step; paper: 0
    for an empty region (see :mod:`curvebench.metrics.paper_regions`)."""
    _check_rule(rule)
    delta = np.asarray(delta, dtype=np.float64)
    if rule == "paper":
        rows, (_, *ranges) = _paper(delta, onset, length, region_steps(hz))
        return {
            name: paper_region_mean(rows, lo, hi)
            for name, (lo, hi) in zip(REGION_NAMES, ranges, strict=True)
        }
    bounds = region_bounds(delta, onset, length, hz)
    out = {}
    for name in REGION_NAMES:
        lo, hi = getattr(bounds, name)
        part = delta[lo:hi]
        part = part[~np.isnan(part)]
        out[name] = float(part.mean()) if part.size else float("nan")
    return out


class RegionMeans(NamedMeans):
    """Mean over pairs of each region's mean Δℓ (``region_peak``, ...); NaN regions left out."""

    def __init__(self, **kwargs) -> None:
        super().__init__(REGION_NAMES, "region_", **kwargs)
