"""The board's entries: validated submissions, each role of ``noise-at-5s`` pooled and its
metrics recomputed from the samples of all its datasets, the columns the board shows and how a
value is written in them.

Every string that comes from a submission is escaped where it is written (:func:`md` for
Markdown, ``html.escape`` in :mod:`curvebench.leaderboard.page`).
"""

from __future__ import annotations

import html
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from curvebench.benchmark.aggregate import analyse
from curvebench.benchmark.results import DatasetResult, Results
from curvebench.benchmark.samples import SampleLine
from curvebench.data.piece import ROLES
from curvebench.leaderboard.submission import (
    SAMPLES_FILE,
    SubmissionError,
    read_samples,
    submissions,
    validate_submission,
    verification_record,
)
from curvebench.metrics.catalog import MetricInfo, headline_metrics, rank_metrics
from curvebench.metrics.registry import label
from curvebench.report.validity import estimate_text

log = logging.getLogger(__name__)


TASK = "noise-at-5s"


ABSOLUTE = "abs_loss_original"
SHARED_ABSOLUTE = "nats_per_second_original"
"""The absolute measure every model shares, whatever its loss unit (ranks models of several
units)."""
"""The absolute-loss ranking that the other ranking metrics are set against."""


def board_metrics() -> list[MetricInfo]:
    """The board's metric columns: the catalog's headline metrics."""
    return headline_metrics()


def board_columns() -> tuple[str, ...]:
    """Every column of the board's table (field names)."""
    return ("model", "params", "role", *(m.name for m in board_metrics()))


def board_headers() -> tuple[str, ...]:
    """The headers of those columns (the catalog's labels)."""
    return ("model", "params", "role", *(m.header for m in board_metrics()))


def shape_metrics() -> list[str]:
    """Curve-shape ranking metrics, set against absolute loss in the agreement panel."""
    return [m.name for m in rank_metrics() if m.shape]


@dataclass(frozen=True)
class Entry:
    """One submission on the board."""

    folder: Path
    results: Results
    tasks: dict[str, dict[str, DatasetResult]]
    """Task → role → metrics, each role's datasets pooled, for every task of the run (TASK
    first)."""

    @property
    def roles(self) -> dict[str, DatasetResult]:
        """Role → metrics of TASK, pooled."""
        return self.tasks[TASK]


def role_rank(role: str) -> tuple[int, str]:
    return (ROLES.index(role) if role in ROLES else len(ROLES), role)


def role_results(
    results: Results, lines: list[SampleLine], task_name: str = TASK
) -> dict[str, DatasetResult]:
    """Metrics of a task (TASK by default) per dataset role, in ROLES order; a role with
    several datasets is recomputed from their samples as one dataset."""
    names: dict[str, list[str]] = {}
    for name, result in results.results[task_name].items():
        names.setdefault(result.role, []).append(name)
    out = {role: results.results[task_name][n[0]] for role, n in names.items() if len(n) == 1}
    pooled = [
        line.model_copy(
            update={"dataset": line.role, "piece_id": f"{line.dataset}/{line.piece_id}"}
        )
        for line in lines
        if line.task == task_name and len(names[line.role]) > 1
    ]
    if pooled:
        task = results.config.tasks[task_name]
        out.update(analyse(pooled, [task]).results[task_name])
    for role, several in names.items():  # a role none of whose items was scored stays, n = 0
        if role not in out:
            out[role] = results.results[task_name][several[0]]
    return dict(sorted(out.items(), key=lambda kv: role_rank(kv[0])))


def load_entries(board_dir: Path) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Every valid submission of a board (each validated again: nothing unchecked gets on the
    board), and the folders left out with the reason (a broken or half-copied entry)."""
    entries, broken = [], []
    for folder in submissions(board_dir):
        try:
            results = validate_submission(folder)
            lines = read_samples(folder / SAMPLES_FILE)
        except SubmissionError as exc:
            log.warning("%s: left off the board: %s", folder.name, exc)
            broken.append((folder.name, str(exc).replace(str(folder), folder.name)))
            continue
        order = sorted(results.results, key=lambda name: (name != TASK, name))
        tasks = {name: role_results(results, lines, name) for name in order}
        entries.append(Entry(folder, results, tasks))
    return entries, broken


def verified_text(folder: Path) -> str:
    """When and how an entry was re-scored, from the board's own verification record
    (:func:`~curvebench.leaderboard.submission.verification_record`; a file inside the
    submission's folder is never read), or "no"."""
    try:
        record = json.loads(verification_record(folder).read_text())
        text = f"{int(record['agree'])} of {int(record['items'])} items agree"
        return f"{str(record['date'])[:10]}: {text}"
    except (OSError, ValueError, KeyError, TypeError):
        return "no"


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def cell_text(metric: MetricInfo, value: float | int | None, ci: list[float] | None = None) -> str:
    """A value as shown, with its 95% interval when it has one."""
    if finite(value) is None:
        return "–"
    text = metric.format(value)
    if ci and all(finite(v) is not None for v in ci):
        text += f" [{metric.format(ci[0]).lstrip('+')}, {metric.format(ci[1]).lstrip('+')}]"
    return text


def interval(result: DatasetResult, metric: MetricInfo) -> list[float] | None:
    return getattr(result, metric.ci_name, None) if metric.interval else None


def params_text(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def md(text: str) -> str:
    """A Markdown table cell showing ``text`` literally."""
    text = html.escape(" ".join(str(text).split()))
    for char in "\\`*_[]|":
        text = text.replace(char, "\\" + char)
    return text


def by_unit(entries: list[Entry]) -> list[tuple[str, list[Entry]]]:
    """The entries grouped by the unit of their per-step losses (a table each: units are never
    mixed in a column), units in order; one empty nats/token group when there is no entry."""
    groups: dict[str, list[Entry]] = {}
    for e in entries:
        groups.setdefault(e.results.model.loss_unit, []).append(e)
    return sorted(groups.items()) or [("nats/token", [])]


@dataclass(frozen=True)
class ValidityRow:
    """One model's line of the board's validity summary, as text."""

    entry: Entry
    cells: list[str]
    """Agreement [95% interval] of each metric of :func:`validity_summary`'s names."""
    best: str
    verified: str


def validity_summary(entries: list[Entry]) -> tuple[list[str], list[ValidityRow]]:
    """The metrics (registry names) and, per model, each one's agreement with the truth over
    every task and role of its run (perturbed copy = worse music), the winners and where it
    was re-scored; no rows when no entry has a validity table."""
    pooled = [
        (e, e.results.validity.pooled[-1])
        for e in entries
        if e.results.validity and e.results.validity.pooled
    ]
    names = list(dict.fromkeys(m.metric for _, row in pooled for m in row.metrics))
    rows = []
    for e, row in pooled:
        found = {m.metric: m for m in row.metrics}
        cells = [estimate_text(found[n].agreement, "–") if n in found else "–" for n in names]
        best = ", ".join(label(w) for w in row.winner) or "–"
        rows.append(ValidityRow(e, cells, best, verified_text(e.folder)))
    return names, rows
