"""From samples lines to per-dataset metrics: every per-item and per-pair number computed once.

:func:`analyse` reads only the raw fields of the lines (losses, seconds, durations and
perturbation records) and gives the aggregates, the mean Δℓ curves and each line's derived
numbers. A run fills those numbers into its lines before writing them; a submission check
recomputes them from the lines it was given and compares, so everything can be recomputed from
samples.jsonl.gz alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from curvebench.benchmark.derived import (
    DECIMALS,
    ItemStats,
    PairShape,
    item_stats,
    pair_delta,
    pair_scores,
    pair_shape,
    rounded,
    validity_specs,
)
from curvebench.benchmark.group import GroupMetrics
from curvebench.benchmark.results import DatasetResult, SkippedItem
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.validity import PairScores, ValidityTable, validity_table
from curvebench.tasks import TaskConfig

__all__ = ["DECIMALS", "Analysis", "analyse", "pair_delta", "rounded"]

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
            update = stats.line_fields()
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
    table = validity_table(everything, validity_specs()) if everything else None
    return Analysis(results, curves, items, shapes, table)


def with_empty_groups(
    results: Results,
    tasks: list[TaskConfig],
    datasets: list[tuple[str, str]],
    skipped: list[SkippedItem],
) -> Results:
    """``results`` with every (task, dataset) the run asked for (each task on the datasets of
    its roles), in dataset order: a group with no scored pair is kept with n = 0 and a note
    saying why (its items skipped: how many and the first reason; or no pieces)."""
    out: Results = {}
    for task in tasks:
        have = results.get(task.name, {})
        per_dataset: dict[str, DatasetResult] = {}
        for name, role in datasets:
            if name in have:
                per_dataset[name] = have[name]
            elif role in task.roles:
                per_dataset[name] = DatasetResult(
                    role=role, n_pairs=0, n_originals=0, note=_why_empty(task, name, skipped)
                )
        per_dataset |= {k: v for k, v in have.items() if k not in per_dataset}
        if per_dataset:
            out[task.name] = per_dataset
    return out | {k: v for k, v in results.items() if k not in out}


def _why_empty(task: TaskConfig, dataset: str, skipped: list[SkippedItem]) -> str:
    mine = [s for s in skipped if s.dataset == dataset and s.task in (task.name, None)]
    if not mine:
        return "no pieces to score"
    pieces = len({s.piece for s in mine})
    return f"every item skipped ({pieces} piece{'s' * (pieces != 1)}); first: {mine[0].reason}"
