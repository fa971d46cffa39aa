"""One (task, dataset) group's table of items and pairs, fed pair by pair, and its aggregates
(pure functions of the table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curvebench.benchmark.derived import (
    ItemStats,
    PairShape,
    as_float,
    frame_loss,
    line_loss,
    line_seconds,
    rounded,
    validity_specs,
)
from curvebench.benchmark.results import DatasetResult
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.absolute import paired_loss
from curvebench.metrics.agreement import length_correlation, length_mean_correlation
from curvebench.metrics.alignment import grid_bins
from curvebench.metrics.mean_ci import clustered_mean_ci
from curvebench.metrics.means import named_means, nan_means
from curvebench.metrics.regions import REGION_NAMES
from curvebench.metrics.registry import item_metrics, validity_metrics
from curvebench.metrics.shape import FEATURE_NAMES
from curvebench.metrics.token_types import (
    TypeTotals,
    loss_by_type,
    loss_by_type_in_regions,
    region_type_means,
    type_means,
)
from curvebench.metrics.validity import PairScores, validity_table
from curvebench.tasks import TaskConfig


@dataclass
class GroupMetrics:
    """One (task, dataset) group's table of items and pairs, filled pair by pair; its
    aggregates are pure functions of the table (:meth:`result`)."""

    task: TaskConfig
    role: str
    types: tuple[str, ...] = ()
    """Token types met in the group (typed tokenizers), for the by-type losses."""
    validity: list[PairScores] = field(default_factory=list)
    """Every pair's scores by each validity metric."""
    losses: list[tuple[float, float, bool]] = field(default_factory=list)
    """(original's absolute loss, perturbed copy's, first copy of its original) per pair."""
    per_original: list[tuple[str, float, float]] = field(default_factory=list)
    """(cluster, absolute loss, nats/s) of each original, for the intervals of the means."""
    per_pair: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    """(cluster, {field: value}) of each pair, for the intervals of the means over pairs."""
    lengths: list[tuple[float, float]] = field(default_factory=list)
    """(perturbation's duration, Δ absolute loss) of each pair with a duration."""
    per_second: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})
    """Keyed by "is the item an original"."""
    scores: dict[tuple[str, bool], list[float]] = field(default_factory=dict)
    """(item metric's field, is the item an original) → its defined scores, for the means the
    metric asks for."""
    codebooks: dict[bool, list[list[float]]] = field(default_factory=lambda: {True: [], False: []})
    curves: list[np.ndarray] = field(default_factory=list)
    """Each pair's Δℓ on the task's grid."""
    regions: list[dict[str, float]] = field(default_factory=list)
    features: list[dict[str, float]] = field(default_factory=list)
    by_type: dict[bool, list[TypeTotals]] = field(default_factory=lambda: {True: [], False: []})
    region_by_type: dict[bool, list[dict[str, TypeTotals]]] = field(
        default_factory=lambda: {True: [], False: []}
    )

    def add_item(self, stats: ItemStats, original: bool, line: SampleLine) -> None:
        """One original (once) or perturbed copy."""
        if self.types and line.types is not None:
            self.by_type[original].append(loss_by_type(line_loss(line), line.types))
        if stats.nats_per_second is not None:
            self.per_second[original].append(stats.nats_per_second)
        for m in item_metrics():
            if m.means and stats.scores.get(m.line_field) is not None:
                self.scores.setdefault((m.line_field, original), []).append(
                    stats.scores[m.line_field]
                )
        if stats.abs_loss_per_codebook is not None:
            self.codebooks[original].append(stats.abs_loss_per_codebook)

    def add_pair(
        self, original: ItemStats, perturbed: ItemStats, new_original: bool, line: SampleLine
    ) -> None:
        """One (original, perturbed) pair."""
        self.losses.append((original.abs_loss, perturbed.abs_loss, new_original))
        cluster = f"{line.dataset}/{line.piece_id}"
        if new_original:
            self.per_original.append(
                (cluster, as_float(original.abs_loss), as_float(original.nats_per_second))
            )
        delta = as_float(perturbed.abs_loss) - as_float(original.abs_loss)
        per_second = as_float(perturbed.nats_per_second) - as_float(original.nats_per_second)
        values = {
            "abs_loss_delta": delta,
            "frac_loss_lowered": float(delta < 0),
            "nats_per_second_delta": per_second,
        }
        self.per_pair.append((cluster, values))
        if line.record is not None and line.record.duration_s is not None:
            self.lengths.append((line.record.duration_s, delta))

    def add_shape(
        self,
        delta: np.ndarray,
        shape: PairShape | None,
        original: SampleLine,
        perturbed: SampleLine,
    ) -> None:
        """One pair's Δℓ curve, its regions and features, and the loss by token type of each
        side's tokens inside the regions."""
        self.curves.append(np.asarray(delta, dtype=np.float64))
        if shape is None:
            return
        self.regions.append({k: as_float(v) for k, v in shape.regions.items()})
        self.per_pair[-1][1].update({f"region_{k}": as_float(v) for k, v in shape.regions.items()})
        self.features.append({k: as_float(v) for k, v in shape.features.items()})
        if self.types and shape.bounds is not None and original.types and perturbed.types:
            for side, line in ((True, original), (False, perturbed)):
                totals = loss_by_type_in_regions(
                    frame_loss(line_loss(line)),
                    line.types,
                    line_seconds(line),
                    shape.bounds,
                    self.task.grid_hz,
                )
                self.region_by_type[side].append(totals)

    def result(self) -> DatasetResult:
        out: dict = paired_loss(self.losses)
        if out["abs_loss_original"] is not None:
            out["perplexity_original"] = float(np.exp(out["abs_loss_original"]))
            out["perplexity_perturbed"] = float(np.exp(out["abs_loss_perturbed"]))
        out["abs_loss_original_per_codebook"] = _column_means(self.codebooks[True])
        out["abs_loss_perturbed_per_codebook"] = _column_means(self.codebooks[False])
        out["nats_per_second_original"] = _mean(self.per_second[True])
        out["nats_per_second_perturbed"] = _mean(self.per_second[False])
        if out["nats_per_second_original"] is not None:
            out["bits_per_second_original"] = out["nats_per_second_original"] / np.log(2)
        out |= self._intervals()
        for m in item_metrics():
            if m.means:
                for original, side in ((True, "original"), (False, "perturbed")):
                    out[f"{m.line_field}_{side}"] = _mean(
                        self.scores.get((m.line_field, original), [])
                    )
        if self.validity:
            (row,) = validity_table(self.validity, validity_specs()).rows
            declared = {m.name: m for m in validity_metrics()}
            for m in row.metrics:
                auroc, agree = declared[m.metric].auroc_field, declared[m.metric].agree_field
                out[auroc], out[auroc + "_ci"] = _estimate(m.auroc)
                out[agree], out[agree + "_ci"] = _estimate(m.agreement)
        if self.task.regions:
            out.update(named_means(self.regions, REGION_NAMES, "region_"))
            out.update(named_means(self.features, FEATURE_NAMES, "shape_"))
        if "duration" in self.task.swept():
            durations, deltas = np.array(self.lengths, dtype=np.float64).reshape(-1, 2).T
            r = length_correlation(durations, deltas)
            out["length_delta_pearson"] = r["pearson"]
            out["length_delta_spearman"] = r["spearman"]
            r = length_mean_correlation(durations, deltas)
            out["length_delta_pearson_means"] = r["pearson"]
            out["length_delta_spearman_means"] = r["spearman"]
            out.update(long_noise(durations, deltas))
        if self.types:
            for side, name in ((True, "original"), (False, "perturbed")):
                means = type_means(self.by_type[side], self.types)
                out[f"abs_loss_by_type_{name}"] = _rounded_map(means)
            if self.task.regions:
                for side, name in ((True, "original"), (False, "perturbed")):
                    per_region = region_type_means(self.region_by_type[side], self.types)
                    out[f"region_loss_by_type_{name}"] = {
                        region: _rounded_map(means) for region, means in per_region.items()
                    }
        return DatasetResult(role=self.role, **out)

    def _intervals(self) -> dict[str, object]:
        """Means over pairs not kept elsewhere, and the clustered 95% interval of every mean
        shown with one (originals resampled with all their copies)."""
        out: dict[str, object] = {}
        clusters = [c for c, _, _ in self.per_original]
        loss_ci = clustered_mean_ci([a for _, a, _ in self.per_original], clusters)
        second_ci = clustered_mean_ci([n for _, _, n in self.per_original], clusters)
        out["abs_loss_original_ci"] = loss_ci
        out["nats_per_second_original_ci"] = second_ci
        out["bits_per_second_original_ci"] = (
            None if second_ci is None else [v / np.log(2) for v in second_ci]
        )
        pair_clusters = [c for c, _ in self.per_pair]
        names = dict.fromkeys(k for _, values in self.per_pair for k in values)
        for name in names:
            column = [values.get(name, float("nan")) for _, values in self.per_pair]
            if name == "nats_per_second_delta":
                finite = [v for v in column if np.isfinite(v)]
                out[name] = float(np.mean(finite)) if finite else None
            out[name + "_ci"] = clustered_mean_ci(column, pair_clusters)
        return out

    def mean_curve(self) -> list[float | None]:
        """Mean Δℓ per grid step over pairs, masked steps left out (the paper's Figure 1)."""
        n_bins = grid_bins(self.task.clip_seconds, self.task.grid_hz)
        return [rounded(v) for v in nan_means(self.curves, n_bins)]


def _rounded_map(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: rounded(v) for k, v in values.items()}


LONG_NOISE_S = (1.0, 4.0)
"""Noise lengths the paper's Figure 4 pools: 50 to 200 tokens at 50 Hz, 1 to 4 s."""


def long_noise(durations: np.ndarray, deltas: np.ndarray) -> dict[str, float | None]:
    """The paper's Figure-4 pooling of a length sweep: the mean Δ absolute loss over pairs
    whose noise lasts 1 to 4 s (50 to 200 frames at 50 Hz), the fraction of them whose loss
    the noise lowered, and how many there are."""
    low, high = LONG_NOISE_S
    keep = (durations >= low - 1e-9) & (durations <= high + 1e-9) & np.isfinite(deltas)
    if not keep.any():
        return {"long_noise_delta": None, "long_noise_frac_lowered": None, "long_noise_pairs": 0}
    return {
        "long_noise_delta": float(deltas[keep].mean()),
        "long_noise_frac_lowered": float((deltas[keep] < 0).mean()),
        "long_noise_pairs": int(keep.sum()),
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _column_means(rows: list[list[float]]) -> list[float] | None:
    return [float(v) for v in np.mean(rows, axis=0)] if rows else None


def _estimate(e) -> tuple[float | None, list[float] | None]:
    """A clustered estimate as a value and its [low, high] interval."""
    if e.value is None:
        return None, None
    return e.value, None if e.ci_low is None else [e.ci_low, e.ci_high]
