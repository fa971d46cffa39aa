"""The static page of the board: one HTML template with inline CSS and JavaScript (no network).

The template's ``$name`` slots are filled by :func:`curvebench.leaderboard.board.write_page`,
with text that is already escaped. The script sorts the rows by a clicked column (again:
reverse) from the JSON in ``#board-data`` and hides the rows of other roles.
"""

from __future__ import annotations

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
