"""Re-scoring a submission's items with the model catches fabricated samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curvebench.benchmark.aggregate import analyse
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import read_samples, write_samples
from curvebench.cli import main
from curvebench.leaderboard.submission import SubmissionError, validate_submission
from curvebench.leaderboard.verify import verify
from curvebench.tasks import expand_tasks


def local(runs, name: str = "run0") -> dict:
    """Where the run's model and data folders are on this machine (the results say local:)."""
    root = runs[name].parent
    data = {role: str(root / role) for role in ("training", "generated", "ood")}
    return {"model": f"hf-causal:path={root / ('model' + name[-1])}", "data": data}


def test_honest_submission_rescores_within_tolerance(copy_run, runs, capsys) -> None:
    outcomes = verify(copy_run("run0"), rescore=4, progress=True, **local(runs))
    err = capsys.readouterr().err  # its progress bars: rebuilding the items, then scoring
    assert "rebuilding" in err and "scoring on 1" in err
    assert len(outcomes) == 8  # 4 copies, each with its original
    assert all(o.ok for o in outcomes), outcomes
    assert all(o.max_diff < 1e-4 for o in outcomes)


def forge(folder: Path) -> Path:
    """Make a run folder's submission self-consistent but fabricated: every loss halved, the
    aggregates, derived numbers and sha256 redone to match."""
    samples = folder / "samples.jsonl.gz"
    # a model that is "twice as good": every loss halved, all else redone
    lines = [
        line.model_copy(update={"loss": [round(v / 2, 5) for v in line.loss]})
        for line in read_samples(samples)
    ]
    results = Results.model_validate_json((folder / "results.json").read_text())
    analysis = analyse(lines, expand_tasks(list(results.config.tasks)))
    sha = write_samples(analysis.annotated(lines), samples)
    forged = results.model_copy(
        update={"results": analysis.results, "curves": analysis.curves, "samples_sha256": sha}
    )
    (folder / "results.json").write_text(forged.model_dump_json())
    return folder


def test_consistent_but_fabricated_samples_are_caught(copy_run, runs) -> None:
    folder = forge(copy_run("run0"))
    validate_submission(folder)  # internally consistent: the schema checks cannot tell
    outcomes = verify(folder, rescore=3, **local(runs))
    assert not any(o.ok for o in outcomes)
    assert all("losses differ" in o.reason for o in outcomes)


def test_verify_command_reports_agreement(copy_run, runs, capsys) -> None:
    folder = copy_run("run1")
    where = local(runs, "run1")
    data = [a for role, path in where["data"].items() for a in ("--data", f"{role}={path}")]
    args = ["leaderboard", "verify", str(folder), "--rescore", "2", "--model", where["model"]]
    assert main([*args, *data]) == 0
    assert "4 of 4 re-scored items agree" in capsys.readouterr().out


def test_the_verify_command_tells_a_disagreement_from_a_failure(copy_run, runs, capsys) -> None:
    """Exit 1: the losses disagree (a CI check fails); exit 2: nothing could be verified."""
    where = local(runs)
    data = [a for role, path in where["data"].items() for a in ("--data", f"{role}={path}")]
    folder = forge(copy_run("run0"))
    args = ["leaderboard", "verify", str(folder), "--rescore", "1", *data]
    assert main([*args, "--model", where["model"]]) == 1
    out = capsys.readouterr().out
    assert "BAD" in out and "0 of " in out and "disagree" in out
    assert main([*args, "--model", local(runs, "run1")["model"]]) == 2
    assert "fingerprint" in capsys.readouterr().err


def test_a_different_model_cannot_verify(copy_run, runs) -> None:
    folder = copy_run("run0")
    other = Results.model_validate_json((runs["run1"] / "results.json").read_text())
    data = json.loads((folder / "results.json").read_text())
    data["model"]["spec"] = other.model.spec
    (folder / "results.json").write_text(json.dumps(data))
    with pytest.raises(SubmissionError, match="fingerprint"):
        verify(folder, rescore=1, **local(runs, "run1"))


def test_an_audio_submission_is_accepted_and_verified(runs, tmp_path, monkeypatch) -> None:
    """An audio run (per-code losses, written to 1e-4 nats) passes every submission check and
    re-scores within the verifier's tolerance."""
    import numpy as np

    from curvebench.api import RunOptions, run
    from curvebench.benchmark.derived import CODE_DECIMALS
    from curvebench.leaderboard.verify import LOSS_TOLERANCE
    from tests.helpers import tiny_musicgen_model

    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "cache"))
    model = f"musicgen:path={tiny_musicgen_model(tmp_path / 'model', 4, 16, positions=1024)}"
    data = local(runs)["data"]
    folder = tmp_path / "audio-run"
    options = RunOptions(
        model=model,
        data=tuple(f"{role}={path}" for role, path in data.items()),
        limit=1,
        out=folder,
        wandb=False,
    )
    run(options)
    results = validate_submission(folder)
    assert results.model.modality == "audio"
    # the render is recorded for every dataset of MIDI it heard, and is the protocol's
    from curvebench.data.render import DEFAULT_RENDER
    from curvebench.leaderboard.protocol import ProtocolError, check_render
    from curvebench.tasks import load_group

    for info in results.datasets:
        (render,) = info.render
        assert (render.soundfont, render.sha256) == ("TimGM6mb.sf2", DEFAULT_RENDER.sha256)
        assert render.gain == 1.0 and render.rate == 32000 and render.fluidsynth[0].isdigit()
    pinned = load_group("board").protocol.render
    check_render(folder, results, pinned)
    elsewhere = results.model_copy(deep=True)
    elsewhere.datasets[0].render[0].sha256 = "0" * 64
    with pytest.raises(ProtocolError, match=r"rendered with sha256 '0000.*the protocol's is"):
        check_render(folder, elsewhere, pinned)
    lines = read_samples(folder / "samples.jsonl.gz")
    noisy = [x for x in lines if x.record is not None and x.record.kind == "noise"]
    assert noisy and all(x.record.snr_db is not None for x in noisy)  # measured on each copy
    for line in lines:
        codes = np.asarray(line.loss)
        assert codes.shape == (4, 750)
        np.testing.assert_array_equal(codes, np.round(codes, CODE_DECIMALS))
    outcomes = verify(folder, rescore=3, model=model, data=data)
    assert len(outcomes) == 6 and all(o.ok for o in outcomes), outcomes
    assert all(o.max_diff <= 0.5 * 10.0**-CODE_DECIMALS + 1e-6 < LOSS_TOLERANCE for o in outcomes)
