"""A multi-device run shares every stage out: each piece is sampled, rendered, perturbed and
encoded once across its processes, and the results are a single process's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from curvebench.pipeline.ranks import Ranks
from curvebench.trace import VARIABLE
from tests.helpers import tiny_musicgen_model


def test_shares_cover_every_item_once_and_turn() -> None:
    items = list(range(11))
    shares = [Ranks(r, 3).share(items) for r in range(3)]
    assert sorted(i for share in shares for i in share) == items
    assert [s[0] for s in shares] == [0, 1, 2]
    # turned by one, rank 1 starts the list: one-chunk lists do not all land on rank 0
    assert [Ranks(r, 3).turned(1).share([7]) for r in range(3)] == [[], [7], []]
    assert Ranks(0, 1).gather({1: "a"}) == {1: "a"}


def _run(model: str, out, trace, devices: int) -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", VARIABLE: str(trace)}
    command = [
        sys.executable,
        "-m",
        "curvebench.cli",
        "run",
        "--model",
        model,
        "--task",
        "noise-at-5s",
        "--limit",
        "4",
        "--no-wandb",
        "--no-cache",
        "--accelerator",
        "cpu",
        "--devices",
        str(devices),
        "--threads",
        "2",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs FluidSynth")
def test_two_processes_sample_render_perturb_and_encode_each_item_once(tmp_path) -> None:
    model = f"musicgen:path={tiny_musicgen_model(tmp_path / 'mg', positions=1024)}"
    one = _run(model, tmp_path / "one", tmp_path / "one.jsonl", 1)
    two = _run(model, tmp_path / "two", tmp_path / "two.jsonl", 2)
    lines = {
        n: [json.loads(x) for x in (tmp_path / f"{n}.jsonl").read_text().splitlines()]
        for n in ("one", "two")
    }
    work = {n: Counter((x["stage"], x["item"]) for x in lines[n]) for n in lines}
    # every item once, on one process or two, and the same items
    assert set(work["two"].values()) == {1}
    assert work["two"] == work["one"]
    stages = Counter(stage for stage, _ in work["two"])
    assert stages["sample"] == 3  # one chunk of each top-k
    assert stages["render"] == 8  # 4 training and 4 ood pieces; the noise acts on the audio
    assert stages["perturb"] == 8 + 3 * 4  # one noisy copy of every piece
    assert stages["encode"] == 8 + 8 + 3 * 4 * 2  # originals and copies, generated included
    # both ranks did a share of each stage
    for stage in ("sample", "render", "encode"):
        ranks = Counter(x["rank"] for x in lines["two"] if x["stage"] == stage)
        assert set(ranks) == {0, 1} and min(ranks.values()) >= 1, (stage, ranks)
    # the audio path prepared on worker processes of each rank, and gave the same numbers
    workers = {x["pid"] for x in lines["one"] if x["stage"] == "render"}
    assert len(workers) == 2 and one["env"]["prepare_workers"] == "2"
    assert two["results"] == one["results"]
    assert two["samples_sha256"] == one["samples_sha256"]


def test_a_trace_file_that_cannot_be_written_warns_once_and_the_work_goes_on(
    tmp_path, monkeypatch, caplog
) -> None:
    from curvebench import trace

    monkeypatch.setenv(VARIABLE, str(tmp_path))  # a folder: cannot be opened for writing
    monkeypatch.setattr(trace, "_WARNED", False)
    trace.trace("render", "a")
    trace.trace("render", "b")
    assert sum("not tracing" in r.message for r in caplog.records) == 1
    monkeypatch.setenv(VARIABLE, str(tmp_path / "trace.jsonl"))
    trace.trace("encode", "c")
    line = json.loads((tmp_path / "trace.jsonl").read_text())
    assert (line["stage"], line["item"]) == ("encode", "c")
