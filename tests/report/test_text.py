"""The run's tables as a user reads them: intervals beside every estimate, n on top, few pairs
marked, and a dataset whose items were all skipped kept with n = 0 and the reason."""

from __future__ import annotations

import json

import pytest

from curvebench.benchmark.results import Results
from curvebench.cli import main
from curvebench.leaderboard import protocol
from curvebench.leaderboard.submission import validate_submission
from curvebench.report.text import FEW_PAIRS, results_text
from tests.helpers import synthetic_score

TASK = "noise-at-5s"


@pytest.fixture(scope="module")
def run_with_an_empty_dataset(tmp_path_factory, tiny_model, midi_folder):
    """A run whose training folder holds only pieces too short for the noise window."""
    root = tmp_path_factory.mktemp("empty-dataset")
    short = root / "short"
    short.mkdir()
    for i in range(2):
        (short / f"tiny{i}.mid").write_bytes(synthetic_score(i, seconds=3.0).dumps_midi())
    out = root / "run"
    argv = ["run", "--model", f"hf-causal:path={tiny_model}", "--data", f"training={short}"]
    argv += ["--data", f"generated={midi_folder}", "--data", f"ood={midi_folder}"]
    argv += ["--limit", "3", "--out", str(out), "--no-wandb"]
    return argv, out


def test_an_all_skipped_dataset_keeps_its_row_with_the_reason(
    run_with_an_empty_dataset, capsys, monkeypatch
) -> None:
    argv, out = run_with_an_empty_dataset
    assert main(argv) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    (empty,) = [r for r in results["results"][TASK].values() if r["role"] == "training"]
    assert empty["n_pairs"] == 0 and empty["abs_loss_original"] is None
    assert "every item skipped (2 pieces)" in empty["note"] and "shorter" in empty["note"]
    assert "short" in printed and "short: no pairs; every item skipped (2 pieces)" in printed
    (ood,) = [r for r in results["results"][TASK].values() if r["role"] == "ood"]
    assert f"{ood['abs_loss_original']:.3f} [" in printed  # an estimate with its interval
    assert "(few)" in printed and f"under {FEW_PAIRS}" in printed  # 3 pieces: few pairs

    assert main(["report", str(out)]) == 0
    page = (out / "report" / "index.html").read_text()
    assert "short: no pairs; every item skipped (2 pieces)" in page

    monkeypatch.setattr(protocol, "ENFORCED", None)
    validate_submission(out)  # the empty group follows from the samples and the skips


def test_the_unit_follows_the_model(run_with_an_empty_dataset) -> None:
    _, out = run_with_an_empty_dataset
    results = Results.model_validate_json((out / "results.json").read_text())
    assert "losses in nats/token" in results_text(results)
    audio = results.model_copy(
        update={"model": results.model.model_copy(update={"modality": "audio"})}
    )
    assert "losses in nats/code" in results_text(audio)
