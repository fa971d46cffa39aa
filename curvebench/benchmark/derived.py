"""The numbers of one scored item and of one (original, perturbed) pair, from the raw fields of
their samples lines: item statistics, the pair's Δℓ on the time grid, its regions, features and
detector scores, and its scores by every validity metric."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.alignment import grid_bins, grid_delta
from curvebench.metrics.regions import RegionBounds, region_bounds, region_means
from curvebench.metrics.registry import (
    ItemView,
    PairView,
    item_metrics,
    pair_metrics,
    validity_metrics,
)
from curvebench.metrics.shape import curve_features
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


def validity_specs() -> list[MetricSpec]:
    """The metrics checked against the truth (the perturbed copy is worse music), from the
    registry (:mod:`curvebench.metrics.registry`)."""
    return [MetricSpec(m.name, m.higher_is_worse, m.per_item) for m in validity_metrics()]


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
    nats_per_second: float | None
    abs_loss_per_codebook: list[float] | None = None
    """Audio: each codebook's mean."""
    scores: dict[str, float | None] = field(default_factory=dict)
    """Each item metric's score, by its samples line field."""

    def line_fields(self) -> dict[str, object]:
        """The numbers as a samples line holds them (the item metrics' scores include the
        absolute loss and nats per second)."""
        return {
            "perplexity": self.perplexity,
            "abs_loss_per_codebook": self.abs_loss_per_codebook,
        } | self.scores


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


def item_view(line: SampleLine, task: TaskConfig) -> ItemView:
    """What an item metric reads of a line: its loss per step (audio: per frame), their
    times and its length, on the task's grid."""
    return ItemView(
        frame_loss(line_loss(line)),
        line_seconds(line),
        line.duration_s,
        task.clip_seconds,
        task.grid_hz,
    )


def item_stats(line: SampleLine, task: TaskConfig) -> ItemStats:
    """Numbers of one scored item, from its ``loss``, ``seconds`` and ``duration_s``."""
    loss = line_loss(line)
    view = item_view(line, task)
    scores = {m.line_field: rounded(m.compute(view)) for m in item_metrics()}
    per_second = rounded(view.loss.sum() / line.duration_s) if line.duration_s else None
    audio = loss.ndim == 2
    return ItemStats(
        abs_loss=rounded(view.loss.mean()),
        perplexity=rounded(np.exp(view.loss.mean())),
        nats_per_second=per_second,
        abs_loss_per_codebook=[rounded(v) for v in loss.mean(axis=1)] if audio else None,
        scores=scores,
    )


def real_steps(original: SampleLine, perturbed: SampleLine, task: TaskConfig) -> int:
    """Grid steps the pair's music covers: the longer side's seconds, at most the clip's (a
    clip shorter than the task's has no steps after its end, not steps of 0)."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    durations = [d for d in (original.duration_s, perturbed.duration_s) if d]
    return min(n_bins, grid_bins(max(durations), task.grid_hz)) if durations else n_bins


def pair_delta(original: SampleLine, perturbed: SampleLine, task: TaskConfig) -> np.ndarray:
    """Δℓ of a pair on the task's time grid (the task's ``alignment``: surprisal sums per step
    by default; token by token first when the perturbation keeps token count and timing),
    NaN after the music ends (:func:`real_steps`). Audio Δℓ is the per-frame difference of
    the per-frame means over codebooks, as the paper computes it, never smoothed unless the
    task's ``smooth_steps`` asks; symbolic Δℓ of sums is read as a rate over
    ``symbolic_smooth_s``."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    symbolic = line_loss(original).ndim == 1
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
    end = real_steps(original, perturbed, task)
    delta[end:] = np.nan
    if symbolic and task.alignment == "sum" and task.symbolic_smooth_s > 0:
        # tokens are sparse on the grid: most steps of a sum are 0 whether or not anything
        # changed, so the region rule reads the surprisal rate over a short window instead
        delta = nan_moving_average(delta, max(1, round(task.symbolic_smooth_s * task.grid_hz)))
    if task.smooth_steps > 1:
        delta = nan_moving_average(delta, task.smooth_steps)
    delta[end:] = np.nan  # a window reaching past the end gives it no value
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
    delta = delta[: real_steps(original, perturbed, task)]  # regions over real steps only
    means = region_means(delta, onset, length, task.grid_hz, task.region_rule)
    features = curve_features(delta, onset, length, task.grid_hz)
    scale = robust_spread(item_view(original, task).on_grid())
    pair = PairView(delta, record.onset_s, record.duration_s, task.grid_hz, scale)
    return PairShape(
        regions={k: rounded(v) for k, v in means.items()},
        features={k: rounded(v) for k, v in features.items()},
        detectors={m.name: [rounded(v) for v in m.compute(pair)] for m in pair_metrics()},
        bounds=region_bounds(delta, onset, length, task.grid_hz, task.region_rule),
    )


def pair_scores(
    family: str, original: SampleLine, stats: tuple[ItemStats, ItemStats], shape: PairShape | None
) -> PairScores:
    """One pair's scores by every validity metric (NaN where a metric has none)."""
    o, p = stats
    scores = {
        m.name: (as_float(o.scores.get(m.line_field)), as_float(p.scores.get(m.line_field)))
        for m in item_metrics()
    }
    for m in pair_metrics():
        both = shape.detectors.get(m.name, [None, None]) if shape is not None else [None, None]
        scores[m.name] = (as_float(both[0]), as_float(both[1]))
    cluster = f"{original.dataset}/{original.piece_id}"
    return PairScores(family, original.role, cluster, scores)
