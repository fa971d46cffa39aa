"""Scored sequences are cached on disk: a repeated run is free, a killed run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from curvebench.adapters.hf_causal import HFCausalAdapter
from curvebench.api import RunOptions, run
from curvebench.benchmark.score_cache import ScoreCache


def test_cache_round_trip_and_unreadable_entries(tmp_path) -> None:
    cache = ScoreCache(tmp_path, "f" * 64)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, np.array([1.0, 2.5]))
    assert cache.get("ab" * 32).tolist() == [1.0, 2.5]
    path = next(tmp_path.rglob("*.npy"))
    path.write_bytes(path.read_bytes()[:20])  # half an entry
    assert cache.get("ab" * 32) is None and not path.exists()
    assert not list(tmp_path.rglob("*.tmp"))


def test_repeated_run_is_served_from_the_cache(tiny_model, midi_folder, tmp_path, monkeypatch):
    options = RunOptions(
        model=f"hf-causal:path={tiny_model}",
        data=(f"ood={midi_folder}",),
        limit=3,
        out=tmp_path / "a",
        wandb=False,
        cache_dir=tmp_path / "cache",
    )
    first = run(options)
    assert first.cached == 0

    def refuse(self, ids, mask):
        raise AssertionError("scored again instead of read from the cache")

    monkeypatch.setattr(HFCausalAdapter, "loss", refuse)
    second = run(RunOptions(**{**options.__dict__, "out": tmp_path / "b"}))
    assert second.cached == 6  # 3 originals and 3 perturbed copies
    assert second.results.results == first.results.results
    assert (tmp_path / "b" / "samples.jsonl.gz").read_bytes() == first.samples_path.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", ["1", "16"])
def test_a_killed_run_resumes_to_identical_results(tiny_model, tmp_path, batch_size) -> None:
    """Bit-identical at any batch size: batches are laid out over every sequence, so a
    resumed run scores each one beside the same batch mates as an uninterrupted run."""
    from tests.helpers import write_midi_folder

    midi = write_midi_folder(tmp_path / "midi", 12)[0].parent
    cache = tmp_path / "cache"
    command = [
        sys.executable,
        "-m",
        "curvebench.cli",
        "run",
        "--task",
        "noise-length-sweep",
        "--model",
        f"hf-causal:path={tiny_model}",
        "--data",
        f"ood={midi}",
        "--batch-size",
        batch_size,
        "--no-wandb",
        "--cache-dir",
        str(cache),
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen(
        [*command, "--out", str(tmp_path / "killed")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.rglob("*.npy"))) < 5:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = len(list(cache.rglob("*.npy")))
    assert stored >= 5, "the run never got to scoring"
    assert not (tmp_path / "killed" / "results.json").exists()  # it was killed mid-way
    subprocess.run(
        [*command, "--out", str(tmp_path / "killed")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [*command, "--out", str(tmp_path / "clean"), "--no-cache"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    resumed = json.loads((tmp_path / "killed" / "results.json").read_text())
    clean = json.loads((tmp_path / "clean" / "results.json").read_text())
    assert resumed["results"] == clean["results"]
    assert resumed["samples_sha256"] == clean["samples_sha256"]
    assert (tmp_path / "killed" / "samples.jsonl.gz").read_bytes() == (
        tmp_path / "clean" / "samples.jsonl.gz"
    ).read_bytes()


def assert_close(a: object, b: object, tol: float) -> None:
    """Equal structure; numbers within ``tol``."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key], tol)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y, tol)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, abs=tol)
    else:
        assert a == b


@pytest.mark.slow
def test_two_cpu_processes_and_other_batch_sizes_give_the_same_results(
    tiny_model, midi_folder, tmp_path
) -> None:
    base = [
        sys.executable,
        "-m",
        "curvebench.cli",
        "run",
        "--model",
        f"hf-causal:path={tiny_model}",
        "--data",
        f"ood={midi_folder}",
        "--no-wandb",
        "--no-cache",
        "--accelerator",
        "cpu",
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    runs = {
        "one": ["--devices", "1"],
        "two": ["--devices", "2"],
        "batch1": ["--devices", "1", "--batch-size", "1"],
    }
    for name, extra in runs.items():
        subprocess.run(
            [*base, *extra, "--out", str(tmp_path / name)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )
    results = {n: json.loads((tmp_path / n / "results.json").read_text()) for n in runs}
    assert results["two"]["config"]["devices"] == 2
    # the same batches on 1 or 2 processes: identical to the last bit
    assert results["two"]["results"] == results["one"]["results"]
    assert results["two"]["samples_sha256"] == results["one"]["samples_sha256"]
    # another batch size pads differently, which moves float32 sums in the last digits only
    assert_close(results["batch1"]["results"], results["one"]["results"], tol=1e-4)
    assert not (tmp_path / "two" / ".scores").exists()  # the shared scratch space is cleaned


def test_copies_scored_from_the_originals_prefix_equal_scoring_from_scratch(
    midi_folder, tmp_path
) -> None:
    from curvebench.benchmark import scoring
    from tests.helpers import length_sweep_with_sharing_on_and_off, tiny_gpt2

    tiny_model = tiny_gpt2(tmp_path / "model", context=1024)  # whole pieces in one window

    shared, scratch, calls = length_sweep_with_sharing_on_and_off(
        HFCausalAdapter, f"hf-causal:path={tiny_model}", midi_folder, tmp_path
    )
    assert calls and all(p >= scoring.MIN_SHARED and n == 6 for p, n in calls)
    keys = (
        "abs_loss_original",
        "abs_loss_perturbed",
        "abs_loss_delta",
        "region_peak",
        "region_assimilation",
        "region_recovery",
        "nats_per_second_original",
    )
    for task, per in shared.results.results.items():
        for name, r in per.items():
            other = scratch.results.results[task][name]
            assert_close(
                {k: getattr(r, k) for k in keys}, {k: getattr(other, k) for k in keys}, tol=1e-4
            )
    import gzip

    with gzip.open(shared.samples_path, "rt") as a, gzip.open(scratch.samples_path, "rt") as b:
        for x, y in zip(a, b, strict=True):
            la, lb = json.loads(x)["loss"], json.loads(y)["loss"]
            assert len(la) == len(lb)
            assert np.abs(np.array(la) - np.array(lb)).max() < 1e-4


def test_an_entry_is_bound_to_its_key_and_owner_and_its_losses_bounded(tmp_path) -> None:
    """A forger with the package's own entry writer: a valid checksum no longer suffices."""
    from curvebench.cache import write_entry

    cache = ScoreCache(tmp_path, "f" * 64, {"stride": 8}, bound=50.0)
    a, b = "ab" * 32, "cd" * 32
    cache.put(a, np.array([1.0, 2.5]))
    cache.put(b, np.array([0.5, 0.25]))
    entry_a, entry_b = cache._path(a), cache._path(b)
    entry_b.write_bytes(entry_a.read_bytes())  # another key's entry in b's place
    assert cache.get(b) is None and not entry_b.exists()
    write_entry(entry_a, np.array([9e35, 1.0], np.float32), a, cache.owner)  # absurd losses
    assert cache.get(a) is None and not entry_a.exists()
    write_entry(entry_a, np.array([-3.0, 1.0], np.float32), a, cache.owner)  # negative
    assert cache.get(a) is None
    write_entry(entry_a, np.array([1.0, 2.0], np.float32), a, "another-model")  # another owner
    assert cache.get(a) is None
    write_entry(entry_a, np.array([1.0, 2.0], np.float32), a, cache.owner)
    assert cache.get(a).tolist() == [1.0, 2.0]  # the honest entry is read
    other = ScoreCache(tmp_path, "f" * 64, {"stride": 16})
    assert other.get(a) is None  # other settings: another folder and owner
    header = b"[" * 3000 + b"]" * 3000  # nested past the recursion limit, checksum valid
    payload = cache._path(a).read_bytes()[-96:]
    import hashlib

    from curvebench.cache import MAGIC

    forged = MAGIC + len(header).to_bytes(4, "big") + header
    forged += hashlib.sha256(header + payload).digest() + payload
    entry_a.write_bytes(forged)
    assert cache.get(a) is None


def test_a_forged_cache_entry_is_scored_again(tiny_model, midi_folder, tmp_path) -> None:
    """Every entry rewritten to 9e35 with a valid checksum (the issue's forgery): the rerun
    scores again and its results equal the honest run's."""
    from curvebench.cache import unpack, write_entry

    options = RunOptions(
        model=f"hf-causal:path={tiny_model}",
        data=(f"ood={midi_folder}",),
        limit=2,
        out=tmp_path / "a",
        wandb=False,
        cache_dir=tmp_path / "cache",
    )
    first = run(options)
    entries = list((tmp_path / "cache" / "scores").rglob("*.npy"))
    assert entries
    for path in entries:
        header, losses = unpack(path.read_bytes())
        write_entry(path, np.full_like(losses, 9e35), header["key"], header["owner"])
    again = run(RunOptions(**{**options.__dict__, "out": tmp_path / "b"}))
    assert again.cached == 0
    (r1,) = first.results.results["noise-at-5s"].values()
    (r2,) = again.results.results["noise-at-5s"].values()
    assert r2.abs_loss_perturbed == r1.abs_loss_perturbed < 100
