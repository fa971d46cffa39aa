"""A reference-free change score: how far one piece's loss jumps above its own recent past.

Generated music and a user's own files have no clean original to subtract, so the paper's Δℓ
cannot be formed. A corruption still shows in the model's own per-step loss (surprisal) as a
sustained rise over what it was just predicting. :func:`change_score` measures that rise with
every length defined in seconds, so a curve means the same at any token or frame rate, and with
a spread floor taken from the model's own variation, so silence or a flat stretch cannot make
it explode.
"""

from __future__ import annotations

import math

import numpy as np

from curvebench.metrics.registry import ItemView, ValidityMetric, register
from curvebench.metrics.spread import robust_spread, row_medians, row_robust_spreads

CHANGE_HZ = 10.0
"""Rate of the curve an item's change score reads: surprisal per 0.1 s segment (a symbolic
50 Hz grid of sums is mostly empty steps, whose medians would all be 0)."""

SEGMENT_S = 0.1
"""The curve is read in segments this long, each summarised by the median of its steps."""
BASELINE_S = 2.0
"""Each segment is compared with the steps of the segments in the preceding BASELINE_S (about
a bar at 120 bpm; on the stored leaderboard runs 2 s agreed with the truth clearly better than
1 s and no worse than 4 s)."""
MIN_BASELINE_SEGMENTS = 3
"""A segment is scored only when at least this many of its baseline segments hold a step."""
SEQUENCE_FLOOR = 0.5
"""The local spread is floored at this fraction of the whole sequence's robust spread."""
CORPUS_FLOOR = 0.25
"""... and at this fraction of the corpus's typical spread, when one is given."""


def _segments(n: int, hz: float, segment_s: float) -> np.ndarray:
    """The segment index of each of ``n`` steps (step t lies at t / hz seconds)."""
    per_segment = hz * segment_s
    return np.floor(np.arange(n) / per_segment + 1e-9).astype(np.int64)


def change_score(
    loss: np.ndarray,
    hz: float = 50.0,
    corpus_spread: float | None = None,
    segment_s: float = SEGMENT_S,
    baseline_s: float = BASELINE_S,
) -> float:
    """Largest sustained rise of one loss curve over its own trailing BASELINE_S, in spreads.

    ``loss`` is the per-step surprisal on a grid of ``hz`` steps per second (NaN = empty
    step); ``segment_s`` and ``baseline_s`` default to SEGMENT_S and BASELINE_S. With segments
    k of SEGMENT_S seconds (step t in segment ⌊t / (hz · SEGMENT_S)⌋)::

        m_k     = median of the valid steps of segment k
        B_k     = the valid steps of segments [k − BASELINE_S / SEGMENT_S, k) (clipped at 0)
        floor   = max(SEQUENCE_FLOOR · σ_seq, CORPUS_FLOOR · corpus_spread)
        z_k     = (m_k − median(B_k)) / max(σ(B_k), floor)
        score   = max over scored segments k of z_k

    where σ is :func:`~curvebench.metrics.spread.robust_spread` and σ_seq is σ of every valid
    step of the curve. A segment is scored when it holds a valid step and at least
    MIN_BASELINE_SEGMENTS of its baseline segments do. Medians make the score exact under
    repetition: the same curve sampled at k times the rate over the same seconds (each step
    repeated k times) gives the identical score.

    Edge cases, all finite: an all-NaN curve (silence with no tokens), a constant curve
    (all-zero silence included) and a curve too short for any segment to be scored give 0.0
    (no measurable change). Higher = the piece is more likely the corrupted one.
    """
    if hz <= 0:
        raise ValueError(f"grid rate hz must be positive, got {hz}")
    x = np.asarray(loss, dtype=np.float64).reshape(-1)
    valid = np.isfinite(x)
    if not valid.any():
        return 0.0
    sigma_seq = robust_spread(x)
    floor = SEQUENCE_FLOOR * sigma_seq
    if corpus_spread is not None and math.isfinite(corpus_spread):
        floor = max(floor, CORPUS_FLOOR * corpus_spread)
    segment = _segments(x.size, hz, segment_s)
    n_segments = int(segment[-1]) + 1
    starts = np.searchsorted(segment, np.arange(n_segments))
    width = int(np.bincount(segment).max())
    grid = np.full((n_segments, width), np.nan)  # one row of steps per segment
    grid[segment, np.arange(x.size) - starts[segment]] = x
    medians = row_medians(grid)
    lookback = max(1, round(baseline_s / segment_s))
    padded = np.concatenate([np.full((lookback, width), np.nan), grid])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (lookback, width))[:n_segments, 0]
    windows = windows.reshape(n_segments, lookback * width)  # steps of [k − lookback, k)
    padded_medians = np.concatenate([np.full(lookback, np.nan), medians])
    history = np.lib.stride_tricks.sliding_window_view(padded_medians, lookback)[:n_segments]
    scored = ~np.isnan(medians) & (
        np.count_nonzero(~np.isnan(history), axis=1) >= MIN_BASELINE_SEGMENTS
    )
    if not scored.any():
        return 0.0
    base = windows[scored]
    denominator = np.maximum(row_robust_spreads(base), floor)
    rise = medians[scored] - row_medians(base)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(denominator > 0.0, rise / np.where(denominator > 0, denominator, 1.0), 0.0)
    best = float(z.max())
    return float(best) if math.isfinite(best) else 0.0


def item_change_score(item: ItemView) -> float:
    """An item's change score, on its surprisal per CHANGE_HZ grid step."""
    return change_score(item.on_grid(CHANGE_HZ), CHANGE_HZ)


register(
    ValidityMetric(
        "change",
        "change",
        "change score (largest sustained rise, windows in seconds)",
        item_change_score,
        headline=True,
        shape=True,
        field="change_score",
        order=40,
    )
)
