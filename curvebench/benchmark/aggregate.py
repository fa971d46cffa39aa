"""From samples lines to per-dataset metrics: every per-item and per-pair number computed once.

:func:`analyse` reads only the raw fields of the lines (losses, seconds, durations and
perturbation records) and gives the aggregates, the mean Δℓ curves and each line's derived
numbers. A run fills those numbers into its lines before writing them; a submission check
recomputes them from the lines it was given and compares, so everything can be recomputed from
samples.jsonl.gz alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from curvebench.benchmark.results import DatasetResult
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.absolute import PairedLoss
from curvebench.metrics.agreement import LengthCorrelation, LengthMeanCorrelation
from curvebench.metrics.alignment import grid_bins, grid_delta, to_grid_sum
from curvebench.metrics.change import change_score
from curvebench.metrics.detectors import pair_detector_scores
from curvebench.metrics.means import MeanCurve
from curvebench.metrics.regions import RegionBounds, RegionMeans, region_bounds, region_means
from curvebench.metrics.shape import CurveFeatureMeans, curve_features, spike_score
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.metrics.spread import robust_spread
from curvebench.metrics.token_types import (
    LossByType,
    RegionLossByType,
    loss_by_type,
    loss_by_type_in_regions,
)
from curvebench.metrics.validity import MetricSpec, PairScores, ValidityTable, validity_table
from curvebench.tasks import TaskConfig

DECIMALS = 5
"""Decimals of every number written to samples and results."""

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
VALIDITY_FIELDS = {
    "abs_loss": ("auroc_abs_loss", "agree_abs_loss"),
    "nats_per_second": ("auroc_nats_per_second", "agree_nats_per_second"),
    "shape": ("auroc_shape", "agree_shape"),
    "change": ("auroc_change", "agree_change"),
    "peak_evidence": ("auroc_peak_evidence", "agree_peak_evidence"),
    "peak_area": ("auroc_peak_area", "agree_peak_area"),
}
"""Result fields (catalog names) of each validity metric: its AUROC and its agreement."""


def rounded(value: float | None) -> float | None:
    """A number as written: rounded to DECIMALS, None when undefined."""
    return None if value is None or not np.isfinite(value) else round(float(value), DECIMALS)


def _nan(value: float | None) -> float:
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
    loss_mean: list[float] | None = None
    """Audio: the per-frame mean over codebooks."""
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


def _loss(line: SampleLine) -> np.ndarray:
    return np.asarray(line.loss, dtype=np.float64)


def _seconds(line: SampleLine) -> np.ndarray:
    return np.array([np.nan if s is None else s for s in line.seconds], dtype=np.float64)


def loss_on_grid(line: SampleLine, task: TaskConfig) -> np.ndarray:
    """An item's surprisal per step of the task's grid (sum of its tokens' losses; audio: the
    frame means), the curve the reference-free score reads."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    return to_grid_sum(frame_loss(_loss(line)), _seconds(line), n_bins, task.grid_hz)


def item_stats(line: SampleLine, task: TaskConfig) -> ItemStats:
    """Numbers of one scored item, from its ``loss``, ``seconds`` and ``duration_s``."""
    loss = _loss(line)
    frames = frame_loss(loss)
    per_second = rounded(frames.sum() / line.duration_s) if line.duration_s else None
    audio = loss.ndim == 2
    return ItemStats(
        abs_loss=rounded(frames.mean()),
        perplexity=rounded(np.exp(frames.mean())),
        shape_score=rounded(spike_score(frames)),
        nats_per_second=per_second,
        change_score=rounded(change_score(loss_on_grid(line, task), task.grid_hz)),
        loss_mean=frames.tolist() if audio else None,
        abs_loss_per_codebook=[rounded(v) for v in loss.mean(axis=1)] if audio else None,
    )


def pair_delta(original: SampleLine, perturbed: SampleLine, task: TaskConfig) -> np.ndarray:
    """Δℓ of a pair on the task's time grid (the task's ``alignment``: surprisal sums per step
    by default; token by token first when the perturbation keeps token count and timing),
    smoothed when the task asks."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    orig, pert = frame_loss(_loss(original)), frame_loss(_loss(perturbed))
    keeps = perturbed.record is not None and perturbed.record.preserves_tokens
    delta = grid_delta(
        orig,
        _seconds(original),
        pert,
        _seconds(perturbed),
        n_bins,
        task.grid_hz,
        mode=task.alignment,
        by_index=keeps and len(orig) == len(pert),
    )
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


@dataclass
class GroupMetrics:
    """The torchmetrics of one (task, dataset) group."""

    task: TaskConfig
    role: str
    paired: PairedLoss = field(default_factory=PairedLoss)
    regions: RegionMeans = field(default_factory=RegionMeans)
    features: CurveFeatureMeans = field(default_factory=CurveFeatureMeans)
    validity: list[PairScores] = field(default_factory=list)
    """Every pair's scores by each validity metric."""
    lengths: LengthCorrelation = field(default_factory=LengthCorrelation)
    length_means: LengthMeanCorrelation = field(default_factory=LengthMeanCorrelation)
    types: tuple[str, ...] = ()
    """Token types met in the group (typed tokenizers), for the by-type losses."""
    per_second: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    """Keyed by "is the item an original"."""
    shape_scores: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    codebooks: dict[bool, list[list[float]]] = field(default_factory=lambda: {True: [], False: []})
    curve: MeanCurve = field(init=False)
    by_type: dict[bool, LossByType] = field(init=False)
    region_by_type: dict[bool, RegionLossByType] = field(init=False)

    def __post_init__(self) -> None:
        self.curve = MeanCurve(grid_bins(self.task.clip_seconds, self.task.grid_hz))
        self.by_type = {o: LossByType(self.types) for o in (True, False)}
        self.region_by_type = {o: RegionLossByType(self.types) for o in (True, False)}

    def add_item(self, stats: ItemStats, original: bool, line: SampleLine) -> None:
        """One original (once) or perturbed copy."""
        if self.types and line.types is not None:
            self.by_type[original].update(loss_by_type(_loss(line), line.types))
        if stats.nats_per_second is not None:
            self.per_second[original].append(stats.nats_per_second)
        if stats.shape_score is not None:
            self.shape_scores[original].append(stats.shape_score)
        if stats.abs_loss_per_codebook is not None:
            self.codebooks[original].append(stats.abs_loss_per_codebook)

    def add_pair(
        self, original: ItemStats, perturbed: ItemStats, new_original: bool, line: SampleLine
    ) -> None:
        """One (original, perturbed) pair."""
        self.paired.update(original.abs_loss, perturbed.abs_loss, new_original)
        if line.record is not None and line.record.duration_s is not None:
            duration = torch.tensor([line.record.duration_s])
            delta = torch.tensor([perturbed.abs_loss - original.abs_loss])
            self.lengths.update(duration, delta)
            self.length_means.update(duration, delta)

    def add_shape(
        self,
        delta: np.ndarray,
        shape: PairShape | None,
        original: SampleLine,
        perturbed: SampleLine,
    ) -> None:
        """One pair's Δℓ curve, its regions and features, and the loss by token type of each
        side's tokens inside the regions."""
        self.curve.update(delta)
        if shape is None:
            return
        self.regions.update({k: _nan(v) for k, v in shape.regions.items()})
        self.features.update({k: _nan(v) for k, v in shape.features.items()})
        if self.types and shape.bounds is not None and original.types and perturbed.types:
            for side, line in ((True, original), (False, perturbed)):
                totals = loss_by_type_in_regions(
                    frame_loss(_loss(line)),
                    line.types,
                    _seconds(line),
                    shape.bounds,
                    self.task.grid_hz,
                )
                self.region_by_type[side].update(totals)

    def result(self) -> DatasetResult:
        out: dict = self.paired.compute()
        out["n_originals"] = int(self.paired.n_originals)
        if out["abs_loss_original"] is not None:
            out["perplexity_original"] = float(np.exp(out["abs_loss_original"]))
            out["perplexity_perturbed"] = float(np.exp(out["abs_loss_perturbed"]))
        out["abs_loss_original_per_codebook"] = _column_means(self.codebooks[True])
        out["abs_loss_perturbed_per_codebook"] = _column_means(self.codebooks[False])
        out["nats_per_second_original"] = _mean(self.per_second[True])
        out["nats_per_second_perturbed"] = _mean(self.per_second[False])
        out["shape_score_original"] = _mean(self.shape_scores[True])
        out["shape_score_perturbed"] = _mean(self.shape_scores[False])
        if self.validity:
            (row,) = validity_table(self.validity, VALIDITY_METRICS).rows
            for m in row.metrics:
                auroc, agree = VALIDITY_FIELDS[m.metric]
                out[auroc], out[auroc + "_ci"] = _estimate(m.auroc)
                out[agree], out[agree + "_ci"] = _estimate(m.agreement)
        if self.task.regions:
            out.update(self.regions.compute())
            out.update(self.features.compute())
        if "duration" in self.task.swept():
            r = self.lengths.compute()
            out["length_delta_pearson"] = r["pearson"]
            out["length_delta_spearman"] = r["spearman"]
            r = self.length_means.compute()
            out["length_delta_pearson_means"] = r["pearson"]
            out["length_delta_spearman_means"] = r["spearman"]
        if self.types:
            out["abs_loss_by_type_original"] = _rounded_map(self.by_type[True].compute())
            out["abs_loss_by_type_perturbed"] = _rounded_map(self.by_type[False].compute())
            if self.task.regions:
                for side, name in ((True, "original"), (False, "perturbed")):
                    per_region = self.region_by_type[side].compute()
                    out[f"region_loss_by_type_{name}"] = {
                        region: _rounded_map(means) for region, means in per_region.items()
                    }
        return DatasetResult(role=self.role, **out)

    def mean_curve(self) -> list[float | None]:
        return [rounded(v) for v in self.curve.compute().numpy()]


def _rounded_map(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: rounded(v) for k, v in values.items()}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _column_means(rows: list[list[float]]) -> list[float] | None:
    return [float(v) for v in np.mean(rows, axis=0)] if rows else None


def _estimate(e) -> tuple[float | None, list[float] | None]:
    """A clustered estimate as a value and its [low, high] interval."""
    if e.value is None:
        return None, None
    return e.value, None if e.ci_low is None else [e.ci_low, e.ci_high]


def pair_scores(
    family: str, original: SampleLine, stats: tuple[ItemStats, ItemStats], shape: PairShape | None
) -> PairScores:
    """One pair's scores by every validity metric (NaN where a metric has none)."""
    o, p = stats
    scores = {
        "abs_loss": (_nan(o.abs_loss), _nan(p.abs_loss)),
        "nats_per_second": (_nan(o.nats_per_second), _nan(p.nats_per_second)),
        "shape": (_nan(o.shape_score), _nan(p.shape_score)),
        "change": (_nan(o.change_score), _nan(p.change_score)),
    }
    for name in ("peak_evidence", "peak_area"):
        both = shape.detectors[name] if shape is not None else [None, None]
        scores[name] = (_nan(both[0]), _nan(both[1]))
    cluster = f"{original.dataset}/{original.piece_id}"
    return PairScores(family, original.role, cluster, scores)


Results = dict[str, dict[str, DatasetResult]]
Curves = dict[str, dict[str, list[float | None]]]


@dataclass
class Analysis:
    """Everything computed from a run's samples lines."""

    results: Results
    """results[task][dataset]: the aggregates."""
    curves: Curves
    """curves[task][dataset]: mean Δℓ per grid step."""
    items: list[ItemStats]
    """The derived numbers of each line, in the lines' order."""
    shapes: dict[int, PairShape]
    """Line index → regions and features, for perturbed lines that have them."""
    validity: ValidityTable | None = None
    """Every metric against the truth, per perturbation family and dataset role, pooled."""

    def annotated(self, lines: list[SampleLine]) -> list[SampleLine]:
        """The lines with their derived numbers filled in."""
        out = []
        for i, (line, stats) in enumerate(zip(lines, self.items, strict=True)):
            update = dict(stats.__dict__)
            shape = self.shapes.get(i)
            if shape is not None:
                update |= {
                    "regions": shape.regions,
                    "features": shape.features,
                    "detectors": shape.detectors,
                }
            out.append(line.model_copy(update=update))
        return out


def analyse(lines: Iterable[SampleLine], tasks: list[TaskConfig]) -> Analysis:
    """Every aggregate of a run, and each line's derived numbers, from the raw fields of its
    samples lines (the derived numbers in the lines are not read).

    The run computes its results with this function, so a submission's results.json must
    equal what this gives for its samples file.
    """
    lines = list(lines)
    by_name = {t.name: t for t in tasks}
    items = [item_stats(line, by_name[line.task]) for line in lines]
    everything: list[PairScores] = []
    groups: dict[tuple[str, str], list[int]] = {}
    for i, line in enumerate(lines):
        groups.setdefault((line.task, line.dataset), []).append(i)
    results: Results = {}
    curves: Curves = {}
    shapes: dict[int, PairShape] = {}
    for (task_name, dataset), indices in groups.items():
        task = by_name[task_name]
        types = sorted({t for i in indices for t in (lines[i].types or ())})
        metrics = GroupMetrics(task, lines[indices[0]].role, types=tuple(types))
        originals: dict[str, int] = {}
        counted: set[str] = set()
        for i in indices:
            line = lines[i]
            if line.is_original:
                originals[line.piece_id] = i
                continue
            o = originals[line.piece_id]
            new_original = line.piece_id not in counted
            if new_original:
                counted.add(line.piece_id)
                metrics.add_item(items[o], True, lines[o])
            metrics.add_item(items[i], False, line)
            metrics.add_pair(items[o], items[i], new_original, line)
            delta = pair_delta(lines[o], line, task)
            shape = pair_shape(delta, lines[o], line, task)
            metrics.add_shape(delta, shape, lines[o], line)
            if shape is not None:
                shapes[i] = shape
            scores = pair_scores(task_name, lines[o], (items[o], items[i]), shape)
            metrics.validity.append(scores)
            family = line.record.kind if line.record is not None else task_name
            everything.append(replace(scores, family=family))
        results.setdefault(task_name, {})[dataset] = metrics.result()
        curves.setdefault(task_name, {})[dataset] = metrics.mean_curve()
    table = validity_table(everything, VALIDITY_METRICS) if everything else None
    return Analysis(results, curves, items, shapes, table)
