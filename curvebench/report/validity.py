"""The validity table (which metric agrees with the truth, per perturbation family and dataset
role) as text for the CLI, as HTML for the run report, and as a figure."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from curvebench.metrics.clustered import Estimate
from curvebench.metrics.registry import label
from curvebench.metrics.validity import MetricValidity, ValidityRow, ValidityTable


def _rows(table: ValidityTable) -> list[ValidityRow]:
    return [*table.rows, *table.pooled]


def estimate_text(estimate: Estimate, missing: str = "-") -> str:
    """An estimate as ``value [low, high]`` (two decimals), or ``missing`` when undefined."""
    if estimate.value is None:
        return missing
    text = f"{estimate.value:.2f}"
    if estimate.ci_low is not None:
        text += f" [{estimate.ci_low:.2f}, {estimate.ci_high:.2f}]"
    return text


def _cell(metric: MetricValidity) -> str:
    value = metric.agreement.value
    if value is None:
        return "-"
    mark = {"agrees": "+", "contradicts": "!", "undecided": "?"}[metric.verdict]
    return f"{value:.2f}{mark}"


def validity_text(table: ValidityTable) -> list[str]:
    """The table as aligned text lines: agreement with the truth per metric (``+`` its 95%
    interval is above 0.5, ``!`` below: the metric ranks the corrupted copy as better, ``?``
    undecided) and the winner of each row."""
    names = [m.name for m in table.metrics]
    header = ("family", "role", "n", *(label(n) for n in names), "best")
    lines = [header]
    for row in _rows(table):
        cells = [_cell(m) for m in row.metrics]
        best = ",".join(label(w) for w in row.winner) or "-"
        lines.append((row.family, row.role, str(row.n_pairs), *cells, best))
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return [
        "  ".join(
            c.ljust(w) if i < 2 or i == len(header) - 1 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in lines
    ]


def validity_html(table: ValidityTable) -> str:
    """The table as HTML: agreement [95% interval] per metric, the winner in bold."""
    names = [m.name for m in table.metrics]
    head = "".join(f"<th>{escape(label(n))}</th>" for n in names)
    body = []
    for row in _rows(table):
        cells = []
        for m in row.metrics:
            cell = escape(estimate_text(m.agreement))
            cells.append(
                f"<td><b>{cell}</b></td>" if m.metric in row.winner else f"<td>{cell}</td>"
            )
        body.append(
            f"<tr><td>{escape(row.family)}</td><td>{escape(row.role)}</td>"
            f"<td>{row.n_pairs}</td>{''.join(cells)}</tr>"
        )
    return (
        f"<p>Truth: {escape(table.truth)}. Agreement = fraction of pairs whose perturbed "
        "copy the metric scores worse; 95% intervals resample original pieces with all their "
        "copies; below 0.5 the metric prefers the corrupted copy.</p>"
        f"<table><tr><th>family</th><th>role</th><th>n</th>{head}</tr>{''.join(body)}</table>"
    )


def validity_figure(table: ValidityTable, path: Path) -> Path:
    """Metrics × families (roles pooled), coloured by agreement with the truth (as the
    table beside it), each cell labelled with the agreement and its 95% interval."""
    names = [m.name for m in table.metrics]
    by_family = {r.family: r for r in _rows(table) if r.role == "all"}
    if not by_family:  # one role only: its rows
        by_family = {r.family: r for r in table.rows}
    families = list(by_family)
    grid = np.full((len(names), len(families)), np.nan)
    fig = Figure(figsize=(1.5 + 1.25 * len(families), 1.2 + 0.55 * len(names)))
    ax = fig.subplots()
    for j, family in enumerate(families):
        for i, m in enumerate(by_family[family].metrics):
            a = m.agreement
            if a.value is None:
                continue
            grid[i, j] = a.value
            text = f"{a.value:.2f}"
            if a.ci_low is not None:
                text += f"\n[{a.ci_low:.2f},{a.ci_high:.2f}]"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5)
    image = ax.imshow(grid, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), [label(n) for n in names], fontsize=8)
    fig.colorbar(image, ax=ax, label="agreement (perturbed copy scored worse)")
    ax.set_title("Which metric agrees with the truth (roles pooled)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
