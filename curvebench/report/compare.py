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
from curvebench.metrics.agreement import Interval, kendall_tau, kendall_tau_interval
from curvebench.metrics.catalog import rank_metrics


def rank_directions() -> dict[str, int]:
    """The ranking metrics of the catalog: name to +1 when higher is better, −1 when lower."""
    return {m.name: 1 if m.better == "higher" else -1 for m in rank_metrics()}


@dataclass(frozen=True)
class Comparison:
    """Values and rank agreement of the metrics over models, for one task and dataset."""

    task: str
    dataset: str
    values: dict[str, dict[str, float]]
    """metric → model → value (models missing the metric left out)."""
    taus: dict[tuple[str, str], float]
    """(metric a, metric b) → Kendall τ between their rankings (NaN with < 2 common models)."""
    tau_intervals: dict[tuple[str, str], Interval]
    """(metric a, metric b) → 95% interval of that τ from the models' own intervals
    (:func:`~curvebench.metrics.agreement.kendall_tau_interval`)."""

    def between(self, a: str, b: str) -> tuple[float, Interval]:
        """τ between two metrics' rankings and its interval, in either order."""
        pair = (a, b) if (a, b) in self.taus else (b, a)
        return self.taus.get(pair, float("nan")), self.tau_intervals.get(pair, (None, None))


def model_label(results: Results) -> str:
    """A model's display name: spec plus a short fingerprint."""
    return f"{results.model.spec} ({results.model.fingerprint[:8]})"


def _oriented(
    values: dict[str, float], intervals: dict[str, Interval], sign: int
) -> dict[str, tuple[float, Interval]]:
    """Each model's value and interval, multiplied by ``sign`` (+1: higher is better)."""
    ranked: dict[str, tuple[float, Interval]] = {}
    for k, v in values.items():
        lo, hi = intervals[k]
        if lo is None or hi is None:
            ranked[k] = (sign * v, (None, None))
        else:
            ranked[k] = (sign * v, (min(sign * lo, sign * hi), max(sign * lo, sign * hi)))
    return ranked


def compare(runs: list[Results]) -> list[Comparison]:
    """Every (task, dataset) that at least two runs share, with its metric rankings."""
    keys = sorted({(t, d) for r in runs for t, per in r.results.items() for d in per})
    directions = rank_directions()
    out = []
    for task, dataset in keys:
        values: dict[str, dict[str, float]] = {m: {} for m in directions}
        intervals: dict[str, dict[str, Interval]] = {m: {} for m in directions}
        for run in runs:
            result = run.results.get(task, {}).get(dataset)
            if result is None:
                continue
            for metric in directions:
                value = getattr(result, metric, None)
                if value is not None:
                    values[metric][model_label(run)] = value
                    ci = getattr(result, f"{metric}_ci", None) or (None, None)
                    intervals[metric][model_label(run)] = (ci[0], ci[1])
        if max(len(v) for v in values.values()) < 2:
            continue
        ranked = {m: _oriented(values[m], intervals[m], directions[m]) for m in directions}
        points = {m: {k: v for k, (v, _) in r.items()} for m, r in ranked.items()}
        taus = {(a, b): kendall_tau(points[a], points[b]) for a, b in combinations(directions, 2)}
        tau_intervals = {
            (a, b): kendall_tau_interval(ranked[a], ranked[b])
            for (a, b), tau in taus.items()
            if tau == tau  # NaN: fewer than two models have both
        }
        out.append(Comparison(task, dataset, values, taus, tau_intervals))
    return out
