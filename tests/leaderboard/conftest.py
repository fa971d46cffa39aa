"""Real run folders of tiny models (every dataset role present), made once for the package,
and helpers that copy and edit them."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from curvebench.api import RunOptions, run
from tests.helpers import synthetic_score, tiny_gpt2

HOSTILE_SPEC = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_NAME = "../../etc/<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _any_protocol(monkeypatch):
    """These tests build boards of quick runs on small folders: the board's protocol is
    checked in test_protocol.py, on protocol runs."""
    from curvebench.leaderboard import protocol

    monkeypatch.setattr(protocol, "ENFORCED", None)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run folders of three tiny GPT-2s (seeds 0, 1, 2) on training, generated and ood data."""
    root = tmp_path_factory.mktemp("leaderboard-runs")
    data = []
    for k, role in enumerate(("training", "generated", "ood")):
        (root / role).mkdir()
        for i in range(2):  # different music in each role
            score = synthetic_score(10 * k + i, seconds=18.0)
            (root / role / f"piece{i}.mid").write_bytes(score.dumps_midi())
        data.append(f"{role}={root / role}")
    out = {}
    with pytest.MonkeyPatch.context() as mp:  # session fixtures run before the autouse env
        mp.setenv("CURVEBENCH_CACHE", str(root / "cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        for seed in (0, 1, 2):
            model = tiny_gpt2(root / f"model{seed}", seed=seed)
            folder = root / f"run{seed}"
            options = RunOptions(
                model=f"hf-causal:path={model}", data=tuple(data), limit=2, out=folder, wandb=False
            )
            run(options)
            out[f"run{seed}"] = folder
    return out


@pytest.fixture
def copy_run(tmp_path: Path, runs: dict[str, Path]) -> Callable[[str], Path]:
    """A fresh copy of a run folder, to edit."""

    def copy(name: str = "run0") -> Path:
        return Path(shutil.copytree(runs[name], tmp_path / f"{name}-copy", dirs_exist_ok=True))

    return copy


def edit_results(folder: Path, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the parsed results.json of a run folder and write it back."""
    path = folder / "results.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def edit_samples(folder: Path, change: Callable[[list[dict]], None]) -> None:
    """Apply ``change`` to the lines of samples.jsonl.gz and write them back (hash not updated)."""
    path = folder / "samples.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        lines = [json.loads(line) for line in fh]
    change(lines)
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in lines)


def make_hostile(folder: Path) -> Path:
    """Give a run's model a name and spec that try path traversal and script injection."""

    def change(data: dict) -> None:
        data["model"]["spec"] = HOSTILE_SPEC
        data["model"]["name"] = HOSTILE_NAME

    edit_results(folder, change)
    return folder


@pytest.fixture(scope="session")
def board(tmp_path_factory: pytest.TempPathFactory, runs: dict[str, Path]) -> Path:
    """A built board of three submissions, the second with a hostile model name and spec."""
    from curvebench.leaderboard import protocol
    from curvebench.leaderboard.board import build_board
    from curvebench.leaderboard.submission import submit

    folder = tmp_path_factory.mktemp("board")
    hostile = make_hostile(Path(shutil.copytree(runs["run1"], folder.parent / "hostile-run")))
    with pytest.MonkeyPatch.context() as mp:  # quick runs, not protocol runs (see _any_protocol)
        mp.setattr(protocol, "ENFORCED", None)
        for run_dir in (runs["run0"], hostile, runs["run2"]):
            submit(run_dir, folder)
        build_board(folder)
    return folder
