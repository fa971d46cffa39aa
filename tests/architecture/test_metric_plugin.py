"""A validity metric added as one module reaches every consumer: results, samples lines, the
submission check, the CLI table, the report, the board, W&B and ``compare``.

The metric is a module of its own outside the package, declared through the
``curvebench.metrics`` entry-point group of a distribution on the path, the way another
package ships one. Everything runs in a fresh interpreter, so the registry, the results schema
and the samples line are built with the metric in them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

METRIC = """
import numpy as np

from curvebench.metrics.registry import ValidityMetric, register

register(
    ValidityMetric(
        "dummy",
        "dummy",
        "largest loss of one step",
        lambda item: float(np.max(item.loss)) if item.loss.size else float("nan"),
        headline=True,
    )
)
"""

SCRIPT = """
import contextlib, gzip, io, json, sys
from pathlib import Path

from curvebench.benchmark.samples import SampleLine
from curvebench.cli import main
from curvebench.errors import CurvebenchError
from curvebench.leaderboard import protocol
from curvebench.leaderboard.submission import SubmissionError, validate_submission
from curvebench.metrics.registry import names
from tests.helpers import synthetic_score, tiny_gpt2

protocol.ENFORCED = None  # quick runs on small folders: the board's protocol is not the subject
root = Path(sys.argv[1])
assert "dummy" in names(), names()
assert "dummy_score" in SampleLine.model_fields

def cli(*argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return out.getvalue()

data = []
for k, role in enumerate(("training", "generated", "ood")):
    (root / role).mkdir()
    for i in range(2):
        score = synthetic_score(10 * k + i, seconds=18.0)
        (root / role / f"piece{i}.mid").write_bytes(score.dumps_midi())
    data += ["--data", f"{role}={root / role}"]
runs = []
for seed in (0, 1):
    model = tiny_gpt2(root / f"model{seed}", seed=seed)
    out = root / f"run{seed}"
    table = cli("run", "--model", f"hf-causal:path={model},name=tiny{seed}", *data,
                "--limit", "2", "--out", str(out))
    assert "auroc dummy" in table, table                                # the CLI table
    runs.append(out)

results = json.loads((runs[0] / "results.json").read_text())
for per_dataset in results["results"].values():                         # results
    for result in per_dataset.values():
        assert result["auroc_dummy"] is not None and "agree_dummy" in result, result
metrics = {m["metric"] for row in results["validity"]["pooled"] for m in row["metrics"]}
assert "dummy" in metrics, metrics                                        # the validity table
with gzip.open(runs[0] / "samples.jsonl.gz", "rt") as fh:                 # samples lines
    lines = [json.loads(line) for line in fh]
assert all(isinstance(line["dummy_score"], float) for line in lines)

validate_submission(runs[0])                                              # submission check
lines[0]["dummy_score"] += 1.0
forged = root / "forged"
forged.mkdir()
with gzip.open(forged / "samples.jsonl.gz", "wt") as fh:
    fh.writelines(json.dumps(line) + "\\n" for line in lines)
import hashlib
results["samples_sha256"] = hashlib.sha256((forged / "samples.jsonl.gz").read_bytes()).hexdigest()
(forged / "results.json").write_text(json.dumps(results))
try:
    validate_submission(forged)
except SubmissionError as exc:
    assert "dummy_score does not follow" in str(exc), exc
else:
    raise AssertionError("a forged dummy_score was accepted")

report = cli("report", str(runs[0])).split("report: ")[1].strip()       # the report
assert "auroc dummy" in Path(report).read_text()

board = root / "board"                                                    # the board
for out in runs:
    cli("leaderboard", "submit", str(out), "--board", str(board))
cli("leaderboard", "build", "--board", str(board))
assert "auroc dummy" in (board / "README.md").read_text()
assert "auroc dummy" in (board / "index.html").read_text()

logs = list(runs[0].glob("wandb/offline-run-*/*.wandb"))                  # W&B
assert logs and b"/auroc_dummy" in logs[0].read_bytes()

compared = cli("compare", str(runs[0]), str(runs[1]))                    # compare
assert "auroc dummy" in compared and "dummy" in compared.split("validity:")[1], compared
print("every consumer saw the metric")
"""


@pytest.mark.slow
def test_a_metric_added_as_one_module_reaches_every_consumer(tmp_path) -> None:
    plugin = tmp_path / "plugin"
    info = plugin / "dummy_metric-1.0.dist-info"
    info.mkdir(parents=True)
    (plugin / "dummy_metric.py").write_text(METRIC)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dummy-metric\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[curvebench.metrics]\ndummy = dummy_metric\n")
    work = tmp_path / "work"
    work.mkdir()
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(plugin), str(ROOT)]),
        "WANDB_MODE": "offline",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(work)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]
    assert "every consumer saw the metric" in done.stdout


def test_without_the_plugin_the_metric_is_absent() -> None:
    from curvebench.benchmark.samples import SampleLine
    from curvebench.metrics.catalog import METRICS
    from curvebench.metrics.registry import names

    assert "dummy" not in names()
    assert "dummy_score" not in SampleLine.model_fields and "auroc_dummy" not in METRICS


def test_no_module_outside_metrics_names_a_validity_metric() -> None:
    """Consumers read the registry: no string constant outside ``curvebench/metrics`` is a
    validity metric's name, its result fields or its samples field."""
    import ast

    import curvebench
    from curvebench.metrics.registry import validity_metrics

    words = set()
    for m in validity_metrics():
        words |= {m.name, m.auroc_field, m.agree_field, m.line_field}
    package = Path(curvebench.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] == "metrics":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in words:
                found.append(f"{path.relative_to(package)}:{node.lineno} {node.value!r}")
    assert found == []
