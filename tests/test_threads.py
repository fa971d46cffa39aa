"""The run's CPU threads: ``--threads`` or the cores the load leaves free, restored after."""

from __future__ import annotations

import json

import pytest
import torch

from curvebench.api import RunOptions, run
from curvebench.errors import ConfigError
from curvebench.threads import default_threads, run_threads, torch_threads


@pytest.mark.parametrize(
    ("cores", "load", "expected"),
    [(2, 0.0, 2), (2, 0.6, 1), (2, 7.5, 1), (16, 3.2, 13), (4, -1.0, 4)],
)
def test_the_default_is_the_cores_the_load_leaves_free(cores, load, expected) -> None:
    assert default_threads(cores, load) == expected


def test_threads_apply_inside_the_block_and_are_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1) as used:
        assert used == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ConfigError, match="--threads 0: give 1 or more"):
        RunOptions(threads=0)


def test_several_cpu_processes_share_the_free_cores(monkeypatch) -> None:
    monkeypatch.setattr("curvebench.threads.default_threads", lambda: 4)
    assert run_threads(None, "cpu", 2) == 2  # two processes of two threads, not two of four
    assert run_threads(None, "cpu", 8) == 1
    assert run_threads(3, "cpu", 2) == 3  # asked for: kept
    assert run_threads(None, "gpu", 2) is None  # the machine's default
    assert run_threads(None, "cpu", 1) is None


def _small_run(model, folder, out, **options) -> None:
    """One piece of a MIDI folder through a model, no W&B."""
    spec = f"hf-causal:path={model}"
    run(RunOptions(model=spec, data=(f"ood={folder}",), limit=1, out=out, wandb=False, **options))


def test_a_run_records_its_threads(tiny_model, midi_folder, tmp_path) -> None:
    before = torch.get_num_threads()
    _small_run(tiny_model, midi_folder, tmp_path / "run", threads=1)
    env = json.loads((tmp_path / "run" / "results.json").read_text())["env"]
    assert env["torch_threads"] == "1"
    assert env["attention"] == "sdpa"  # the kernel the model ran, transformers' default here
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("progress", [True, False])
def test_each_long_step_of_a_run_shows_progress_unless_quiet(
    tiny_model, midi_folder, tmp_path, capsys, progress
) -> None:
    _small_run(tiny_model, midi_folder, tmp_path / "run", progress=progress, use_cache=False)
    err = capsys.readouterr().err
    for step in ("perturb+encode", "scoring"):
        assert (step in err) == progress, step
