"""A run's headline numbers as text tables (drawn with rich): one table per task, a row per
headline metric, a column per dataset; every estimate with its 95% interval, n on top, a group
with few pairs marked and a group with none kept, with the reason."""

from __future__ import annotations

import io
import shutil

from rich.console import Console
from rich.table import Table

from curvebench.benchmark.results import DatasetResult, Results
from curvebench.metrics.catalog import MetricInfo, headline_metrics

FEW_PAIRS = 10
"""Below this many pairs a group's estimates are marked: with so few, an AUROC of 1.00 or a
mean says little (its interval, when it has one, says how little)."""


def estimate(metric: MetricInfo, result: DatasetResult) -> str:
    """A metric's value with its 95% interval (``value [low, high]``), "-" when undefined."""
    value = getattr(result, metric.name, None)
    text = metric.format(value)
    ci = getattr(result, metric.ci_name, None) if metric.interval else None
    if value is None or not ci:
        return text
    low, high = (f"{v:.{metric.digits}f}" for v in ci)
    return f"{text} [{low}, {high}]"


def n_text(result: DatasetResult) -> str:
    """The group's pair count, marked when it is below FEW_PAIRS."""
    return f"{result.n_pairs} (few)" if result.n_pairs < FEW_PAIRS else str(result.n_pairs)


def task_table(results: Results, task: str) -> Table:
    """One task's table: a column per dataset, a row per headline metric."""
    per_dataset = results.results[task]
    unit = results.model.loss_unit
    table = Table(
        title=f"{task}  ({results.model.name}; losses in {unit}; Δ, peak/assim/recov: Δℓ; "
        "[95% interval] resampling pieces)",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    for name, r in per_dataset.items():
        table.add_column(f"{name}\n{r.role}", justify="right", no_wrap=True)
    for metric in headline_metrics():
        if metric.name == "n_pairs":
            table.add_row("n pairs", *(n_text(r) for r in per_dataset.values()))
            continue
        table.add_row(metric.header, *(estimate(metric, r) for r in per_dataset.values()))
    return table


def footnotes(results: Results, task: str) -> list[str]:
    """Lines under a task's table: the groups with no pair (and why) or few pairs."""
    out = []
    for name, r in results.results[task].items():
        if r.n_pairs == 0:
            out.append(f"{name}: no pairs; {r.note or 'every item skipped'}")
        elif r.n_pairs < FEW_PAIRS:
            out.append(f"{name}: few ({r.n_pairs} pairs, under {FEW_PAIRS}); read with care")
    return out


def figure4_row(results: Results, task: str) -> str | None:
    """A length sweep's pooled row as the paper's Figure 4 gives it: each dataset's mean Δ
    over noise of 1 to 4 s, and the mean of those dataset means; None for other tasks."""
    values = {
        name: r.long_noise_delta
        for name, r in results.results[task].items()
        if getattr(r, "long_noise_delta", None) is not None
    }
    if not values:
        return None
    mean = sum(values.values()) / len(values)
    parts = ", ".join(f"{name} {v:+.3f}" for name, v in values.items())
    return f"noise of 1-4 s pooled (Figure 4): Δ {parts}; mean of dataset means {mean:+.3f}"


def render(parts: list[Table | str], width: int | None = None) -> str:
    """Tables and lines as plain text, ``width`` columns wide at most (default: the
    terminal's, or 160 when there is none); lines are never wrapped."""
    buffer = io.StringIO()
    width = width or shutil.get_terminal_size((160, 24)).columns
    console = Console(file=buffer, width=width, color_system=None, highlight=False)
    for part in parts:
        console.print(part, soft_wrap=isinstance(part, str))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def results_text(results: Results, width: int | None = None) -> str:
    """Every task's table and footnotes as text (see :func:`render`)."""
    parts: list[Table | str] = []
    for task in results.results:
        parts += ["", task_table(results, task)]
        parts += [f"  {line}" for line in footnotes(results, task)]
        row = figure4_row(results, task)
        if row:
            parts.append(f"  {row}")
    return render(parts, width)
