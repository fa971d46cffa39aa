"""The static page of the board: one HTML template with inline CSS and JavaScript (no network).

The template's ``$name`` slots are filled by :func:`write_page`, with text that is already
escaped. The script sorts the rows by a clicked column (again:
reverse) from the JSON in ``#board-data`` and hides the rows of other roles.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import tempfile
from pathlib import Path
from string import Template

from curvebench.benchmark.results import DatasetResult
from curvebench.leaderboard.entries import (
    ABSOLUTE,
    SHARED_ABSOLUTE,
    TASK,
    Entry,
    board_columns,
    board_headers,
    board_metrics,
    by_unit,
    finite,
    interval,
    params_text,
    role_rank,
    validity_summary,
)
from curvebench.metrics.catalog import METRICS, MetricInfo
from curvebench.metrics.registry import label
from curvebench.report.compare import compare, model_label
from curvebench.report.figures import delta_curve_figure
from curvebench.report.paired import MIN_MODELS_FOR_TAU
from curvebench.report.text import FEW_PAIRS

log = logging.getLogger(__name__)

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 84rem; padding: 0 1rem;
       color: #1d1d1f; }
table { border-collapse: collapse; margin: 1rem 0; }
table.board, table.validity { font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .45rem; vertical-align: top; }
th { text-align: right; } th:first-child, th.text { text-align: left; }
th button { all: unset; cursor: pointer; font-weight: 600; }
td .ci { display: block; color: #666; font-size: 11px; white-space: nowrap; }
td.model summary, td.model { white-space: nowrap; }
td.few { color: #a33; }
th[aria-sort="ascending"] button::after { content: " ▲"; }
th[aria-sort="descending"] button::after { content: " ▼"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.model { max-width: 22rem; overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content auto; gap: .1rem .8rem; font-size: 13px; }
dt { color: #666; } dd { margin: 0; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
figure { display: inline-block; margin: 0 1rem 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; overflow-wrap: anywhere; }
ol { margin: 0; padding-left: 1.2rem; }
"""

SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("board-data").textContent);
  document.querySelectorAll("table.board").forEach(function (table) { sortable(table); });

  function sortable(table) {
  var tbody = table.querySelector("tbody");
  var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr[data-index]"));
  var headers = table.querySelectorAll("th[data-key]");
  var sortKey = null;
  var ascending = true;

  function compareValues(a, b) {
    if (a === null || a === undefined) { return (b === null || b === undefined) ? 0 : 1; }
    if (b === null || b === undefined) { return -1; }
    var order = (typeof a === "number") ? a - b : String(a).localeCompare(String(b));
    return ascending ? order : -order;
  }

  function sortBy(key) {
    ascending = (key === sortKey) ? !ascending : true;
    sortKey = key;
    rows.sort(function (x, y) {
      return compareValues(data.rows[+x.dataset.index][key], data.rows[+y.dataset.index][key]);
    });
    rows.forEach(function (tr) { tbody.appendChild(tr); });
    headers.forEach(function (th) {
      var state = ascending ? "ascending" : "descending";
      th.setAttribute("aria-sort", th.dataset.key === key ? state : "none");
    });
  }

  headers.forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th.dataset.key); });
  });
  }

  function filter() {
    var role = document.getElementById("role-filter").value;
    var task = document.getElementById("task-filter").value;
    document.querySelectorAll("table.board tbody tr[data-index]").forEach(function (tr) {
      tr.hidden = (role !== "" && tr.dataset.role !== role) || tr.dataset.task !== task;
    });
    document.querySelectorAll("#validity tr[data-role]").forEach(function (tr) {
      tr.hidden = role !== "" && tr.dataset.role !== role;
    });
    document.getElementById("task-name").textContent = task;
  }
  document.getElementById("role-filter").addEventListener("change", filter);
  document.getElementById("task-filter").addEventListener("change", filter);
})();
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;
  style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>curvebench leaderboard</title>
<style>$style</style>
</head>
<body>
<h1>curvebench leaderboard</h1>
<p>Task <code>$task</code>: loss of each model on original music and on copies with 2 s of white
noise at 5 s. Δ is perturbed − original (noise often <em>lowers</em> it); peak, assim and recov
are the mean loss difference in the paper's regions after the noise starts; the AUROC columns
say how well the absolute loss and the curve shape tell originals from corrupted copies. Under
each estimate, its 95% interval (resampling pieces); n is the number of pairs, in red when under
$few. A role's row pools its datasets. Models whose losses are in different units (per token,
per code of an audio codec) are in separate tables; nats/s compares them all. Click a column to
sort; open a model for its details.</p>
<label>Task
<select id="task-filter">$task_options</select></label>
<label>Dataset role
<select id="role-filter"><option value="">all</option>$role_options</select></label>
<p>Showing task <code id="task-name">$task</code>; the other tasks of the protocol are in the
Task menu (their columns are the same; the region columns are empty for a task that acts on the
whole piece).</p>
$tables
<section id="validity-section">
<h2>Which metric agrees with the truth</h2>
<p>Agreement = fraction of pairs whose perturbed copy the metric scores worse, over every task
and role of the protocol [95% interval]; below 0.5 a metric prefers the corruption. Verified:
items re-scored by the maintainers with the model.</p>
$validity
</section>
<section id="agreement">
<h2>Do absolute loss and curve shape rank the models alike?</h2>
<p>Kendall τ between the ranking by absolute loss on originals (lower is better) and each
headline curve-shape metric (higher is better): +1 same order, −1 reversed; with fewer than four
models a τ says next to nothing and is not shown. Under each τ, its 95% interval: τ over
2,000 draws in which every model's value is drawn within its own interval (independently, so
the interval errs wide).</p>
$agreement
</section>
<section id="figures">
<h2>Mean loss difference over time (Figure 1), per model</h2>
$figures
</section>
<script type="application/json" id="board-data">$data</script>
<script>$script</script>
</body>
</html>
"""


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


def _cell(metric: MetricInfo, result: DatasetResult) -> str:
    """A metric's estimate, its 95% interval under it (escaped HTML)."""
    value = finite(getattr(result, metric.name, None))
    if metric.name == "n_pairs":
        few = value is not None and value < FEW_PAIRS
        return f'<td class="num{" few" if few else ""}">{"–" if value is None else value}</td>'
    text = "–" if value is None else metric.format(value)
    ci = interval(result, metric)
    if value is not None and ci and all(finite(v) is not None for v in ci):
        low, high = (metric.format(v).lstrip("+") for v in ci)
        text = f'{html.escape(text)} <span class="ci">[{low}, {high}]</span>'
    else:
        text = html.escape(text)
    return f'<td class="num">{text}</td>'


def _rows(entries: list[Entry], start: int = 0) -> tuple[str, list[dict]]:
    """The table rows of ``entries`` (row indexes from ``start``) and their sort data."""
    cells, data = [], []
    metrics = board_metrics()
    for e in entries:
        details = _details(e)
        for task, roles in e.tasks.items():
            for role, r in roles.items():
                row = {"model": e.results.model.spec, "params": e.results.model.parameters}
                row |= {"task": task, "role": role}
                row |= {m.name: finite(getattr(r, m.name, None)) for m in metrics}
                tds = [f'<td class="model">{details}</td>']
                tds.append(f'<td class="num">{params_text(row["params"])}</td>')
                tds.append(f'<td class="role">{html.escape(role)}</td>')
                tds += [_cell(m, r) for m in metrics]
                attrs = (
                    f'data-index="{start + len(data)}" data-role="{html.escape(role)}" '
                    f'data-task="{html.escape(task)}"{"" if task == TASK else " hidden"}'
                )
                cells.append(f"<tr {attrs}>{''.join(tds)}</tr>")
                data.append(row)
    return "\n".join(cells), data


def _tables(entries: list[Entry]) -> tuple[str, list[dict]]:
    """One sortable table per loss unit (the first has id ``board``), and every row's data."""
    columns = board_columns()
    text = ' class="text"'
    headers = "".join(
        f'<th data-key="{html.escape(c)}" aria-sort="none"'
        f'{text if c in ("model", "role") else ""}><button type="button">'
        f"{html.escape(h)}</button></th>"
        for c, h in zip(columns, board_headers(), strict=True)
    )
    parts, data = [], []
    for k, (unit, group) in enumerate(by_unit(entries)):
        rows, more = _rows(group, len(data))
        data += more
        rows = rows or f'<tr><td colspan="{len(columns)}">no submissions yet</td></tr>'
        table_id = "board" if k == 0 else f"board-{k + 1}"
        parts.append(
            f'<h2>Models scored in {html.escape(unit)}</h2><table id="{table_id}" class="board" '
            f'data-unit="{html.escape(unit)}"><thead><tr>{headers}</tr></thead>'
            f"<tbody>\n{rows}\n</tbody></table>"
        )
    return "\n".join(parts), data


def _validity(entries: list[Entry]) -> str:
    """Each model's agreement with the truth per metric, pooled over its run, and its
    verification record."""
    names, rows = validity_summary(entries)
    if not rows:
        return "<p>–</p>"
    head = "".join(f"<th>{html.escape(label(n))}</th>" for n in names)
    body = "".join(
        f'<tr><td class="model">{html.escape(row.entry.results.model.spec)}</td>'
        + "".join(f'<td class="num">{html.escape(c)}</td>' for c in row.cells)
        + f"<td>{html.escape(row.best)}</td><td>{html.escape(row.verified)}</td></tr>"
        for row in rows
    )
    return (
        '<table id="validity" class="validity"><thead><tr><th>model</th>'
        f"{head}<th>best</th><th>verified</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _ranking(values: dict[str, float], direction: int) -> str:
    ordered = sorted(values, key=lambda k: -direction * values[k])
    return " › ".join(html.escape(k) for k in ordered)


def _agreement(entries: list[Entry]) -> str:
    """Per role, the ranking of the models by absolute loss and by each headline curve-shape
    metric, with Kendall τ between the two (from MIN_MODELS_FOR_TAU models on)."""
    runs = [e.results.model_copy(update={"results": {TASK: e.roles}}) for e in entries]
    comparisons = sorted(compare(runs), key=lambda c: role_rank(c.dataset))
    if not comparisons:
        return "<p>Rankings need at least two submissions.</p>"
    ranked = [m for m in board_metrics() if m.shape and m.rank]
    one_unit = len({e.results.model.loss_unit for e in entries}) == 1
    absolute = METRICS[ABSOLUTE if one_unit else SHARED_ABSOLUTE]  # never rank across units
    rows = []
    for c in comparisons:
        n = len(c.values[absolute.name])
        role = html.escape(c.dataset)
        rows.append(
            f'<tr data-role="{role}"><td>{role}</td><td>{html.escape(absolute.header)} '
            f'(lowest first)</td><td class="num">–</td>'
            f"<td>{_ranking(c.values[absolute.name], -1)}</td></tr>"
        )
        for m in ranked:
            tau, (lo, hi) = c.between(absolute.name, m.name)
            shown = "too few models" if n < MIN_MODELS_FOR_TAU or tau != tau else f"{tau:+.2f}"
            if shown[0] in "+-" and lo is not None:
                shown += f' <span class="ci">[{lo:+.2f}, {hi:+.2f}]</span>'
            rows.append(
                f'<tr data-role="{role}"><td></td><td>{html.escape(m.header)} (highest first)'
                f'</td><td class="num">{shown}</td><td>{_ranking(c.values[m.name], 1)}</td></tr>'
            )
    return (
        '<table id="agreement-table"><thead><tr><th class="text">role</th>'
        f'<th class="text">ranking by</th><th>τ with {html.escape(absolute.header)}</th>'
        '<th class="text">models, '
        f"best first</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
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
    tables, data = _tables(entries)
    columns = board_columns()
    roles = list(dict.fromkeys(r for e in entries for r in e.roles))
    page = Template(PAGE).substitute(
        style=STYLE,
        script=SCRIPT,
        task=TASK,
        few=FEW_PAIRS,
        tables=tables,
        validity=_validity(entries),
        role_options="".join(f"<option>{html.escape(r)}</option>" for r in roles),
        task_options="".join(
            f"<option{' selected' if t == TASK else ''}>{html.escape(t)}</option>"
            for t in dict.fromkeys(t for e in entries for t in e.tasks)
        ),
        agreement=_agreement(entries),
        figures="\n".join(_figure(e) for e in entries),
        data=_script_json({"task": TASK, "columns": columns, "rows": data}),
    )
    path.write_text(page)
    return path
