"""The numbers of one scored item and of one (original, perturbed) pair, from the raw fields of
their samples lines: item statistics, the pair's Δℓ on the time grid, its regions, features and
detector scores, and its scores by every validity metric."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.alignment import grid_bins, grid_delta, to_grid_sum
from curvebench.metrics.change import change_score
from curvebench.metrics.detectors import pair_detector_scores
from curvebench.metrics.regions import RegionBounds, region_bounds, region_means
from curvebench.metrics.shape import curve_features, spike_score
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.metrics.spread import robust_spread
from curvebench.metrics.validity import MetricSpec, PairScores
from curvebench.tasks import TaskConfig

DECIMALS = 5
"""Decimals of every number written to samples and results (but see CODE_DECIMALS)."""

CODE_DECIMALS = 4
"""Decimals of an audio item's per-code losses ([K][T]: K codebooks × 50 frames a second,
thousands of numbers per clip). 1e-4 nats is ten times finer than the verifier's tolerance
(``leaderboard.verify.LOSS_TOLERANCE``) and a hundred times finer than any difference a metric
reads, and it keeps a board entry's samples file under half the size of one written to
DECIMALS."""

VALIDITY_METRICS = (
    MetricSpec("abs_loss"),
    MetricSpec("nats_per_second"),
    MetricSpec("shape"),
    MetricSpec("change"),
    MetricSpec("peak_evidence", per_item=False),
    MetricSpec("peak_area", per_item=False),
)
"""The metrics checked against the truth (the perturbed copy is worse music): absolute loss
per token and per second, the reference-free spike and change scores of each item, and the
Δℓ detectors of each pair (which read the clean original)."""


def rounded(value: float | None) -> float | None:
    """A number as written: rounded to DECIMALS, None when undefined."""
    return None if value is None or not np.isfinite(value) else round(float(value), DECIMALS)


def as_float(value: float | None) -> float:
    return float("nan") if value is None else value


@dataclass(frozen=True)
class ItemStats:
    """The derived numbers of one scored item."""

    abs_loss: float | None
    perplexity: float | None
    shape_score: float | None
    nats_per_second: float | None
    change_score: float | None = None
    """Reference-free change score of the loss on the task's grid (seconds-based windows)."""
    abs_loss_per_codebook: list[float] | None = None
    """Audio: each codebook's mean."""


@dataclass(frozen=True)
class PairShape:
    """The region means and curve features of one pair, rounded, and where the regions are."""

    regions: dict[str, float | None]
    features: dict[str, float | None]
    detectors: dict[str, list[float | None]]
    """Δℓ detectors: name → [the swapped pair's score, the pair's score]."""
    bounds: RegionBounds | None = None
    """The regions' grid steps (not written to the samples)."""


def frame_loss(loss: np.ndarray) -> np.ndarray:
    """Loss per time step: itself for symbolic tokens, the mean over codebooks for audio
    frames (the paper's per-frame loss), rounded as written."""
    return loss if loss.ndim == 1 else np.round(loss.mean(axis=0), DECIMALS)


def written_loss(loss: np.ndarray) -> np.ndarray:
    """Losses as a samples line holds them: per-token losses to DECIMALS, an audio item's
    per-code losses to CODE_DECIMALS."""
    return np.round(loss.astype(np.float64), DECIMALS if loss.ndim == 1 else CODE_DECIMALS)


def line_loss(line: SampleLine) -> np.ndarray:
    return np.asarray(line.loss, dtype=np.float64)


def line_seconds(line: SampleLine) -> np.ndarray:
    return np.array([np.nan if s is None else s for s in line.seconds], dtype=np.float64)


CHANGE_HZ = 10.0
"""Rate of the curve the reference-free change score reads: surprisal per 0.1 s segment (a
symbolic 50 Hz grid of sums is mostly empty steps, whose medians would all be 0)."""


def loss_on_grid(line: SampleLine, task: TaskConfig, hz: float | None = None) -> np.ndarray:
    """An item's surprisal per step of a grid at ``hz`` (default: the task's), the sum of its
    tokens' losses in each step (audio: of its frames' means over codebooks)."""
    hz = hz or task.grid_hz
    n_bins = grid_bins(task.clip_seconds, hz)
    return to_grid_sum(frame_loss(line_loss(line)), line_seconds(line), n_bins, hz)


def item_stats(line: SampleLine, task: TaskConfig) -> ItemStats:
    """Numbers of one scored item, from its ``loss``, ``seconds`` and ``duration_s``."""
    loss = line_loss(line)
    frames = frame_loss(loss)
    per_second = rounded(frames.sum() / line.duration_s) if line.duration_s else None
    audio = loss.ndim == 2
    return ItemStats(
        abs_loss=rounded(frames.mean()),
        perplexity=rounded(np.exp(frames.mean())),
        shape_score=rounded(spike_score(frames)),
        nats_per_second=per_second,
        change_score=rounded(change_score(loss_on_grid(line, task, CHANGE_HZ), CHANGE_HZ)),
        abs_loss_per_codebook=[rounded(v) for v in loss.mean(axis=1)] if audio else None,
    )


def pair_delta(original: SampleLine, perturbed: SampleLine, task: TaskConfig) -> np.ndarray:
    """Δℓ of a pair on the task's time grid (the task's ``alignment``: surprisal sums per step
    by default; token by token first when the perturbation keeps token count and timing),
    smoothed when the task asks."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    orig, pert = frame_loss(line_loss(original)), frame_loss(line_loss(perturbed))
    keeps = perturbed.record is not None and perturbed.record.preserves_tokens
    delta = grid_delta(
        orig,
        line_seconds(original),
        pert,
        line_seconds(perturbed),
        n_bins,
        task.grid_hz,
        mode=task.alignment,
        by_index=keeps and len(orig) == len(pert),
    )
    if orig.ndim == 1 and task.alignment == "sum" and task.symbolic_smooth_s > 0:
        # tokens are sparse on the grid: most steps of a sum are 0 whether or not anything
        # changed, so the region rule reads the surprisal rate over a short window instead
        delta = nan_moving_average(delta, max(1, round(task.symbolic_smooth_s * task.grid_hz)))
    if task.smooth_steps > 1:
        delta = nan_moving_average(delta, task.smooth_steps)
    return delta


def pair_shape(
    delta: np.ndarray, original: SampleLine, perturbed: SampleLine, task: TaskConfig
) -> PairShape | None:
    """The paper's region means and the robust curve features of a pair; None when the task
    reports no regions or the perturbation has no onset."""
    record = perturbed.record
    if not task.regions or record is None or record.onset_s is None:
        return None
    onset = round(record.onset_s * task.grid_hz)
    length = round((record.duration_s or 0.0) * task.grid_hz)
    means = region_means(delta, onset, length, task.grid_hz, task.region_rule)
    features = curve_features(delta, onset, length, task.grid_hz)
    scale = robust_spread(loss_on_grid(original, task))
    detectors = pair_detector_scores(delta, record.onset_s, record.duration_s, task.grid_hz, scale)
    return PairShape(
        regions={k: rounded(v) for k, v in means.items()},
        features={k: rounded(v) for k, v in features.items()},
        detectors={k: [rounded(o), rounded(p)] for k, (o, p) in detectors.items()},
        bounds=region_bounds(delta, onset, length, task.grid_hz, task.region_rule),
    )


def pair_scores(
    family: str, original: SampleLine, stats: tuple[ItemStats, ItemStats], shape: PairShape | None
) -> PairScores:
    """One pair's scores by every validity metric (NaN where a metric has none)."""
    o, p = stats
    scores = {
        "abs_loss": (as_float(o.abs_loss), as_float(p.abs_loss)),
        "nats_per_second": (as_float(o.nats_per_second), as_float(p.nats_per_second)),
        "shape": (as_float(o.shape_score), as_float(p.shape_score)),
        "change": (as_float(o.change_score), as_float(p.change_score)),
    }
    for name in ("peak_evidence", "peak_area"):
        both = shape.detectors[name] if shape is not None else [None, None]
        scores[name] = (as_float(both[0]), as_float(both[1]))
    cluster = f"{original.dataset}/{original.piece_id}"
    return PairScores(family, original.role, cluster, scores)
