"""The fuzz corpus (tests/fuzz/corpus.py) through ``run``, ``score`` and ``perturb``: every bad
file is one skip record or one line, never a traceback, and memory follows the work (the
3 GiB MIDI and the 6-hour WAV are refused unread)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.corpus import write_corpus

ROOT = Path(__file__).resolve().parents[2]
MAX_RSS_MB = 1536
"""The issue's bound on a run over the corpus (1.5 GB)."""

# a peak resident size measured from outside: a fresh parent whose only child is the command
# (the child's own ru_maxrss would carry over this test session's peak across exec)
MEASURE = (
    "import resource, subprocess, sys; "
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "sys.stderr.write(done.stderr); sys.stdout.write(done.stdout); "
    "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode)"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    return folder, write_corpus(folder)


def measured_run(args: list[str], cwd: Path) -> tuple[int, float, str, str]:
    """``curvebench ARGS`` in a child process: exit status, peak RSS (MB), stdout, stderr."""
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "curvebench.cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=900)
    peak_line = [line for line in done.stdout.splitlines() if line.startswith("PEAK ")][-1]
    _, peak, status = peak_line.split()
    return int(status), float(peak), done.stdout, done.stderr


def printable_names(what: dict[str, str]) -> dict[str, str]:
    """The corpus's file names as results.json writes them (``\\xNN`` for bytes and control
    characters)."""
    from curvebench.data.files import printable

    return {printable(name): about for name, about in what.items()}


def run_over_corpus(corpus, tmp_path: Path, model: str) -> tuple[dict, set[str], float]:
    folder, _ = corpus
    out = tmp_path / "out"
    status, peak, _, err = measured_run(
        ["run", "--data", str(folder), "--model", model, "--no-wandb", "--out", str(out)],
        tmp_path,
    )
    assert status == 0, err[-2000:]
    assert "Traceback" not in err
    assert peak < MAX_RSS_MB, f"peak RSS {peak:.0f} MB"
    results = json.loads((out / "results.json").read_text())
    with gzip.open(out / "samples.jsonl.gz", "rt") as fh:
        scored = {json.loads(line)["piece_id"] for line in fh}
    return results, scored, peak


def check_every_file_accounted(results: dict, scored: set[str], what: dict[str, str]) -> dict:
    """Every file of the corpus is scored or skipped with a one-line reason and a stage; the
    skip reasons by file name."""
    reasons: dict[str, str] = {}
    for s in results["skipped"]:
        assert s["reason"] and "\n" not in s["reason"] and "Traceback" not in s["reason"]
        assert s["stage"] in ("list", "read", "clip", "render", "perturb", "encode"), s
        for name in what:
            if s["piece"] == name or s["piece"].startswith(f"{name}/"):
                reasons.setdefault(name, s["reason"])
    for name, about in what.items():
        if name == "folder.mid":  # a folder: its (empty) contents are read, not the name
            continue
        assert name in scored or name in reasons, f"{name} ({about}) neither scored nor skipped"
    return reasons


@pytest.mark.slow
def test_a_symbolic_run_over_the_fuzz_corpus_skips_each_bad_file(corpus, tmp_path) -> None:
    results, scored, _ = run_over_corpus(corpus, tmp_path, "reference")
    what = printable_names(corpus[1])
    reasons = check_every_file_accounted(results, scored, what)
    assert {"good.mid", "bad-name-\\xff\\xfe.mid", "new\\x0aline.mid"} <= scored
    assert "--max-notes" in reasons["million-notes.mid"]
    assert "--max-file-mb" in reasons["oversized.mid"]
    assert "tempo of 0" in reasons["tempo0.mid"]
    assert "ticks per quarter" in reasons["tpq0.mid"]
    assert "reads notes" in reasons["six-hours.wav"]  # never decoded
    assert "link" in reasons["dangling.mid"] and "loop" in reasons["loop-a.mid"]
    assert "named .mid" in reasons["wav-named.mid"]


@pytest.mark.slow
def test_an_audio_run_over_the_fuzz_corpus_skips_each_bad_file(corpus, tmp_path) -> None:
    results, scored, _ = run_over_corpus(corpus, tmp_path, "audio-reference")
    what = printable_names(corpus[1])
    reasons = check_every_file_accounted(results, scored, what)
    assert {"good.mid", "good-tiny-denormal.wav"} <= scored
    assert "--max-seconds" in reasons["six-hours.wav"]
    assert "NaN or infinite" in reasons["nan.wav"] and "NaN or infinite" in reasons["inf.wav"]
    assert "no samples" in reasons["zero-samples.wav"]
    assert "sample rate" in reasons["rate-1ghz.wav"]  # its resampling filter would not fit
    assert "rendered past" in reasons["tempo-1us.mid"]  # FluidSynth is stopped, not waited on


@pytest.mark.slow
def test_score_and_perturb_give_one_line_on_every_file(corpus, tmp_path) -> None:
    folder, what = corpus
    # the environment a user's shell gives, not what earlier tests left in this process
    keep = ("PATH", "HOME", "LANG", "CURVEBENCH_SOUNDFONT", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env |= {"PYTHONPATH": str(ROOT), "CURVEBENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.drive", str(folder), str(tmp_path / "copies")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *calls, last = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(calls) >= 3 * len(what)
    for c in calls:
        lines = [x for x in c["stderr"].splitlines() if x.strip()]
        assert c["status"] in (0, 2), (c["command"], c["file"], c["stderr"][-1500:])
        assert "Traceback" not in c["stderr"], (c["command"], c["file"])
        if c["status"] == 2:
            assert len(lines) == 1 and lines[0].startswith("curvebench: error: "), c
    ok = {(c["command"], c["file"]) for c in calls if c["status"] == 0}
    assert ("score", "good.mid") in ok and ("perturb-notes", "good.mid") in ok
    assert ("score-audio", "good-tiny-denormal.wav") in ok
    refused = {(c["command"], c["file"]): c["stderr"] for c in calls if c["status"] == 2}
    assert "--max-seconds" in refused[("perturb", "six-hours.wav")]
    assert "--max-file-mb" in refused[("score", "oversized.mid")]
    assert "--max-seconds" in refused[("score", "huge-delta.mid")]  # 77 hours of empty bars
    peaks = [0.0] + [c["peak_mb"] for c in calls]
    rises = [
        (round(b - a), c["command"], c["file"])
        for a, b, c in zip(peaks, peaks[1:], calls, strict=False)
        if b - a > 100
    ]
    assert last["peak_mb"] < MAX_RSS_MB, rises  # the calls that raised the peak, and by how much
