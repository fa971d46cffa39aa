"""Compare models across runs: each metric's ranking of the models, and Kendall τ between them.

A metric "ranks" models from best to worst: lower absolute loss on original music is better;
for the metrics that measure whether a model notices corruption (AUROC, agreement, the
peak-region Δℓ), higher is better. Kendall τ between two rankings says whether absolute loss and
curve shape order the models the same way (+1), oppositely (−1) or unrelatedly (≈0).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from curvebench.benchmark.results import Results
from curvebench.metrics.agreement import kendall_tau

RANK_METRICS: dict[str, int] = {
    "abs_loss_original": -1,
    "auroc_abs_loss": 1,
    "agree_abs_loss": 1,
    "auroc_shape": 1,
    "agree_shape": 1,
    "region_peak": 1,
}
"""Metric name to direction: +1 when higher is better, −1 when lower is better."""


@dataclass(frozen=True)
class Comparison:
    """Values and rank agreement of the metrics over models, for one task and dataset."""

    task: str
    dataset: str
    values: dict[str, dict[str, float]]
    """metric → model → value (models missing the metric left out)."""
    taus: dict[tuple[str, str], float]
    """(metric a, metric b) → Kendall τ between their rankings (NaN with < 2 common models)."""


def model_label(results: Results) -> str:
    """A model's display name: spec plus a short fingerprint."""
    return f"{results.model.spec} ({results.model.fingerprint[:8]})"


def compare(runs: list[Results]) -> list[Comparison]:
    """Every (task, dataset) that at least two runs share, with its metric rankings."""
    keys = sorted({(t, d) for r in runs for t, per in r.results.items() for d in per})
    out = []
    for task, dataset in keys:
        values: dict[str, dict[str, float]] = {m: {} for m in RANK_METRICS}
        for run in runs:
            result = run.results.get(task, {}).get(dataset)
            if result is None:
                continue
            for metric in RANK_METRICS:
                value = getattr(result, metric)
                if value is not None:
                    values[metric][model_label(run)] = value
        if max(len(v) for v in values.values()) < 2:
            continue
        oriented = {
            m: {k: RANK_METRICS[m] * v for k, v in vals.items()} for m, vals in values.items()
        }
        taus = {
            (a, b): kendall_tau(oriented[a], oriented[b]) for a, b in combinations(RANK_METRICS, 2)
        }
        out.append(Comparison(task, dataset, values, taus))
    return out
