"""A run as rows: one per (task, dataset) aggregate, one per scored item; plain dicts, or a
pandas DataFrame when pandas is installed. The Python API and W&B's tables read these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.catalog import METRICS, MetricInfo
from curvebench.metrics.regions import REGION_NAMES
from curvebench.metrics.registry import item_metrics

ITEM_COLUMNS = (
    "task",
    "dataset",
    "role",
    "piece_id",
    "variant",
    "n_tokens",
    "duration_s",
    "perplexity",
)
"""Per-item columns taken from a samples line as they are (then each item metric's score)."""


def interval_names(metric: MetricInfo) -> tuple[str, str]:
    """The columns of a metric's 95% interval: ``<name>_ci_low``, ``<name>_ci_high``."""
    return f"{metric.name}_ci_low", f"{metric.name}_ci_high"


def interval_columns(result: Any, metric: MetricInfo) -> dict[str, float | None]:
    """A result's interval of a metric, by :func:`interval_names` (None when it has none)."""
    ci = getattr(result, metric.ci_name, None) or (None, None)
    return dict(zip(interval_names(metric), ci, strict=True))


def result_rows(results: Results) -> list[dict[str, Any]]:
    """One row per (task, dataset): task, dataset, role and every scalar metric, each metric
    with an interval followed by its 95% interval's ends (``<name>_ci_low``, ``_ci_high``)."""
    rows = []
    for task, per_dataset in results.results.items():
        for dataset, r in per_dataset.items():
            row: dict[str, Any] = {"task": task, "dataset": dataset, "role": r.role}
            for m in METRICS.values():
                if m.kind == "list":
                    continue
                row[m.name] = getattr(r, m.name, None)
                if m.interval:
                    row |= interval_columns(r, m)
            rows.append(row)
    return rows


def item_rows(lines: Iterable[SampleLine]) -> list[dict[str, Any]]:
    """One row per scored item: piece, dataset, variant, loss, nats/s and, for perturbed
    copies, the mean Δℓ of each region (None for originals)."""
    rows = []
    for line in lines:
        row = {c: getattr(line, c) for c in ITEM_COLUMNS}
        row |= {m.line_field: getattr(line, m.line_field) for m in item_metrics()}
        regions = line.regions or {}
        row |= {f"region_{r}": regions.get(r) for r in REGION_NAMES}
        rows.append(row)
    return rows


def frame(rows: list[dict[str, Any]]) -> Any:
    """A pandas DataFrame of the rows when pandas is installed, else the rows themselves."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)
