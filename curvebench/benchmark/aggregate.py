"""From scored sequences to per-dataset metrics, writing one samples line per scored item.

Every aggregate is computed from the rounded numbers written to samples.jsonl.gz, so it can be
recomputed from that file alone.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
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

    def add_item(self, kind: str, stats: dict) -> None:
        """One original (once) or perturbed copy, from its :func:`item_stats`."""
        label = torch.tensor([float(kind == "perturbed")])
        self.auroc_abs.update(torch.tensor([stats["abs_loss"]]), label)
        self.auroc_shape.update(torch.tensor([_nan(stats["shape_score"])]), label)
        if stats["nats_per_second"] is not None:
            self.per_second[kind].append(stats["nats_per_second"])
        if stats["shape_score"] is not None:
            self.shape_scores[kind].append(stats["shape_score"])
        if "abs_loss_per_codebook" in stats:
            self.codebooks[kind].append(np.array(stats["abs_loss_per_codebook"]))

    def add_pair(self, original: dict, perturbed: dict, new_original: bool) -> None:
        """One (original, perturbed) pair of :func:`item_stats`."""
        self.paired.update(original["abs_loss"], perturbed["abs_loss"], new_original)
        self.agree_abs.update(
            torch.tensor([original["abs_loss"]]), torch.tensor([perturbed["abs_loss"]])
        )
        self.agree_shape.update(
            torch.tensor([_nan(original["shape_score"])]),
            torch.tensor([_nan(perturbed["shape_score"])]),
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


def item_stats(line: dict) -> dict:
    """Numbers of one scored item, from its samples line's ``loss`` and ``duration_s``."""
    loss = np.asarray(line["loss"], dtype=np.float64)
    frames = frame_loss(loss)
    duration = line.get("duration_s")
    stats = {
        "abs_loss": _round(frames.mean()),
        "perplexity": _round(np.exp(frames.mean())),
        "shape_score": _round(spike_score(frames)),
        "nats_per_second": _round(frames.sum() / duration) if duration else None,
    }
    if loss.ndim == 2:  # audio: the frame mean the metrics use, and each codebook's mean
        stats["loss_mean"] = frames.tolist()
        stats["abs_loss_per_codebook"] = [_round(v) for v in loss.mean(axis=1)]
    return stats


def pair_delta(original: dict, perturbed: dict, task: TaskConfig) -> np.ndarray:
    """Δℓ of a pair on the task's time grid (token by token first when the perturbation keeps
    token count and timing), smoothed when the task asks."""
    n_bins = grid_bins(task.clip_seconds, task.grid_hz)
    orig = frame_loss(np.asarray(original["loss"], dtype=np.float64))
    pert = frame_loss(np.asarray(perturbed["loss"], dtype=np.float64))
    orig_sec = np.asarray(original["seconds"], dtype=np.float64)
    if perturbed["record"]["preserves_tokens"] and len(orig) == len(pert):
        # token by token, then onto the time grid (the same tokens share each bin)
        delta = to_grid(delta_by_index(orig, pert), orig_sec, n_bins, task.grid_hz)
    else:
        pert_sec = np.asarray(perturbed["seconds"], dtype=np.float64)
        delta = delta_on_grid((orig, orig_sec), (pert, pert_sec), n_bins, task.grid_hz)
    if task.smooth_steps > 1:
        delta = nan_moving_average(delta, task.smooth_steps)
    return delta


def pair_shape(delta: np.ndarray, record: dict, task: TaskConfig) -> dict | None:
    """The paper's region means and the robust curve features of a pair, rounded; None when
    the task reports no regions or the perturbation has no onset."""
    if not task.regions or record["onset_s"] is None:
        return None
    onset = round(record["onset_s"] * task.grid_hz)
    length = round((record["duration_s"] or 0.0) * task.grid_hz)
    means = region_means(delta, onset, length)
    features = curve_features(delta, onset, length, task.grid_hz)
    return {
        "regions": {k: _round(v) for k, v in means.items()},
        "features": {k: _round(v) for k, v in features.items()},
    }


def _line(pair: Pair, variant: str, key: str, plan: Plan, loss: np.ndarray) -> dict:
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
        "loss": loss.tolist(),
        "seconds": [round(float(s), 4) for s in encoded.target_seconds],
    }
    line.update(item_stats(line))
    return line


def sample_lines(
    plan: Plan, tasks: list[TaskConfig], datasets: list[str], loss_of: dict[str, np.ndarray]
) -> Iterator[dict]:
    """One line per scored item, task by task and dataset by dataset (in ``datasets`` order):
    each original once, then its perturbed copies with their record, regions and features."""
    groups: dict[tuple[str, str], list[Pair]] = {}
    for pair in plan.pairs:
        groups.setdefault((pair.task, pair.dataset), []).append(pair)
    for task in tasks:
        for name in datasets:
            originals: dict[str, dict] = {}
            for pair in groups.get((task.name, name), []):
                if pair.piece_id not in originals:
                    line = _line(pair, "original", pair.original, plan, loss_of[pair.original])
                    originals[pair.piece_id] = line
                    yield line
                line = _line(pair, pair.variant, pair.perturbed, plan, loss_of[pair.perturbed])
                line["record"] = pair.record.__dict__
                shape = pair_shape(
                    pair_delta(originals[pair.piece_id], line, task), line["record"], task
                )
                if shape:
                    line.update(shape)
                yield line


def results_from_samples(
    lines: Iterable[dict], tasks: list[TaskConfig]
) -> tuple[dict[str, dict[str, DatasetResult]], dict[str, dict[str, list[float | None]]]]:
    """Every aggregate of a run, recomputed from its samples lines alone (raw losses, seconds,
    durations and perturbation records; the derived numbers in the lines are not trusted).

    The run itself computes its results with this function, so a submission's results.json
    must equal what this gives for its samples file.
    """
    by_name = {t.name: t for t in tasks}
    groups: dict[tuple[str, str], list[dict]] = {}
    for line in lines:
        groups.setdefault((line["task"], line["dataset"]), []).append(line)
    results: dict[str, dict[str, DatasetResult]] = {}
    curves: dict[str, dict[str, list[float | None]]] = {}
    for (task_name, dataset), group in groups.items():
        task = by_name[task_name]
        metrics = GroupMetrics(grid_bins(task.clip_seconds, task.grid_hz))
        originals: dict[str, tuple[dict, dict]] = {}
        counted: set[str] = set()
        for line in group:
            if line["variant"] == "original":
                stats = item_stats(line)
                originals[line["piece_id"]] = (line, stats)
                continue
            original, orig_stats = originals[line["piece_id"]]
            new_original = line["piece_id"] not in counted
            if new_original:
                counted.add(line["piece_id"])
                metrics.add_item("original", orig_stats)
            stats = item_stats(line)
            metrics.add_item("perturbed", stats)
            metrics.add_pair(orig_stats, stats, new_original)
            record = line["record"]
            if record["duration_s"] is not None:
                metrics.lengths.update(
                    torch.tensor([record["duration_s"]]),
                    torch.tensor([stats["abs_loss"] - orig_stats["abs_loss"]]),
                )
            delta = pair_delta(original, line, task)
            metrics.curve.update(delta)
            shape = pair_shape(delta, record, task)
            if shape:
                metrics.regions.update({k: _nan(v) for k, v in shape["regions"].items()})
                metrics.features.update({k: _nan(v) for k, v in shape["features"].items()})
        results.setdefault(task_name, {})[dataset] = metrics.result(task, group[0]["role"])
        curves.setdefault(task_name, {})[dataset] = metrics.mean_curve()
    return results, curves


def write_samples(lines: Iterable[dict], path: Path) -> list[dict]:
    """Write lines as gzip JSON lines (no timestamp in the header, so bytes are reproducible)
    and return them as read back: JSON round trip included, as any verifier will see them."""
    out = []
    tmp = path.with_suffix(".tmp")  # written whole, then renamed: never half a file
    with gzip.GzipFile(tmp, "wb", mtime=0) as raw:
        for line in lines:
            text = json.dumps(line)
            raw.write((text + "\n").encode())
            out.append(json.loads(text))
    tmp.replace(path)
    return out
