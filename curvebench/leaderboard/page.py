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

from curvebench.leaderboard.entries import (
    ABSOLUTE,
    TASK,
    Entry,
    board_columns,
    board_headers,
    board_metrics,
    cell_text,
    finite,
    interval,
    params_text,
    role_rank,
    shape_metrics,
)
from curvebench.report.compare import compare, model_label
from curvebench.report.figures import delta_curve_figure

log = logging.getLogger(__name__)

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 80rem; padding: 0 1rem;
       color: #1d1d1f; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; vertical-align: top; }
th button { all: unset; cursor: pointer; font-weight: 600; }
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
  var tbody = document.querySelector("#board tbody");
  var rows = Array.prototype.slice.call(tbody.querySelectorAll("tr[data-index]"));
  var headers = document.querySelectorAll("#board th[data-key]");
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
  document.getElementById("role-filter").addEventListener("change", function (event) {
    var role = event.target.value;
    rows.forEach(function (tr) { tr.hidden = role !== "" && tr.dataset.role !== role; });
  });
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
noise at 5 s. Losses in nats/token; <code>abs_loss_delta</code> is perturbed − original (noise
often <em>lowers</em> it); <code>region_peak</code> is the mean loss difference in the peak right
after the noise starts; the AUROC and agreement columns say how well the absolute loss and the
curve shape tell originals from corrupted copies. A role's row pools its datasets. Click a column
to sort; open a model for its details.</p>
<label>Dataset role
<select id="role-filter"><option value="">all</option>$role_options</select></label>
<table id="board">
<thead><tr>$headers</tr></thead>
<tbody>
$rows
</tbody>
</table>
<section id="agreement">
<h2>Do absolute loss and curve shape rank the models alike?</h2>
<p>Kendall τ between the ranking by absolute loss on originals (lower is better) and each
curve-shape metric (higher is better): +1 same order, −1 reversed, – too few models.</p>
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


def _rows(entries: list[Entry]) -> tuple[str, list[dict]]:
    cells, data = [], []
    metrics = board_metrics()
    for e in entries:
        details = _details(e)
        for role, r in e.roles.items():
            row = {"model": e.results.model.spec, "params": e.results.model.parameters}
            row |= {"role": role} | {m.name: finite(getattr(r, m.name, None)) for m in metrics}
            tds = [f'<td class="model">{details}</td>']
            tds.append(f'<td class="num">{params_text(row["params"])}</td>')
            tds.append(f'<td class="role">{html.escape(role)}</td>')
            tds += [
                f'<td class="num">{html.escape(cell_text(m, row[m.name], interval(r, m)))}</td>'
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
    comparisons = sorted(compare(runs), key=lambda c: role_rank(c.dataset))
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
