from __future__ import annotations

from pathlib import Path

import pytest

from curvebench.benchmark.results import DatasetResult, ModelInfo, Results, RunConfig
from curvebench.cli import main
from curvebench.report.compare import compare


def fake_run(name: str, loss: float, auroc_shape: float, peak: float) -> Results:
    result = DatasetResult(
        role="training",
        n_pairs=3,
        n_originals=3,
        abs_loss_original=loss,
        abs_loss_perturbed=loss - 0.1,
        abs_loss_delta=-0.1,
        frac_loss_lowered=1.0,
        region_peak=peak,
        auroc_shape=auroc_shape,
    )
    return Results(
        curvebench_version="0",
        created="2026-01-01T00:00:00+00:00",
        model=ModelInfo(
            spec=name,
            name=name,
            fingerprint=name * 8,
            parameters=1,
            modality="symbolic",
            context_length=8,
        ),
        config=RunConfig(seed=0, devices=1, batch_size=1, limit=None, tasks={}, task_versions={}),
        datasets=[],
        results={"t": {"d": result}},
        skipped=[],
        samples_sha256="0",
        env={},
    )


RUNS = [fake_run("a", 1.0, 0.9, 0.5), fake_run("b", 2.0, 0.8, 0.4), fake_run("c", 3.0, 0.6, 0.6)]


def test_rankings_are_oriented_so_that_tau_compares_like_with_like() -> None:
    (c,) = compare(RUNS)
    # lower loss is better: a > b > c; auroc_shape agrees exactly, the peak does not
    assert c.taus[("abs_loss_original", "auroc_shape")] == pytest.approx(1.0)
    assert c.taus[("abs_loss_original", "region_peak")] == pytest.approx(-1 / 3)
    assert c.values["abs_loss_original"]["a (aaaaaaaa)"] == 1.0


def test_compare_command_prints_the_table(tmp_path, capsys) -> None:
    files = []
    for run in RUNS:
        path = tmp_path / f"{run.model.name}.json"
        path.write_text(run.model_dump_json())
        files.append(str(path))
    assert main(["compare", *files]) == 0
    out = capsys.readouterr().out
    assert "too few models (3 < 4)" in out and "  auroc spike: " not in out
    assert "no paired comparison: a run folder lacks its samples.jsonl.gz" in out
    four = tmp_path / "d.json"
    four.write_text(fake_run("d", 4.0, 0.5, 0.3).model_dump_json())
    assert main(["compare", *files, str(four)]) == 0
    out = capsys.readouterr().out
    assert "  auroc spike: +1.00" in out  # from 4 models on, the rankings' tau
    assert "  auroc spike: +1.00 [" not in out  # no interval stated: none drawn around τ
    assert "loss orig" in out and "  agree change" not in out  # undefined taus left out
    assert main(["compare", files[0]]) == 2


def test_tau_carries_an_interval_from_the_models_own_intervals(tmp_path, capsys) -> None:
    files = []
    for i, name in enumerate("abcd"):
        run = fake_run(name, 1.0 + i, 0.9 - 0.01 * i, 0.5)
        result = run.results["t"]["d"]
        for field, value in (("abs_loss_original", 1.0 + i), ("auroc_shape", 0.9 - 0.01 * i)):
            spread = 0.001 if field == "abs_loss_original" else 0.2  # AUROCs overlap widely
            setattr(result, f"{field}_ci", [value - spread, value + spread])
        path = tmp_path / f"{name}.json"
        path.write_text(run.model_dump_json())
        files.append(str(path))
    (c,) = compare([Results.model_validate_json(Path(f).read_text()) for f in files])
    low, high = c.tau_intervals[("abs_loss_original", "auroc_shape")]
    assert c.taus[("abs_loss_original", "auroc_shape")] == pytest.approx(1.0)
    assert low < 0 < high  # the AUROCs' order is not established
    assert main(["compare", *files]) == 0
    assert f"  auroc spike: +1.00 [{low:+.2f}, {high:+.2f}]" in capsys.readouterr().out
