"""Model A against model B on the items both runs scored: for each headline metric, the
paired difference with a bootstrap interval and a permutation test clustered by piece, and a
verdict (:mod:`curvebench.metrics.paired`).

Two runs share items when they ran the same tasks on the same pieces: the same task versions
and configs, seed and limit, and datasets of the same name with the same content. When they
do not, :func:`differences` names what differs, and only the marginal numbers can be set side
by side. Per-step losses (per token, per code, per text token) are compared only between models
of the same unit; nats per second is the measure every model shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.table import Table

from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine, iter_samples
from curvebench.metrics.catalog import MetricInfo, headline_metrics
from curvebench.metrics.paired import PairedDifference, paired_auroc, paired_mean
from curvebench.metrics.registry import validity_metrics
from curvebench.report.compare import model_label
from curvebench.report.text import render

PER_STEP_UNITS = ("nats/token", "nats")
"""Catalog units of per-step losses and their differences (Δℓ): their meaning depends on the
model's unit (a token, a code, a text token)."""


@dataclass
class Run:
    """A run folder's results and its samples lines, by task and dataset."""

    folder: Path
    results: Results
    lines: dict[tuple[str, str], list[SampleLine]]

    @classmethod
    def read(cls, folder: Path, results: Results) -> Run:
        lines: dict[tuple[str, str], list[SampleLine]] = {}
        for line in iter_samples(folder / "samples.jsonl.gz"):
            lines.setdefault((line.task, line.dataset), []).append(line)
        return cls(folder, results, lines)


def differences(a: Results, b: Results) -> list[str]:
    """What keeps two runs from sharing items: one phrase per difference (empty when they
    share them)."""
    out = []
    protocol_a = (a.config.protocol, a.config.protocol_version)
    if protocol_a != (b.config.protocol, b.config.protocol_version):
        out.append(f"protocol {a.config.protocol} vs {b.config.protocol}")
    if a.config.limit != b.config.limit:
        out.append(f"limit {a.config.limit} vs {b.config.limit}")
    if a.config.seed != b.config.seed:
        out.append(f"seed {a.config.seed} vs {b.config.seed}")
    for name in sorted(set(a.config.tasks) & set(b.config.tasks)):
        if a.config.tasks[name] != b.config.tasks[name]:
            out.append(f"task {name} configured differently")
    pieces_a = {d.name: d.content_sha256 for d in a.datasets}
    for d in b.datasets:
        if d.name in pieces_a and pieces_a[d.name] != d.content_sha256:
            out.append(f"dataset {d.name} holds other pieces")
    return out


@dataclass(frozen=True)
class Row:
    """One metric of the comparison."""

    metric: MetricInfo
    result: PairedDifference | None
    """None when the metric cannot be compared (``why``)."""
    why: str = ""

    @property
    def verdict(self) -> str:
        if self.result is None:
            return self.why
        better = None if self.metric.better is None else self.metric.better == "higher"
        return self.result.verdict(better)


def _shared(a: list[SampleLine], b: list[SampleLine]):
    """The originals and copies both runs scored: (piece, original a, original b) and
    (piece, copy a, copy b, original a, original b)."""

    def index(lines: list[SampleLine]) -> dict[tuple[str, str], SampleLine]:
        return {(x.piece_id, x.variant): x for x in lines}

    ia, ib = index(a), index(b)
    originals = [(p, ia[(p, v)], ib[(p, v)]) for (p, v) in ia if v == "original" and (p, v) in ib]
    copies = [
        (p, ia[(p, v)], ib[(p, v)], ia[(p, "original")], ib[(p, "original")])
        for (p, v) in ia
        if v != "original" and (p, v) in ib and (p, "original") in ia and (p, "original") in ib
    ]
    return originals, copies


def _number(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _value(line: SampleLine, field: str) -> float:
    return _number(getattr(line, field))


def _region(line: SampleLine, name: str) -> float:
    value = (line.regions or {}).get(name)
    return np.nan if value is None else float(value)


def _mean_values(name: str, originals, copies, side: int) -> tuple[list[float], list[str]] | None:
    """The per-row values of a mean headline metric for one side (0: A, 1: B) and the rows'
    pieces; None for a metric that is not a mean over rows."""
    k = 1 + side
    pieces = [o[0] for o in originals]
    if name == "abs_loss_original":
        return [_number(o[k].abs_loss) for o in originals], pieces
    if name == "nats_per_second_original":
        return [_number(o[k].nats_per_second) for o in originals], pieces
    if name in ("abs_loss_delta", "frac_loss_lowered"):
        deltas = [_number(c[k].abs_loss) - _number(c[k + 2].abs_loss) for c in copies]
        values = deltas if name == "abs_loss_delta" else [float(d < 0) for d in deltas]
        return values, [c[0] for c in copies]
    if name.startswith("region_"):
        region = name.removeprefix("region_")
        return [_region(c[k], region) for c in copies], [c[0] for c in copies]
    return None


def paired_rows(
    a: Run, b: Run, task: str, dataset: str, n_boot: int = 1000, seed: int = 0
) -> list[Row]:
    """Every headline metric of one (task, dataset), B subtracted from A on the shared items."""
    originals, copies = _shared(a.lines.get((task, dataset), []), b.lines.get((task, dataset), []))
    same_unit = a.results.model.loss_unit == b.results.model.loss_unit
    aurocs = {m.auroc_field: m for m in validity_metrics()}
    rows = []
    for metric in headline_metrics():
        if metric.name == "n_pairs":
            continue
        if metric.unit in PER_STEP_UNITS and not same_unit:
            why = f"{a.results.model.loss_unit} vs {b.results.model.loss_unit}"
            rows.append(Row(metric, None, why))
            continue
        side_a = _mean_values(metric.name, originals, copies, 0)
        if side_a is not None:
            side_b = _mean_values(metric.name, originals, copies, 1)
            result = paired_mean(side_a[0], side_b[0], side_a[1], n_boot=n_boot, seed=seed)
            rows.append(Row(metric, result))
        elif metric.name in aurocs:
            result = _paired_auroc(aurocs[metric.name], originals, copies, n_boot, seed)
            rows.append(Row(metric, result))
    return rows


def _paired_auroc(m, originals, copies, n_boot: int, seed: int) -> PairedDifference:
    scores: tuple[list[float], list[float]] = ([], [])
    labels, clusters = [], []
    if m.per_item:
        for side in (0, 1):
            scores[side].extend(_value(o[1 + side], m.line_field) for o in originals)
            scores[side].extend(_value(c[1 + side], m.line_field) for c in copies)
        labels = [0] * len(originals) + [1] * len(copies)
        clusters = [o[0] for o in originals] + [c[0] for c in copies]
    else:
        for side in (0, 1):
            for c in copies:
                both = (c[1 + side].detectors or {}).get(m.name) or [None, None]
                scores[side].extend(np.nan if v is None else float(v) for v in both)
        labels = [0, 1] * len(copies)
        clusters = [c[0] for c in copies for _ in range(2)]
    return paired_auroc(
        scores[0],
        scores[1],
        labels,
        clusters,
        higher_is_worse=m.higher_is_worse,
        n_boot=n_boot,
        seed=seed,
    )


MIN_MODELS_FOR_TAU = 4
"""Below this many models a Kendall τ between two rankings says next to nothing (with 3 models
it can only be ±1 or ±⅓)."""


def _signed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def paired_table(a: Run, b: Run, task: str, dataset: str, n_boot: int = 1000) -> Table:
    """A's and B's estimates on the shared items, A − B with its interval, p and verdict."""
    table = Table(title=f"{task} / {dataset}", title_justify="left", box=None, pad_edge=False)
    for name in ("metric", "A", "B", "A − B [95%]", "p", "verdict"):
        table.add_column(name, justify="left" if name in ("metric", "verdict") else "right")
    for row in paired_rows(a, b, task, dataset, n_boot=n_boot):
        m, r = row.metric, row.result
        if r is None:
            table.add_row(m.header, "-", "-", "-", "-", f"not compared: {row.why}")
            continue
        interval = (
            "" if r.ci_low is None else f" [{r.ci_low:+.{m.digits}f}, {r.ci_high:+.{m.digits}f}]"
        )
        table.add_row(
            m.header,
            m.format(r.a),
            m.format(r.b),
            _signed(r.diff, m.digits) + interval,
            "-" if r.p_value is None else f"{r.p_value:.3f}",
            f"{row.verdict} (n={r.n}, {r.n_clusters} pieces)",
        )
    return table


def comparison_text(runs: list[Run], width: int | None = None) -> str:
    """The first run (A) against each other run (B): paired tables where they share items,
    otherwise a warning naming what differs."""
    a, parts = runs[0], []
    for b in runs[1:]:
        parts.append(f"\nA = {model_label(a.results)}\nB = {model_label(b.results)}")
        why = differences(a.results, b.results)
        shared = [k for k in a.lines if k in b.lines]
        if why or not shared:
            what = "; ".join(why) or "no task and dataset in common"
            parts.append(
                f"warning: these runs do not share items ({what}); only their own estimates "
                "(below) can be set side by side, not a paired difference"
            )
            continue
        parts += [paired_table(a, b, task, dataset) for task, dataset in shared]
    return render(parts, width)
