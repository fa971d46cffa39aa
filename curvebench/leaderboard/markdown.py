"""The board as Markdown: README.md's tables (one row per model and role, then which metric
agrees with the truth per model), also spliced into another file between markers."""

from __future__ import annotations

from pathlib import Path

from curvebench.errors import ConfigError
from curvebench.leaderboard.entries import (
    TASK,
    Entry,
    board_headers,
    board_metrics,
    by_unit,
    cell_text,
    interval,
    md,
    params_text,
    validity_summary,
)
from curvebench.metrics.registry import label


def write_readme(
    entries: list[Entry], path: Path, broken: list[tuple[str, str]] | None = None
) -> Path:
    """README.md: the board as a Markdown table (and the entries left out, with why)."""
    lines = [
        "# curvebench leaderboard",
        "",
        f"Every entry is a run of the `board` protocol (`curvebench run --task board --model "
        f"SPEC`: fixed tasks, 24 pieces per dataset drawn by seeded stratified sampling, "
        f"pinned data, the model's own samples). Table: task `{TASK}`, a role's row pools its "
        "datasets; `nats_per_second_original` compares models with different tokenizers, "
        "losses per token do not; brackets: 95% intervals resampling original pieces with all "
        "their copies; n = pairs. Built by `curvebench leaderboard build`; how to submit: the "
        "repository README's *Submitting* section.",
        "",
        *board_tables(entries),
    ]
    if broken:
        lines += ["", "Left out (not valid submissions):", ""]
        lines += [f"- `{md(name)}`: {md(why)}" for name, why in broken]
    path.write_text("\n".join(lines) + "\n")
    return path


def board_tables(entries: list[Entry], heading: str = "##") -> list[str]:
    """The board's Markdown tables: the task's rows per model and role, then which metric
    agrees with the truth per model (the body of README.md, also spliced into other files)."""
    metrics, columns = board_metrics(), board_headers()
    lines: list[str] = []
    for unit, group in by_unit(entries):
        if lines:
            lines.append("")
        lines += [
            f"Models scored in {unit} (one table per unit; nats/s compares them all):",
            "",
            "| " + " | ".join(md(c) for c in columns) + " |",
            "|---|---:|---|" + "---:|" * len(metrics),
        ]
        for e in group:
            for role, r in e.roles.items():
                model = e.results.model
                cells = [md(model.spec), params_text(model.parameters), md(role)]
                cells += [cell_text(m, getattr(r, m.name, None), interval(r, m)) for m in metrics]
                lines.append("| " + " | ".join(cells) + " |")
        if not group:
            lines.append("| (no submissions yet) |" + " |" * (len(columns) - 1))
    return lines + _validity_summary(entries, heading)


BEGIN_MARK, END_MARK = "<!-- board:begin -->", "<!-- board:end -->"
"""The lines between which ``splice_tables`` writes the board's tables into another file."""


def splice_tables(entries: list[Entry], path: Path) -> Path:
    """Replace what lies between the board markers of ``path`` (a README) with the board's
    tables, so that a document quoting the board is regenerated from it, never edited by hand."""
    text = path.read_text()
    start, end = text.find(BEGIN_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        raise ConfigError(f"{path}: no '{BEGIN_MARK}' ... '{END_MARK}' lines for the board")
    body = "\n".join(board_tables(entries, heading="####"))
    path.write_text(text[: start + len(BEGIN_MARK)] + "\n" + body + "\n" + text[end:])
    return path


def _validity_summary(entries: list[Entry], heading: str) -> list[str]:
    """Per model: each metric's agreement with the truth over every task and role of its run
    (perturbed copy = worse music), and where it was re-scored."""
    names, rows = validity_summary(entries)
    if not rows:
        return []
    out = [
        "",
        f"{heading} Which metric agrees with the truth",
        "",
        "Agreement = fraction of pairs whose perturbed copy the metric scores worse, over every "
        "task and role of the protocol [95% interval]; below 0.5 a metric prefers the "
        "corruption. Verified: items re-scored by the maintainers with the model.",
        "",
        "| model | " + " | ".join(md(label(n)) for n in names) + " | best | verified |",
        "|---|" + "---:|" * len(names) + "---|---|",
    ]
    for row in rows:
        out.append(
            f"| {md(row.entry.results.model.spec)} | "
            + " | ".join(row.cells)
            + f" | {md(row.best)} | {md(row.verified)} |"
        )
    return out
