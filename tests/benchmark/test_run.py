"""A whole run on a tiny model and a folder of MIDI files, checked against its own samples."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from curvebench.api import RunOptions, run
from curvebench.benchmark.results import Results
from curvebench.cli import main
from curvebench.metrics.alignment import grid_delta
from curvebench.metrics.regions import region_means
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.report.text import figure4_row, results_text

FIELDS = (
    "n_pairs",
    "abs_loss_original",
    "abs_loss_perturbed",
    "abs_loss_delta",
    "frac_loss_lowered",
    "region_peak",
    "region_assimilation",
    "region_recovery",
    "auroc_abs_loss",
    "auroc_shape",
    "agree_abs_loss",
    "agree_shape",
    "auroc_abs_loss_ci",
    "agree_shape_ci",
    "perplexity_original",
    "nats_per_second_original",
    "shape_score_original",
    "shape_peak_height",
    "shape_area_positive",
    "shape_area_negative",
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, midi_folder, tiny_model):
    out = tmp_path_factory.mktemp("run")
    short = tmp_path_factory.mktemp("short")
    from tests.helpers import write_midi_folder

    write_midi_folder(short, 1, seconds=4.0)  # too short for the noise window
    output = run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}", f"ood={short}"),
            out=out,
            wandb=False,
        )
    )
    return output


def auroc(negatives: list[float], positives: list[float]) -> float:
    """Probability that a positive outranks a negative (ties half), by counting pairs."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def read_samples(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def test_results_file_has_the_design_fields(tiny_run) -> None:
    results = Results.model_validate_json(tiny_run.results_path.read_text())
    r = results.results["noise-at-5s"][tiny_run.results.datasets[0].name]
    for name in FIELDS:
        assert getattr(r, name) is not None, name
    assert r.n_pairs == 4 and r.role == "training"
    assert results.model.fingerprint and results.model.parameters > 0
    assert results.config.task_versions == {"noise-at-5s": 2}
    assert [d.role for d in results.datasets] == ["training", "ood"]
    assert results.samples_sha256 == hashlib.sha256(tiny_run.samples_path.read_bytes()).hexdigest()
    assert tiny_run.figures and tiny_run.figures[0].stat().st_size > 10_000


def test_short_piece_is_skipped_with_its_reason(tiny_run) -> None:
    skipped = tiny_run.results.skipped
    assert len(skipped) == 1
    assert "shorter than the noise window" in skipped[0].reason
    empty = [r for r in tiny_run.results.results["noise-at-5s"].values() if r.n_pairs == 0]
    assert len(empty) == 1 and "shorter than the noise window" in empty[0].note


def test_aggregates_follow_from_the_samples(tiny_run) -> None:
    samples = read_samples(tiny_run.samples_path)
    originals = {s["piece_id"]: s for s in samples if s["variant"] == "original"}
    perturbed = [s for s in samples if s["variant"] != "original"]
    assert len(originals) == len(perturbed) == 4
    for s in samples:
        assert len(s["loss"]) == len(s["seconds"]) == s["n_tokens"] - 1
        assert s["abs_loss"] == pytest.approx(np.mean(s["loss"]), abs=1e-5)
    r = next(iter(tiny_run.results.results["noise-at-5s"].values()))
    o = np.array([originals[p["piece_id"]]["abs_loss"] for p in perturbed])
    q = np.array([p["abs_loss"] for p in perturbed])
    assert r.abs_loss_original == pytest.approx(o.mean(), abs=1e-9)
    assert r.abs_loss_perturbed == pytest.approx(q.mean(), abs=1e-9)
    assert r.abs_loss_delta == pytest.approx((q - o).mean(), abs=1e-9)
    assert r.frac_loss_lowered == pytest.approx((q < o).mean())
    peaks = []
    for p in perturbed:
        orig = originals[p["piece_id"]]
        delta = grid_delta(
            np.array(orig["loss"]),
            np.array(orig["seconds"]),
            np.array(p["loss"]),
            np.array(p["seconds"]),
            750,
        )
        delta = nan_moving_average(delta, 25)  # symbolic sums read over 0.5 s (the task's)
        means = region_means(delta, 250, 100)
        expected = None if np.isnan(means["peak"]) else pytest.approx(means["peak"], abs=1e-5)
        assert p["regions"]["peak"] == expected  # a region with no valid step is stored as None
        peaks.append(means["peak"])
    assert r.region_peak == pytest.approx(np.nanmean(peaks), abs=1e-5)
    # agreement and AUROC, from the samples alone
    assert r.agree_abs_loss == pytest.approx(np.mean((q > o) + 0.5 * (q == o)))
    assert r.auroc_abs_loss == pytest.approx(auroc(list(o), list(q)))
    so = np.array([originals[p["piece_id"]]["shape_score"] for p in perturbed])
    sq = np.array([p["shape_score"] for p in perturbed])
    assert r.agree_shape == pytest.approx(np.mean((sq > so) + 0.5 * (sq == so)))
    assert r.auroc_shape == pytest.approx(auroc(list(so), list(sq)))
    assert r.auroc_abs_loss_ci[0] <= r.auroc_abs_loss <= r.auroc_abs_loss_ci[1]
    assert r.shape_score_perturbed == pytest.approx(sq.mean(), abs=1e-9)


def test_same_seed_gives_the_same_results(tiny_run, tiny_model, midi_folder, tmp_path) -> None:
    again = run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}",),
            out=tmp_path,
            wandb=False,
        )
    )
    first = tiny_run.results.results["noise-at-5s"]
    assert again.results.results["noise-at-5s"] == {
        k: v for k, v in first.items() if k in again.results.results["noise-at-5s"]
    }


def test_cli_run_prints_the_table_and_paths(tiny_model, midi_folder, tmp_path, capsys) -> None:
    code = main(
        [
            "run",
            "--task",
            "noise-at-5s",
            "--model",
            f"hf-causal:path={tiny_model}",
            "--data",
            f"ood={midi_folder}",
            "--limit",
            "2",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "loss orig" in out and "peak" in out and "ood" in out
    assert f"results:  {tmp_path / 'out' / 'results.json'}" in out
    assert "wandb:" in out and "offline-run" in out
    assert list((tmp_path / "out" / "wandb").glob("offline-run-*"))


def test_cli_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["run", "--task", "no-such-task", "--no-wandb", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("curvebench: error: unknown task 'no-such-task'")
    assert "Traceback" not in err


def test_length_sweep_reports_the_correlation(tiny_model, midi_folder, tmp_path) -> None:
    output = run(
        RunOptions(
            tasks=("noise-length-sweep",),
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}",),
            limit=3,
            out=tmp_path,
            wandb=False,
        )
    )
    (r,) = output.results.results["noise-length-sweep"].values()
    assert r.n_pairs == 3 * 6 and r.n_originals == 3
    samples = read_samples(output.samples_path)
    originals = {s["piece_id"]: s["abs_loss"] for s in samples if s["variant"] == "original"}
    pairs = [
        (s["record"]["duration_s"], s["abs_loss"] - originals[s["piece_id"]])
        for s in samples
        if s["variant"] != "original"
    ]
    x, y = np.array(pairs).T
    assert r.length_delta_pearson == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-6)
    from scipy.stats import spearmanr

    assert r.length_delta_spearman == pytest.approx(spearmanr(x, y).statistic, abs=1e-6)
    assert [f.name for f in output.figures] == [
        "noise-length-sweep-delta.png",
        "noise-length-sweep-abs-loss.png",
        "noise-length-sweep-regions.png",
        "noise-length-sweep-length.png",
        "validity.png",
    ]
    means = {}
    for d, v in pairs:
        means.setdefault(round(d, 3), []).append(v)
    lengths = sorted(means)
    per_length = [np.mean(means[d]) for d in lengths]
    assert r.length_delta_pearson_means == pytest.approx(
        np.corrcoef(lengths, per_length)[0, 1], abs=1e-6
    )
    # the pooled row of the paper's Figure 4: noise of 1 to 4 s (50-200 frames) only
    long = [v for d, v in pairs if 1.0 <= d <= 4.0]
    assert r.long_noise_pairs == len(long) == 3 * 4
    assert r.long_noise_delta == pytest.approx(np.mean(long), abs=1e-9)
    assert r.long_noise_frac_lowered == pytest.approx(np.mean(np.array(long) < 0))
    row = figure4_row(output.results, "noise-length-sweep")
    assert f"mean of dataset means {r.long_noise_delta:+.3f}" in row
    assert row in results_text(output.results)
    # nested draws: each piece's shorter noise is the start of its longest noise
    noise = {}
    for s in samples:
        if s["variant"] != "original":
            noise.setdefault(s["piece_id"], {})[s["record"]["duration_s"]] = s["record"]
    for records in noise.values():
        added = [records[d]["notes_added"] for d in sorted(records)]
        assert added == sorted(added) and added[-1] > added[0]


def test_colour_task_draws_the_colour_comparison(tiny_model, midi_folder, tmp_path) -> None:
    output = run(
        RunOptions(
            tasks=("noise-colors",),
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}",),
            limit=2,
            out=tmp_path,
            wandb=False,
        )
    )
    (r,) = output.results.results["noise-colors"].values()
    assert r.n_pairs == 2 * 12
    assert r.length_delta_pearson is None  # one duration only: not a sweep
    colours = tmp_path / "figures" / "noise-colors-colors.png"
    assert colours in output.figures and colours.stat().st_size > 10_000


@pytest.mark.slow
def test_paper_group_runs_every_task(tiny_model, midi_folder, tmp_path) -> None:
    output = run(
        RunOptions(
            tasks=("paper",),
            model=f"hf-causal:path={tiny_model}",
            data=(f"ood={midi_folder}",),
            limit=2,
            out=tmp_path,
            wandb=False,
        )
    )
    results = output.results.results
    assert set(results) == set(output.results.config.task_versions) and len(results) == 12
    for task, per_dataset in results.items():
        (r,) = per_dataset.values()
        assert r.n_pairs >= 2, task
        assert r.abs_loss_perturbed is not None and r.auroc_abs_loss is not None, task
        assert (r.region_peak is not None) == output.results.config.tasks[task].regions, task


def test_optional_smoothing_of_the_delta_curve(tiny_model, midi_folder, tmp_path) -> None:
    import yaml

    from curvebench.metrics.smoothing import nan_moving_average
    from curvebench.tasks import load_task

    task = load_task("noise-at-5s").model_copy(update={"smooth_steps": 5, "name": "smoothed"})
    path = tmp_path / "smoothed.yaml"
    path.write_text(yaml.safe_dump(task.model_dump(mode="json")))
    output = run(
        RunOptions(
            tasks=(str(path),),
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}",),
            limit=1,
            out=tmp_path / "out",
            wandb=False,
        )
    )
    original, perturbed = read_samples(output.samples_path)
    raw = grid_delta(
        np.array(original["loss"]),
        np.array(original["seconds"]),
        np.array(perturbed["loss"]),
        np.array(perturbed["seconds"]),
        750,
    )
    raw = nan_moving_average(raw, 25)  # the task's symbolic smoothing comes first
    expected = region_means(nan_moving_average(raw, 5), 250, 100)
    unsmoothed = region_means(raw, 250, 100)
    for name, value in expected.items():
        got = perturbed["regions"][name]
        assert got is None if np.isnan(value) else got == pytest.approx(value, abs=1e-5)
    assert perturbed["regions"]["assimilation"] is not None
    assert perturbed["regions"]["assimilation"] != pytest.approx(unsmoothed["assimilation"])
    assert perturbed["perplexity"] == pytest.approx(np.exp(perturbed["abs_loss"]), rel=1e-4)


def test_results_recompute_exactly_from_the_samples_file(tiny_run) -> None:
    from curvebench.benchmark.aggregate import analyse, with_empty_groups
    from curvebench.benchmark.samples import read_samples as read_lines
    from curvebench.tasks import expand_tasks

    tasks = expand_tasks(list(tiny_run.results.config.tasks))
    lines = read_lines(tiny_run.samples_path)
    analysis = analyse(lines, tasks)
    datasets = [(d.name, d.role) for d in tiny_run.results.datasets]
    expected = with_empty_groups(analysis.results, tasks, datasets, tiny_run.results.skipped)
    assert expected == tiny_run.results.results
    assert analysis.curves == tiny_run.results.curves
    assert analysis.annotated(lines) == lines  # every derived number computed once, as written
    assert lines == tiny_run.lines  # the lines in memory are the lines on disk


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["reference", "reference-tiny", "ngram:order=3"])
def test_each_embedded_model_runs_the_default_task(spec, midi_folder, tmp_path) -> None:
    output = run(
        RunOptions(model=spec, data=(f"ood={midi_folder}",), limit=2, out=tmp_path, wandb=False)
    )
    (r,) = output.results.results["noise-at-5s"].values()
    assert r.n_pairs == 2 and r.abs_loss_original > 0 and r.region_recovery is not None
    assert output.results.model.spec == spec


def test_losses_by_token_type_add_up_and_reach_the_results(tiny_run) -> None:
    from curvebench.metrics.token_types import loss_by_type

    for line in tiny_run.lines:
        assert line.types is not None and len(line.types) == len(line.loss)
        totals = loss_by_type(np.array(line.loss), line.types)
        assert sum(t for t, _ in totals.values()) == pytest.approx(sum(line.loss), abs=1e-9)
        assert {"Pitch", "Duration", "Position"} <= set(totals)
    r = next(iter(tiny_run.results.results["noise-at-5s"].values()))
    by_type = r.abs_loss_by_type_original
    assert by_type and all(v is None or v > 0 for v in by_type.values())
    pitch = [
        (t, n)
        for line in tiny_run.lines
        if line.is_original
        for t, n in [loss_by_type(np.array(line.loss), line.types)["Pitch"]]
    ]
    assert by_type["Pitch"] == pytest.approx(
        sum(t for t, _ in pitch) / sum(n for _, n in pitch), abs=1e-5
    )
    assert set(r.region_loss_by_type_perturbed) == {"peak", "assimilation", "recovery"}


def test_the_paper_region_rule_and_mean_alignment_are_task_options(
    tiny_model, midi_folder, tmp_path
) -> None:
    import yaml

    from curvebench.metrics.alignment import grid_delta
    from curvebench.metrics.regions import region_means
    from curvebench.tasks import load_task

    task = load_task("noise-at-5s").model_copy(
        update={"region_rule": "paper", "alignment": "mean", "name": "paper-rule"}
    )
    path = tmp_path / "paper-rule.yaml"
    path.write_text(yaml.safe_dump(task.model_dump(mode="json")))
    output = run(
        RunOptions(
            tasks=(str(path),),
            model=f"hf-causal:path={tiny_model}",
            data=(f"training={midi_folder}",),
            limit=1,
            out=tmp_path / "out",
            wandb=False,
        )
    )
    original, perturbed = output.lines
    delta = grid_delta(
        np.array(original.loss),
        np.array(original.seconds, dtype=float),
        np.array(perturbed.loss),
        np.array(perturbed.seconds, dtype=float),
        750,
        mode="mean",
    )
    expected = region_means(delta, 250, 100, rule="paper")
    for name, value in expected.items():
        got = perturbed.regions[name]
        assert got is None if np.isnan(value) else got == pytest.approx(value, abs=1e-5)
