"""A run as rows: one per (task, dataset) aggregate, one per scored item; plain dicts, or a
pandas DataFrame when pandas is installed. The Python API and W&B's tables read these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.catalog import METRICS
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


def result_rows(results: Results) -> list[dict[str, Any]]:
    """One row per (task, dataset): task, dataset, role and every scalar metric."""
    names = [m.name for m in METRICS.values() if m.kind != "list"]
    return [
        {"task": task, "dataset": dataset, "role": r.role}
        | {name: getattr(r, name, None) for name in names}
        for task, per_dataset in results.results.items()
        for dataset, r in per_dataset.items()
    ]


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
