"""The board: README.md (a Markdown table) and index.html (a static page that needs no network)
built from a board's validated submissions.

One row per submission and dataset role of ``noise-at-5s``; a role with several datasets (the
generated role's top-k sets) is pooled, its metrics recomputed from the samples of all of them.
Every string that comes from a submission is escaped.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template

from curvebench.benchmark.aggregate import analyse
from curvebench.benchmark.results import DatasetResult, Results
from curvebench.benchmark.samples import SampleLine
from curvebench.data.piece import ROLES
from curvebench.errors import ConfigError
from curvebench.leaderboard.page import PAGE, SCRIPT, STYLE
from curvebench.leaderboard.submission import (
    SAMPLES_FILE,
    VERIFIED_FILE,
    SubmissionError,
    read_samples,
    submissions,
    validate_submission,
)
from curvebench.metrics.catalog import MetricInfo, headline_metrics, rank_metrics
from curvebench.report.compare import compare, model_label
from curvebench.report.figures import delta_curve_figure
from curvebench.report.validity import estimate_text
from curvebench.tasks import TaskConfig

log = logging.getLogger(__name__)

TASK = "noise-at-5s"
ABSOLUTE = "abs_loss_original"
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
    roles: dict[str, DatasetResult]
    """Role → metrics of TASK on that role's datasets, pooled."""


def _role_rank(role: str) -> tuple[int, str]:
    return (ROLES.index(role) if role in ROLES else len(ROLES), role)


def role_results(results: Results, lines: list[SampleLine]) -> dict[str, DatasetResult]:
    """Metrics of TASK per dataset role, in ROLES order; a role with several datasets is
    recomputed from their samples as one dataset."""
    names: dict[str, list[str]] = {}
    for name, result in results.results[TASK].items():
        names.setdefault(result.role, []).append(name)
    out = {role: results.results[TASK][n[0]] for role, n in names.items() if len(n) == 1}
    pooled = [
        line.model_copy(
            update={"dataset": line.role, "piece_id": f"{line.dataset}/{line.piece_id}"}
        )
        for line in lines
        if line.task == TASK and len(names[line.role]) > 1
    ]
    if pooled:
        task = TaskConfig.model_validate(results.config.tasks[TASK])
        out.update(analyse(pooled, [task]).results[TASK])
    return dict(sorted(out.items(), key=lambda kv: _role_rank(kv[0])))


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
        entries.append(Entry(folder, results, role_results(results, lines)))
    return entries, broken


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _cell(metric: MetricInfo, value: float | int | None, ci: list[float] | None = None) -> str:
    """A value as shown, with its 95% interval when it has one."""
    if _finite(value) is None:
        return "–"
    text = metric.format(value)
    if ci and all(_finite(v) is not None for v in ci):
        text += f" [{metric.format(ci[0]).lstrip('+')}, {metric.format(ci[1]).lstrip('+')}]"
    return text


def _interval(result: DatasetResult, metric: MetricInfo) -> list[float] | None:
    return getattr(result, metric.ci_name, None) if metric.interval else None


def _params(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _md(text: str) -> str:
    """A Markdown table cell showing ``text`` literally."""
    text = html.escape(" ".join(str(text).split()))
    for char in "\\`*_[]|":
        text = text.replace(char, "\\" + char)
    return text


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
        lines += [f"- `{_md(name)}`: {_md(why)}" for name, why in broken]
    path.write_text("\n".join(lines) + "\n")
    return path


def board_tables(entries: list[Entry], heading: str = "##") -> list[str]:
    """The board's Markdown tables: the task's rows per model and role, then which metric
    agrees with the truth per model (the body of README.md, also spliced into other files)."""
    metrics, columns = board_metrics(), board_headers()
    lines = [
        "| " + " | ".join(_md(c) for c in columns) + " |",
        "|---|---:|---|" + "---:|" * len(metrics),
    ]
    for e in entries:
        for role, r in e.roles.items():
            cells = [_md(e.results.model.spec), _params(e.results.model.parameters), _md(role)]
            cells += [_cell(m, getattr(r, m.name, None), _interval(r, m)) for m in metrics]
            lines.append("| " + " | ".join(cells) + " |")
    if not entries:
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
    pooled = [
        (e, e.results.validity["pooled"][-1])
        for e in entries
        if e.results.validity and e.results.validity["pooled"]
    ]
    if not pooled:
        return []
    names = [m["metric"] for m in pooled[0][1]["metrics"]]
    out = [
        "",
        f"{heading} Which metric agrees with the truth",
        "",
        "Agreement = fraction of pairs whose perturbed copy the metric scores worse, over every "
        "task and role of the protocol [95% interval]; below 0.5 a metric prefers the "
        "corruption. Verified: items re-scored by the maintainers with the model.",
        "",
        "| model | " + " | ".join(names) + " | best | verified |",
        "|---|" + "---:|" * len(names) + "---|---|",
    ]
    for e, row in pooled:
        cells = []
        for m in row["metrics"]:
            a = m["agreement"]
            text = estimate_text(a, missing="–")
            cells.append(text)
        best = ", ".join(row["winner"]) or "–"
        out.append(
            f"| {_md(e.results.model.spec)} | " + " | ".join(cells) + f" | {_md(best)} | "
            f"{_md(verified_text(e.folder))} |"
        )
    return out


def verified_text(folder: Path) -> str:
    """When and how a submission was re-scored (its VERIFIED_FILE), or "no"."""
    path = folder / VERIFIED_FILE
    try:
        record = json.loads(path.read_text())
        return f"{record['date']}: {record['agree']} of {record['items']} items agree"
    except (OSError, ValueError, KeyError, TypeError):
        return "no"


def _script_json(data: object) -> str:
    """JSON that cannot end a <script> element or open a comment in it."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _details(e: Entry) -> str:
    m, esc = e.results.model, html.escape
    facts = {
        "spec": m.spec,
        "adapter": m.name,
        "fingerprint": m.fingerprint,
        "parameters": f"{m.parameters:,}",
        "curvebench": e.results.curvebench_version,
        "date": e.results.created,
        "submission": e.folder.name,
    }
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts.items())
    return f"<details><summary>{esc(m.spec)}</summary><dl>{items}</dl></details>"


def _rows(entries: list[Entry]) -> tuple[str, list[dict]]:
    cells, data = [], []
    metrics = board_metrics()
    for e in entries:
        details = _details(e)
        for role, r in e.roles.items():
            row = {"model": e.results.model.spec, "params": e.results.model.parameters}
            row |= {"role": role} | {m.name: _finite(getattr(r, m.name, None)) for m in metrics}
            tds = [f'<td class="model">{details}</td>']
            tds.append(f'<td class="num">{_params(row["params"])}</td>')
            tds.append(f'<td class="role">{html.escape(role)}</td>')
            tds += [
                f'<td class="num">{html.escape(_cell(m, row[m.name], _interval(r, m)))}</td>'
                for m in metrics
            ]
            attrs = f'data-index="{len(data)}" data-role="{html.escape(role)}"'
            cells.append(f"<tr {attrs}>{''.join(tds)}</tr>")
            data.append(row)
    return "\n".join(cells), data


def _ranking(values: dict[str, float], direction: int) -> str:
    ordered = sorted(values, key=lambda k: -direction * values[k])
    return "<ol>" + "".join(f"<li>{html.escape(k)}</li>" for k in ordered) + "</ol>"


def _agreement(entries: list[Entry]) -> str:
    runs = [e.results.model_copy(update={"results": {TASK: e.roles}}) for e in entries]
    comparisons = sorted(compare(runs), key=lambda c: _role_rank(c.dataset))
    if not comparisons:
        return "<p>Rankings need at least two submissions.</p>"
    shapes = shape_metrics()
    ranked = [m for m in board_metrics() if m.shape and m.rank]
    head = "".join(f"<th>τ({ABSOLUTE}, {html.escape(m)})</th>" for m in shapes)
    head += "<th>by absolute loss (lowest first)</th>"
    head += "".join(f"<th>by {html.escape(m.header)} (highest first)</th>" for m in ranked)
    rows = []
    for c in comparisons:
        taus = [c.taus[(ABSOLUTE, m)] for m in shapes]
        cells = "".join(f'<td class="num">{"–" if t != t else f"{t:+.2f}"}</td>' for t in taus)
        rankings = f"<td>{_ranking(c.values[ABSOLUTE], -1)}</td>" + "".join(
            f"<td>{_ranking(c.values[m.name], 1)}</td>" for m in ranked
        )
        rows.append(
            f'<tr data-role="{html.escape(c.dataset)}"><td>{html.escape(c.dataset)}</td>'
            f"{cells}{rankings}</tr>"
        )
    return (
        '<table id="agreement-table"><thead><tr><th>role</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _figure(e: Entry) -> str:
    label = html.escape(model_label(e.results))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            png = delta_curve_figure(e.results, TASK, Path(tmp) / "delta.png").read_bytes()
        except ValueError as exc:  # e.g. a name that matplotlib's mathtext cannot parse
            log.warning("%s: no figure (%s)", e.folder, exc)
            return f"<figure><figcaption>{label}: no figure</figcaption></figure>"
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    alt = f"mean loss difference over time, {label}"
    return f'<figure><img src="{uri}" alt="{alt}"><figcaption>{label}</figcaption></figure>'


def write_page(entries: list[Entry], path: Path) -> Path:
    """index.html: sortable, filterable table, rank agreement and Figure 1 of each model."""
    rows, data = _rows(entries)
    columns = board_columns()
    roles = list(dict.fromkeys(r for e in entries for r in e.roles))
    page = Template(PAGE).substitute(
        style=STYLE,
        script=SCRIPT,
        task=TASK,
        headers="".join(
            f'<th data-key="{html.escape(c)}" aria-sort="none"><button type="button">'
            f"{html.escape(h)}</button></th>"
            for c, h in zip(columns, board_headers(), strict=True)
        ),
        rows=rows or f'<tr><td colspan="{len(columns)}">no submissions yet</td></tr>',
        role_options="".join(f"<option>{html.escape(r)}</option>" for r in roles),
        agreement=_agreement(entries),
        figures="\n".join(_figure(e) for e in entries),
        data=_script_json({"task": TASK, "columns": columns, "rows": data}),
    )
    path.write_text(page)
    return path


def build_board(board_dir: Path, quote_in: Path | None = None) -> tuple[Path, Path]:
    """Write ``board_dir/README.md`` and ``board_dir/index.html`` from its submissions, and
    the tables between the board markers of ``quote_in`` when given."""
    board_dir = Path(board_dir)
    if not board_dir.is_dir():
        raise ConfigError(f"{board_dir}: no such board folder; submit a run to it first")
    entries, broken = load_entries(board_dir)
    log.info("%s: %d submissions, %d left out", board_dir, len(entries), len(broken))
    readme = write_readme(entries, board_dir / "README.md", broken)
    if quote_in is not None:
        splice_tables(entries, Path(quote_in))
    return readme, write_page(entries, board_dir / "index.html")
