"""``curvebench compare`` of two models on the same items: paired differences with intervals,
a permutation p and a verdict; runs that do not share items are named and not paired."""

from __future__ import annotations

import re

from curvebench.api import RunOptions, run
from curvebench.benchmark.results import Results
from curvebench.cli import main
from curvebench.report.paired import Run, differences, paired_rows

TASK = "noise-at-5s"


def test_compare_prints_paired_differences_with_intervals_and_verdicts(runs, capsys) -> None:
    assert main(["compare", str(runs["run0"]), str(runs["run1"])]) == 0
    out = capsys.readouterr().out
    assert "A = " in out and "B = " in out and "A − B [95%]" in out
    row = next(line for line in out.splitlines() if line.startswith("loss orig"))
    # A, B, A − B [low, high], p, verdict (n, pieces)
    assert re.search(r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]\s+\d\.\d{3}\s+", row), row
    assert re.search(r"(A better|B better|no difference) \(n=\d+, \d+ pieces\)", row), row
    assert "too few models (2 < 4)" in out


def test_the_paired_difference_is_the_difference_of_the_estimates(runs) -> None:
    a, b = (
        Results.model_validate_json((runs[k] / "results.json").read_text())
        for k in ("run0", "run1")
    )
    assert differences(a, b) == []
    ra, rb = Run.read(runs["run0"], a), Run.read(runs["run1"], b)
    dataset = next(d for d, r in a.results[TASK].items() if r.role == "ood")
    rows = {r.metric.name: r for r in paired_rows(ra, rb, TASK, dataset, n_boot=200)}
    loss = rows["abs_loss_original"].result
    ours = a.results[TASK][dataset].abs_loss_original - b.results[TASK][dataset].abs_loss_original
    assert abs(loss.diff - ours) < 1e-9 and loss.ci_low <= loss.diff <= loss.ci_high
    auroc = rows["auroc_abs_loss"].result
    assert abs(auroc.a - a.results[TASK][dataset].auroc_abs_loss) < 1e-9
    assert 0.0 < auroc.p_value <= 1.0


def test_runs_with_different_limits_are_not_paired(runs, tmp_path, capsys) -> None:
    root = runs["run1"].parent  # the fixture's data folders and models lie beside its runs
    data = tuple(f"{role}={root / role}" for role in ("training", "generated", "ood"))
    other = tmp_path / "limit1"
    options = RunOptions(
        model=f"hf-causal:path={root / 'model0'}", data=data, limit=1, out=other, wandb=False
    )
    run(options)
    assert main(["compare", str(runs["run1"]), str(other)]) == 0
    out = capsys.readouterr().out
    assert "do not share items (limit 2 vs 1" in out and "A − B" not in out
