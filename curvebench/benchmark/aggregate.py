"""From scored sequences to per-dataset metrics, writing one samples line per scored item.

Every aggregate is computed from the rounded numbers written to samples.jsonl.gz, so it can be
recomputed from that file alone.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from curvebench.benchmark.plan import Pair, Plan
from curvebench.benchmark.results import DatasetResult
from curvebench.metrics.absolute import PairedLoss
from curvebench.metrics.agreement import AUROCWithCI, LengthCorrelation, PairAgreement
from curvebench.metrics.alignment import delta_by_index, delta_on_grid, grid_bins, to_grid
from curvebench.metrics.regions import MeanCurve, RegionMeans, region_means
from curvebench.metrics.shape import CurveFeatureMeans, curve_features, spike_score
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.tasks import TaskConfig

DECIMALS = 5


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), DECIMALS)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


@dataclass
class ItemStats:
    """Per-item numbers, rounded as written to the samples file."""

    abs_loss: float
    shape_score: float | None
    nats_per_second: float | None

    @classmethod
    def of(cls, loss: np.ndarray, duration_s: float | None) -> ItemStats:
        per_second = loss.sum() / duration_s if duration_s else float("nan")
        return cls(_round(loss.mean()), _round(spike_score(loss)), _round(per_second))


@dataclass
class GroupMetrics:
    """The torchmetrics of one (task, dataset) group."""

    n_bins: int
    paired: PairedLoss = field(default_factory=PairedLoss)
    regions: RegionMeans = field(default_factory=RegionMeans)
    features: CurveFeatureMeans = field(default_factory=CurveFeatureMeans)
    auroc_abs: AUROCWithCI = field(default_factory=AUROCWithCI)
    auroc_shape: AUROCWithCI = field(default_factory=AUROCWithCI)
    agree_abs: PairAgreement = field(default_factory=PairAgreement)
    agree_shape: PairAgreement = field(default_factory=PairAgreement)
    lengths: LengthCorrelation = field(default_factory=LengthCorrelation)
    per_second: dict[str, list[float]] = field(
        default_factory=lambda: {"original": [], "perturbed": []}
    )
    shape_scores: dict[str, list[float]] = field(
        default_factory=lambda: {"original": [], "perturbed": []}
    )
    codebooks: dict[str, list[np.ndarray]] = field(
        default_factory=lambda: {"original": [], "perturbed": []}
    )
    curve: MeanCurve = field(init=False)

    def __post_init__(self) -> None:
        self.curve = MeanCurve(self.n_bins)

    def add_item(self, kind: str, stats: ItemStats) -> None:
        label = torch.tensor([float(kind == "perturbed")])
        self.auroc_abs.update(torch.tensor([stats.abs_loss]), label)
        self.auroc_shape.update(torch.tensor([_nan(stats.shape_score)]), label)
        if stats.nats_per_second is not None:
            self.per_second[kind].append(stats.nats_per_second)
        if stats.shape_score is not None:
            self.shape_scores[kind].append(stats.shape_score)

    def add_codebooks(self, kind: str, loss: np.ndarray) -> None:
        """Audio items: keep the item's mean loss of each codebook."""
        if loss.ndim == 2:
            self.codebooks[kind].append(np.round(loss.mean(axis=1), DECIMALS))

    def add_pair(self, original: ItemStats, perturbed: ItemStats, new_original: bool) -> None:
        self.paired.update(original.abs_loss, perturbed.abs_loss, new_original)
        self.agree_abs.update(torch.tensor([original.abs_loss]), torch.tensor([perturbed.abs_loss]))
        self.agree_shape.update(
            torch.tensor([_nan(original.shape_score)]), torch.tensor([_nan(perturbed.shape_score)])
        )

    def result(self, task: TaskConfig, role: str) -> DatasetResult:
        out: dict = self.paired.compute()
        out["n_originals"] = int(self.paired.n_originals)
        if out["abs_loss_original"] is not None:
            out["perplexity_original"] = float(np.exp(out["abs_loss_original"]))
            out["perplexity_perturbed"] = float(np.exp(out["abs_loss_perturbed"]))
        for kind in ("original", "perturbed"):
            if self.codebooks[kind]:
                per_codebook = np.mean(self.codebooks[kind], axis=0)
                out[f"abs_loss_{kind}_per_codebook"] = [float(v) for v in per_codebook]
            values = self.per_second[kind]
            out[f"nats_per_second_{kind}"] = float(np.mean(values)) if values else None
            scores = self.shape_scores[kind]
            out[f"shape_score_{kind}"] = float(np.mean(scores)) if scores else None
        for prefix, metric in (
            ("auroc_abs_loss", self.auroc_abs),
            ("auroc_shape", self.auroc_shape),
        ):
            r = metric.compute()
            out[prefix] = r["auroc"]
            out[f"{prefix}_ci"] = None if r["auroc"] is None else [r["ci_low"], r["ci_high"]]
        for prefix, metric in (
            ("agree_abs_loss", self.agree_abs),
            ("agree_shape", self.agree_shape),
        ):
            r = metric.compute()
            out[prefix] = r["agree"]
            out[f"{prefix}_ci"] = None if r["agree"] is None else [r["ci_low"], r["ci_high"]]
        if task.regions:
            out.update(self.regions.compute())
            out.update(self.features.compute())
        if len({p.duration for p in task.parsed_perturbations() if hasattr(p, "duration")}) > 1:
            r = self.lengths.compute()
            out["length_delta_pearson"] = r["pearson"]
            out["length_delta_spearman"] = r["spearman"]
        return DatasetResult(role=role, **out)

    def mean_curve(self) -> list[float | None]:
        return [_round(v) for v in self.curve.compute().numpy()]


def frame_loss(loss: np.ndarray) -> np.ndarray:
    """Loss per time step: itself for symbolic tokens, the mean over codebooks for audio
    frames (the paper's per-frame loss), rounded as written."""
    return loss if loss.ndim == 1 else np.round(loss.mean(axis=0), DECIMALS)


def _sample_line(
    pair: Pair, variant: str, key: str, plan: Plan, loss: np.ndarray, stats: ItemStats
) -> dict:
    encoded = plan.sequences[key]
    line = {
        "task": pair.task,
        "dataset": pair.dataset,
        "role": pair.role,
        "piece_id": pair.piece_id,
        "variant": variant,
        "key": key,
        "n_tokens": encoded.length,
        "duration_s": _round(encoded.duration_s) if encoded.duration_s else None,
        "abs_loss": stats.abs_loss,
        "perplexity": _round(np.exp(stats.abs_loss)),
        "shape_score": stats.shape_score,
        "nats_per_second": stats.nats_per_second,
        "loss": loss.tolist(),
        "seconds": [round(float(s), 4) for s in encoded.target_seconds],
    }
    if loss.ndim == 2:  # audio: loss[k][t] per codebook, and the frame mean the metrics use
        line["loss_mean"] = frame_loss(loss).tolist()
        line["abs_loss_per_codebook"] = [_round(v) for v in loss.mean(axis=1)]
    return line


def aggregate_group(
    task: TaskConfig,
    role: str,
    pairs: list[Pair],
    plan: Plan,
    loss_of: dict[str, np.ndarray],
    raw: gzip.GzipFile,
) -> tuple[DatasetResult, list[float | None]]:
    """Metrics of one (task, dataset) group; writes its samples lines to ``raw``."""
    metrics = GroupMetrics(grid_bins(task.clip_seconds, task.grid_hz))
    originals: dict[str, ItemStats] = {}
    for pair in pairs:
        orig_full, pert_full = loss_of[pair.original], loss_of[pair.perturbed]
        original, perturbed = frame_loss(orig_full), frame_loss(pert_full)
        orig_enc, pert_enc = plan.sequences[pair.original], plan.sequences[pair.perturbed]
        new_original = pair.piece_id not in originals
        if new_original:
            stats = ItemStats.of(original, orig_enc.duration_s)
            originals[pair.piece_id] = stats
            metrics.add_item("original", stats)
            metrics.add_codebooks("original", orig_full)
            line = _sample_line(pair, "original", pair.original, plan, orig_full, stats)
            raw.write((json.dumps(line) + "\n").encode())
        orig_stats = originals[pair.piece_id]
        pert_stats = ItemStats.of(perturbed, pert_enc.duration_s)
        metrics.add_item("perturbed", pert_stats)
        metrics.add_pair(orig_stats, pert_stats, new_original)
        if pair.record.duration_s is not None:
            metrics.lengths.update(
                torch.tensor([pair.record.duration_s]),
                torch.tensor([pert_stats.abs_loss - orig_stats.abs_loss]),
            )
        if pair.record.preserves_tokens and len(original) == len(perturbed):
            # token by token, then onto the time grid (the same tokens share each bin)
            by_token = delta_by_index(original, perturbed)
            delta = to_grid(by_token, orig_enc.target_seconds, metrics.n_bins, task.grid_hz)
        else:
            delta = delta_on_grid(
                (original, orig_enc.target_seconds),
                (perturbed, pert_enc.target_seconds),
                metrics.n_bins,
                task.grid_hz,
            )
        if task.smooth_steps > 1:
            delta = nan_moving_average(delta, task.smooth_steps)
        metrics.curve.update(delta)
        metrics.add_codebooks("perturbed", pert_full)
        line = _sample_line(pair, pair.variant, pair.perturbed, plan, pert_full, pert_stats)
        line["record"] = pair.record.__dict__
        if task.regions and pair.record.onset_s is not None:
            onset = round(pair.record.onset_s * task.grid_hz)
            length = round((pair.record.duration_s or 0.0) * task.grid_hz)
            means = region_means(delta, onset, length)
            features = curve_features(delta, onset, length, task.grid_hz)
            rounded = {k: _round(v) for k, v in means.items()}
            rounded_features = {k: _round(v) for k, v in features.items()}
            metrics.regions.update({k: _nan(v) for k, v in rounded.items()})
            metrics.features.update({k: _nan(v) for k, v in rounded_features.items()})
            line["regions"], line["features"] = rounded, rounded_features
        raw.write((json.dumps(line) + "\n").encode())
    return metrics.result(task, role), metrics.mean_curve()


def aggregate_and_write(
    plan: Plan,
    tasks: list[TaskConfig],
    datasets: list[tuple[str, str]],
    loss_of: dict[str, np.ndarray],
    samples_path: Path,
) -> tuple[dict[str, dict[str, DatasetResult]], dict[str, dict[str, list[float | None]]]]:
    """Metrics per task and dataset (given as (name, role) in order) and the samples file."""
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in plan.pairs:
        groups.setdefault((pair.task, pair.dataset), []).append(pair)
    results: dict[str, dict[str, DatasetResult]] = {}
    curves: dict[str, dict[str, list[float | None]]] = {}
    with gzip.GzipFile(samples_path, "wb", mtime=0) as raw:
        for task in tasks:
            for name, role in datasets:
                pairs = groups.get((task.name, name))
                if not pairs:
                    continue
                result, curve = aggregate_group(task, role, pairs, plan, loss_of, raw)
                results.setdefault(task.name, {})[name] = result
                curves.setdefault(task.name, {})[name] = curve
    return results, curves
